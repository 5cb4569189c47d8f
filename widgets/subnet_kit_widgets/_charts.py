"""The views' charts, data first and figure second: rows computed from library objects (`subnet_kit.pareto.chart_data`
and `axes` for the Pareto chart, ``Search.hv_curve`` for the hypervolume, the arch and the model's dimensions for the
per-layer bars), then an Altair chart over one named inline data set, so a live chart can replace the rows alone.
"""

from __future__ import annotations

from typing import Any, Sequence

from subnet_kit.pareto import KINDS, axes, chart_data
from subnet_kit.space import Arch

__all__ = ["SELECTION", "POINTS_MARK", "LIVE_TITLE", "pareto_rows", "pareto_live_chart", "hv_rows", "hv_live_chart",
           "arch_rows", "arch_chart"]

SELECTION = "pick"  # name of the point selection in the Pareto chart (JupyterChart.selections.pick)
POINTS_MARK = "pareto_points"  # the Pareto chart's point layer: Vega names its SVG group "pareto_points_marks"
LIVE_TITLE = "every evaluation (colour: order) and the Pareto front"
ROW_FIELDS = ("eval", "x", "y", "front", "feasible", "kind", "label")  # the Pareto chart's columns


def pareto_rows(result: Any, x: str | None = None, y: str | None = None) -> list[dict[str, Any]]:
    """Rows of the live Pareto chart: `subnet_kit.pareto.chart_data` (its axes and point ``kind``) with generic
    ``x`` / ``y`` columns, so that the chart's spec does not depend on the objectives."""
    if result is None or len(result.history) == 0:
        return []
    x, y = axes(result.objectives, x, y)
    df = chart_data(result.history, result.objectives, result.pareto_mask(), x, y)
    return [{"eval": int(e), "x": float(a), "y": float(b), "front": bool(f), "feasible": bool(ok), "kind": str(k),
             "label": str(lab)}
            for e, a, b, f, ok, k, lab in zip(df["eval"], df[x], df[y], df["front"], df["feasible"], df["kind"],
                                             df["label"])]


def pareto_live_chart(rows: list[dict[str, Any]], x_title: str, y_title: str, title: str = "") -> Any:
    """Every evaluation coloured by its index (viridis: early dark, late bright), the front drawn large and
    opaque with a step line through it, dominated points faded, infeasible points as crosses; a click selects a
    point (selection ``pick`` on the field ``eval``)."""
    import altair as alt

    data = alt.InlineData(values=rows, name="points")
    pick = alt.selection_point(name=SELECTION, fields=["eval"], on="click", clear="dblclick")
    x = alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False))
    y = alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False))
    line = alt.Chart(data).transform_filter(alt.datum.front).mark_line(
        interpolate="step-after", color="#333333", strokeWidth=1.5).encode(x=x, y=y)
    legend = alt.Legend(labelExpr="datum.label == 'front' ? 'Pareto front' : datum.label")
    points = alt.Chart(data).mark_point(filled=True).encode(
        x=x, y=y,
        color=alt.Color("eval:Q", scale=alt.Scale(scheme="viridis"), title="evaluation"),
        opacity=alt.condition(alt.datum.front, alt.value(1.0), alt.value(0.35)),
        size=alt.condition(alt.datum.front, alt.value(110), alt.value(45)),
        shape=alt.Shape("kind:N", title=None, legend=legend,
                        scale=alt.Scale(domain=list(KINDS), range=["circle", "circle", "cross"])),
        stroke=alt.condition(pick, alt.value("#d62728"), alt.value(None), empty=False),
        strokeWidth=alt.condition(pick, alt.value(3), alt.value(0), empty=False),
        tooltip=[alt.Tooltip("eval:Q", title="evaluation"), alt.Tooltip("label:N", title="arch"),
                 alt.Tooltip("x:Q", title=x_title, format=".4g"), alt.Tooltip("y:Q", title=y_title, format=".4g"),
                 alt.Tooltip("kind:N", title="")],
    ).add_params(pick).properties(name=POINTS_MARK)
    n, front = len(rows), sum(r["front"] for r in rows)
    return alt.layer(line, points).properties(  # pad + resize: axes re-laid out as live points change the ticks
        autosize=alt.AutoSizeParams(type="pad", resize=True), width=420, height=300,
        title=title or f"{n} evaluations, {front} on the Pareto front")


def hv_rows(curve: Sequence[float]) -> list[dict[str, Any]]:
    """Rows of the hypervolume chart from ``Search.hv_curve`` (one value per evaluation)."""
    return [{"evaluations": i + 1, "hypervolume": float(v)} for i, v in enumerate(curve)]


def hv_live_chart(rows: list[dict[str, Any]]) -> Any:
    """Hypervolume after each evaluation (in the search's fixed box, so it never falls)."""
    import altair as alt

    data = alt.InlineData(values=rows, name="hv")
    return alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=16), interpolate="step-after").encode(
        x=alt.X("evaluations:Q", title="evaluations"),
        y=alt.Y("hypervolume:Q", title="hypervolume (normalised)", scale=alt.Scale(domain=[0, 1])),
        tooltip=["evaluations:Q", alt.Tooltip("hypervolume:Q", format=".4f")],
    ).properties(autosize=alt.AutoSizeParams(type="pad", resize=True), width=260, height=300,
                 title="hypervolume per evaluation")


def arch_rows(arch: Arch | None, dims: Any) -> list[dict[str, Any]]:
    """One row per (layer, kind) of the super-network: ``layer``, ``kind`` (heads / FFN units), ``kept``, ``full``."""
    rows = []
    for i in range(dims.layers):
        kept = arch is not None and i < arch.layers
        rows.append({"layer": i, "kind": "heads", "kept": arch.heads[i] if kept else 0, "full": dims.heads})
        rows.append({"layer": i, "kind": "FFN units", "kept": arch.ffn[i] if kept else 0, "full": dims.ffn})
    return rows


def arch_chart(rows: list[dict[str, Any]], title: str = "") -> Any:
    """Horizontal bars per layer: the super-network's width in grey, the kept part in colour; heads and FFN units
    side by side (independent x scales)."""
    import altair as alt

    data = alt.InlineData(values=rows, name="arch")

    def panel(kind: str, color: str) -> Any:
        base = alt.Chart(data).transform_filter(alt.datum.kind == kind)
        y = alt.Y("layer:O", title="layer", sort="ascending")
        full = base.mark_bar(color="#e6e6e6").encode(y=y, x=alt.X("full:Q", title=kind))
        kept = base.mark_bar(color=color).encode(
            y=y, x=alt.X("kept:Q", title=kind),
            tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("kept:Q", title=f"{kind} kept"),
                     alt.Tooltip("full:Q", title="of")])
        return alt.layer(full, kept).properties(width=200, height=alt.Step(16))

    return alt.hconcat(panel("heads", "#4c78a8"), panel("FFN units", "#f58518")).properties(
        title=title or " ").resolve_scale(x="independent")

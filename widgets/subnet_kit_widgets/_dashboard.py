"""`SearchDashboard`: run a `subnet_kit.search.Search` and watch it — controls, progress, a live Pareto chart, the
hypervolume per evaluation, and the architecture of a point picked in the chart.

The dashboard holds no search logic: it builds a `Search` from its settings, calls ``search.step()`` (one
evaluation) in a loop and, after each, redraws from ``search.result()``: `subnet_kit.pareto.chart_data` for the
Pareto chart, ``Result.hypervolume`` in the fixed box ``search.hv_box()`` for the hypervolume chart. Two ways to run:

* `SearchDashboard.run` blocks until the search is done (papermill, scripts; the same seed gives the same history).
  The charts still update live in a connected front end (kernel-to-browser messages flow while a cell runs), but
  the Stop button cannot be heard until the cell ends.
* `SearchDashboard.start` runs the same loop as an asyncio task on the kernel's event loop, yielding between
  evaluations, so the notebook stays responsive and Stop works; ``await dash.wait()`` waits for it.

Headless (no widget front end), the dashboard's output holds a static SVG of the Pareto chart and the Pareto table;
`run` (and the end of a `start`ed search) refresh that output, so a papermill-executed notebook shows the final
chart and table.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as W
import numpy as np
import traitlets as T

from subnet_kit.pareto import chart_data
from subnet_kit.search import Callback, Result, Search
from subnet_kit.space import Arch, SearchSpace
from subnet_kit.strategies import STRATEGIES

from ._arch import ArchView
from ._common import LiveChart, StaticRepr, box, chart_svg, esc, html_table, message_html
from ._objectives import ObjectivePicker

SELECTION = "pick"  # name of the point selection in the Pareto chart (JupyterChart.selections.pick)
POINTS_MARK = "pareto_points"  # the Pareto chart's point layer: Vega names its SVG group "pareto_points_marks"
LIVE_TITLE = "every evaluation (colour: order) and the Pareto front"


# ----------------------------------------------------------------------------------------------------------------
# The charts (data first, then the figure)
# ----------------------------------------------------------------------------------------------------------------
def pareto_rows(result: Result | None, x: str | None = None, y: str | None = None) -> list[dict[str, Any]]:
    """Rows of the live Pareto chart: `subnet_kit.pareto.chart_data` with generic ``x`` / ``y`` columns (so that
    the chart's spec does not depend on the objectives) plus ``kind`` (Pareto front / dominated / infeasible)."""
    if result is None or len(result.history) == 0:
        return []
    objs = result.objectives
    x = x or objs[0]
    y = y or (objs[1] if len(objs) > 1 else objs[0])
    df = chart_data(result.history, objs, result.pareto_mask(), x, y)
    kind = np.where(df["front"], "Pareto front", np.where(df["feasible"], "dominated", "infeasible"))
    return [{"eval": int(e), "x": float(a), "y": float(b), "front": bool(f), "feasible": bool(ok), "kind": str(k),
             "label": str(lab)}
            for e, a, b, f, ok, k, lab in zip(df["eval"], df[x], df[y], df["front"], df["feasible"], kind,
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
    points = alt.Chart(data).mark_point(filled=True).encode(
        x=x, y=y,
        color=alt.Color("eval:Q", scale=alt.Scale(scheme="viridis"), title="evaluation"),
        opacity=alt.condition(alt.datum.front, alt.value(1.0), alt.value(0.35)),
        size=alt.condition(alt.datum.front, alt.value(110), alt.value(45)),
        shape=alt.Shape("kind:N", title=None, scale=alt.Scale(domain=["Pareto front", "dominated", "infeasible"],
                                                                range=["circle", "circle", "cross"])),
        stroke=alt.condition(pick, alt.value("#d62728"), alt.value(None), empty=False),
        strokeWidth=alt.condition(pick, alt.value(3), alt.value(0), empty=False),
        tooltip=[alt.Tooltip("eval:Q", title="evaluation"), alt.Tooltip("label:N", title="arch"),
                 alt.Tooltip("x:Q", title=x_title, format=".4g"), alt.Tooltip("y:Q", title=y_title, format=".4g"),
                 alt.Tooltip("kind:N", title="")],
    ).add_params(pick).properties(name=POINTS_MARK)
    n, front = len(rows), sum(r["front"] for r in rows)
    return alt.layer(line, points).properties(  # pad + resize: axes re-laid out as live points change the ticks
        autosize=alt.AutoSizeParams(type="pad", resize=True), width=420, height=300, title=title or f"{n} evaluations, {front} on the Pareto front")


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


class _Watch(Callback):
    """The dashboard's subscription to the search: generations (tells), new evaluations and their wall time."""

    def __init__(self) -> None:
        self.generations = 0
        self.evaluations = 0
        self.last_time_s: float | None = None  # wall time of the latest new evaluation

    def on_evaluation(self, record: dict[str, Any]) -> None:
        self.evaluations += 1
        self.last_time_s = float(record["time_s"])

    def on_generation(self, result: Result) -> None:
        self.generations += 1


# ----------------------------------------------------------------------------------------------------------------
# The dashboard
# ----------------------------------------------------------------------------------------------------------------
class SearchDashboard(StaticRepr, W.VBox):
    """Controls, progress, live Pareto and hypervolume charts, and the selected architecture of one search.

    ``objectives``: an `ObjectivePicker` (its objectives, constraints and device settings are read when a search
    starts), or names / `Objective` instances / callables as for `subnet_kit.search`. ``constraints``: extra
    constraint strings. ``x`` / ``y``: the objectives on the chart's axes (default: the first two).
    ``live``: ``"data"`` (send only new rows to the chart on screen) or ``"spec"`` (re-embed the chart);
    ``min_interval_s``: at most one chart update per that many seconds (the last one always shows every point).
    Other keyword arguments go to `subnet_kit.search.Search` (``strategy_options``, ``log``, ``ref``, ...).

    >>> dash = SearchDashboard(supernet, space, task, objectives=["error", "params"], budget=40)  # doctest: +SKIP
    >>> dash                      # the widget                                                     # doctest: +SKIP
    >>> result = dash.run()       # blocking; or dash.start() ... dash.stop(); await dash.wait()   # doctest: +SKIP
    """

    selected = T.Instance(Arch, allow_none=True)  # the architecture picked in the chart (or by select())
    running = T.Bool(False)
    message = T.Unicode("")

    def __init__(self, supernet: Any, space: SearchSpace | None, task: Any = None,
                 objectives: "ObjectivePicker | Sequence[Any]" = ("error", "params"), *,
                 strategy: str = "nsga2", budget: int = 40, seed: int = 0, eval_limit: int | None = 500,
                 constraints: Sequence[Any] = (), x: str | None = None, y: str | None = None,
                 live: str = "data", min_interval_s: float = 0.2, yield_s: float = 0.0,
                 **search_options: Any) -> None:
        if not isinstance(space, SearchSpace):
            raise ValueError(f"space must be a SearchSpace (e.g. SpaceEditor(...).space, or "
                             f"SearchSpace.for_model(supernet, ...)); got {type(space).__name__}"
                             + (" — the SpaceEditor's setting is impossible, see editor.message" if space is None
                                else ""))
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; allowed: {', '.join(sorted(STRATEGIES))}")
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
            raise ValueError(f"budget (distinct archs to evaluate) must be an int >= 1, got {budget!r}")
        if isinstance(objectives, (str, bytes)):
            objectives = [objectives]
        if not isinstance(objectives, ObjectivePicker) and not list(objectives):
            raise ValueError("no objectives: pass an ObjectivePicker or names such as ('error', 'params')")
        self.supernet, self.space, self.task = supernet, space, task
        self.picker = objectives if isinstance(objectives, ObjectivePicker) else None
        self._objectives = None if self.picker else list(objectives)
        self._constraints = list(constraints)
        self.eval_limit, self.x, self.y = eval_limit, x, y
        self._callbacks = list(search_options.pop("callbacks", None) or [])
        self.search_options = search_options
        self.yield_s = yield_s
        self.search: Search | None = None
        self._key: Any = None
        self._task: asyncio.Task | None = None
        self._watch = _Watch()
        self._hv: list[float] = []  # hypervolume after each evaluation (once the box is fixed; 0 before)
        self._hv_box: Any = None

        # controls
        self._strategy = W.Dropdown(options=sorted(STRATEGIES), value=strategy, description="strategy",
                                    layout=W.Layout(width="200px"))
        self._budget = W.IntText(value=int(budget), description="budget", layout=W.Layout(width="160px"))
        self._seed = W.IntText(value=int(seed), description="seed", layout=W.Layout(width="160px"))
        self._start = W.Button(description="Start", button_style="success", icon="play")
        self._start.add_class("subnet-kit-start")
        self._stop = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self._stop.add_class("subnet-kit-stop")
        self._start.on_click(lambda _: self._start_clicked())
        self._stop.on_click(lambda _: self.stop())
        controls = box([self._strategy, self._budget, self._seed, self._start, self._stop], "subnet-kit-controls",
                       vertical=False)
        # progress
        self._bar = W.IntProgress(value=0, min=0, max=int(budget), layout=W.Layout(width="300px"))
        self._label = W.HTML(self._progress_text())
        self._label.add_class("subnet-kit-progress-label")
        progress = box([self._bar, self._label], "subnet-kit-progress", vertical=False)
        # charts
        # the widget's title does not count points: in "data" mode the spec (and its title) stays while rows arrive
        self._pareto = LiveChart(lambda rows: pareto_live_chart(rows, *self._axis_titles(), title=LIVE_TITLE), "points",
                                 "subnet-kit-pareto", mode=live, min_interval_s=min_interval_s)
        self._hvchart = LiveChart(hv_live_chart, "hv", "subnet-kit-hv", mode=live, min_interval_s=min_interval_s)
        self._pareto.on_new_chart(self._watch_selection)
        charts = box([self._pareto.widget, self._hvchart.widget], "subnet-kit-charts", vertical=False)
        self._message = W.HTML()
        self._message.add_class("subnet-kit-message")
        self.arch_view = ArchView(None, space, supernet=supernet)
        self._table = W.HTML()
        self._table.add_class("subnet-kit-pareto-table")
        super().__init__([controls, progress, charts, self._message, self.arch_view, self._table])
        self.add_class("subnet-kit-dashboard")

    # ---- settings -> Search -----------------------------------------------------------------------------------
    @property
    def strategy(self) -> str:
        return self._strategy.value

    @property
    def budget(self) -> int:
        return int(self._budget.value)

    @property
    def seed(self) -> int:
        return int(self._seed.value)

    def _settings(self) -> dict[str, Any]:
        """What the next search is built from (objectives and constraints read from the picker now)."""
        if self.budget < 1:
            raise ValueError(f"budget (distinct archs to evaluate) must be >= 1, got {self.budget}")
        if self.picker is not None:
            objectives = self.picker.objectives()
            constraints = [*self.picker.constraints(), *self._constraints]
            metrics = self.picker.metrics()
            device = self.picker.device
        else:
            objectives, constraints, metrics, device = self._objectives, list(self._constraints), [], None
        return {"objectives": objectives, "constraints": constraints, "metrics": metrics, "device": device}

    def _axis_titles(self) -> tuple[str, str]:
        names = self._objective_names()
        x = self.x or names[0]
        y = self.y or (names[1] if len(names) > 1 else names[0])
        units = self.search.units if self.search is not None else {}
        return tuple(f"{n} ({units[n]})" if units.get(n) else n for n in (x, y))  # type: ignore[return-value]

    def _objective_names(self) -> list[str]:
        if self.search is not None:
            return [o.name for o in self.search.objectives]
        if self.picker is not None:
            return list(self.picker.selected) or ["objective"]
        from subnet_kit.objectives import as_objective

        out = []
        for o in self._objectives or []:
            try:
                out.append(as_objective(o).name)
            except ValueError:
                out.append(str(o))
        return out

    def _prepare(self) -> Search:
        """The search to advance: the current one if the settings are the same (a larger budget extends it),
        else a new one."""
        s = self._settings()
        key = (self.strategy, self.seed, repr(s["objectives"]), tuple(s["constraints"]), repr(s["metrics"]))
        current = self.search
        if current is not None and key == self._key and (current.stop_reason in (None, "stopped", "budget")):
            if self.budget > current.budget or current.stop_reason == "stopped":
                current.budget = max(self.budget, len(current.records))
                current.proceed()
                self._bar.max = current.budget
                return current
            if len(current.records) >= self.budget:
                return current  # nothing to do: done already
        if s["device"] is not None and self.supernet is not None:
            import torch

            want = torch.device(s["device"])
            have = next(self.supernet.parameters()).device
            if have.type != want.type:
                self.supernet.to(want)  # the picker's device: objectives run where the super-network is
        self._watch = _Watch()
        self.search = Search(self.supernet, self.space, self.task, s["objectives"], strategy=self.strategy,
                             budget=self.budget, seed=self.seed, constraints=s["constraints"], metrics=s["metrics"],
                             callbacks=[self._watch, *self._callbacks],
                             eval_limit=self.eval_limit, **self.search_options)
        self._key = key
        self._hv, self._hv_box = [], None
        self._bar.max = self.budget
        self._pareto.rows, self._hvchart.rows = [], []  # _begin redraws (new axes)
        return self.search

    @T.observe("message")
    def _on_message(self, change: dict) -> None:
        self._message.value = message_html(change["new"])

    # ---- running ----------------------------------------------------------------------------------------------
    def run(self) -> Result:
        """Run the search to its end (budget, or nothing new to propose) in this cell and return the `Result`.
        Deterministic: the same settings and seed give the same history."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("a search started with start() is running; dash.stop() it or `await dash.wait()` "
                               "before run()")
        search = self._begin()
        try:
            while search.step() is not None:
                self._after_evaluation()
        except Exception as e:
            self.message = f"{type(e).__name__}: {e}"
            raise
        finally:
            self._end()
        return self.result

    def start(self) -> "asyncio.Task":
        """Run the search as an asyncio task on the running event loop (the Jupyter kernel's), yielding to it
        after every evaluation: the notebook stays responsive and Stop works. Returns the task; ``await
        dash.wait()`` waits for it. Without a running loop (a script, papermill's blocking cells) use `run`."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("start() runs the search as an asyncio task on a running event loop (a Jupyter "
                               "kernel has one; a plain script does not): use dash.run(), which blocks until the "
                               "search is done") from None
        if self._task is not None and not self._task.done():
            return self._task
        search = self._begin()
        self._task = loop.create_task(self._loop(search))
        # a failure shows inline (self.message); retrieving it here keeps asyncio from warning about a task whose
        # exception nobody awaited (a search started from the Start button)
        self._task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        return self._task

    async def _loop(self, search: Search) -> Result:
        try:
            await asyncio.sleep(0)
            while search.step() is not None:
                self._after_evaluation()
                await asyncio.sleep(self.yield_s)  # let the kernel handle messages (the Stop button)
        except Exception as e:
            self.message = f"{type(e).__name__}: {e}"
            raise
        finally:
            self._end()
        return self.result

    def stop(self) -> None:
        """Stop after the evaluation in progress (what the Stop button does); Start continues the search."""
        if self.search is not None:
            self.search.stop()

    async def wait(self) -> Result | None:
        """Wait for a search started with `start` and return its `Result`."""
        if self._task is not None:
            await self._task
        return self.result

    def _start_clicked(self) -> None:
        try:
            self.start()
        except (RuntimeError, ValueError) as e:
            self.message = str(e)

    def _begin(self) -> Search:
        try:
            search = self._prepare()
        except ValueError as e:
            self.message = str(e)
            raise
        self.message = ""
        search.proceed()
        self.running = True
        self._t0 = time.perf_counter()
        self._update(final=True)
        return search

    def _end(self) -> None:
        self.running = False
        self._update(final=True)
        self.refresh_static()

    # ---- state -> view ------------------------------------------------------------------------------------------
    @property
    def result(self) -> Result | None:
        """The `Result` of the search so far (None before the first start)."""
        return self.search.result() if self.search is not None else None

    def _after_evaluation(self) -> None:
        self._update(final=False)

    def _hypervolume(self, result: Result) -> float | None:
        box_ = self.search.hv_box() if self.search is not None else None
        if box_ is None:
            return None
        ideal, ref = box_
        if self._hv_box is None:  # the box was just fixed: the curve so far, once
            self._hv_box = box_
            self._hv = list(result.hypervolume_curve(ref=ref, ideal=ideal).to_numpy(dtype=float))
            return self._hv[-1] if self._hv else None
        while len(self._hv) < len(result.history):
            k = len(self._hv) + 1
            sub = Result(result.history.iloc[:k], result.objectives)
            try:
                self._hv.append(sub.hypervolume(ref=ref, ideal=ideal) if (sub.cv <= 0).any() else 0.0)
            except ValueError:  # no feasible point inside the box yet
                self._hv.append(0.0)
        return self._hv[-1] if self._hv else None

    def _update(self, final: bool) -> None:
        """Redraw from ``search.result()``: progress, charts (throttled unless ``final``), table."""
        result = self.result
        n = 0 if result is None else len(result.history)
        hv = self._hypervolume(result) if n else None
        if final and n and self._hv_box is not None:  # the whole curve at once: exactly Result.hypervolume_curve
            ideal, ref = self._hv_box
            self._hv = list(result.hypervolume_curve(ref=ref, ideal=ideal).to_numpy(dtype=float))
            hv = self._hv[-1]
        front = int(result.pareto_mask().sum()) if n else 0
        self._bar.value = min(n, self._bar.max)
        self._label.value = self._progress_text(n, hv, front)
        self._stop.disabled = not self.running
        self._start.disabled = self.running
        rows = pareto_rows(result, self.x, self.y)
        hv_rows = [{"evaluations": i + 1, "hypervolume": v} for i, v in enumerate(self._hv)]
        if final:
            self._pareto.rows, self._hvchart.rows = rows, hv_rows
            self._pareto.flush()
            self._hvchart.flush()
            self._table.value = self._pareto_table_html(result)
        else:
            self._pareto.update(rows)
            self._hvchart.update(hv_rows)
        self._message.value = message_html(self.message)

    def _progress_text(self, n: int = 0, hv: float | None = None, front: int = 0) -> str:
        budget = self.search.budget if self.search is not None else self.budget
        state = "running" if self.running else ("stopped" if self.search and self.search.stop_reason == "stopped"
                                                else ("done" if self.search and self.search.stop_reason else "ready"))
        hv_text = f"{hv:.3f}" if hv is not None else "–"
        pace = f"{self._watch.last_time_s:.2g} s/eval · " if self._watch.last_time_s is not None else ""
        return (f"{n} / {budget} evaluations · HV {hv_text} · front {front} · {pace}"
                f'<span class="subnet-kit-state">{state}</span>')

    def _pareto_table_html(self, result: Result | None, limit: int = 30) -> str:
        if result is None or len(result.history) == 0:
            return ""
        front = result.pareto()
        cols = ["eval", *result.objectives]
        rows = [{**{c: r[c] for c in cols}, "arch": Arch.from_json(r["arch"]).short()}
                for _, r in front.head(limit).iterrows()]
        more = f"<i>… and {len(front) - limit} more</i>" if len(front) > limit else ""
        return f"<b>Pareto front</b> ({len(front)} of {len(result.history)} evaluations){html_table(rows)}{more}"

    # ---- selection ----------------------------------------------------------------------------------------------
    def _watch_selection(self) -> None:
        sel = self._pareto.widget.selections
        if SELECTION in sel.trait_names():
            sel.observe(self._on_pick, names=[SELECTION])

    def _on_pick(self, change: dict) -> None:
        value = getattr(change["new"], "value", None) or []
        if not value:
            return  # a cleared selection (or a re-embed) keeps the last selected arch
        ev = value[0].get("eval")
        if ev is None:
            return
        try:
            self.select(int(ev))
        except ValueError as e:
            self.message = str(e)
            self._message.value = message_html(self.message)

    def select(self, arch: "Arch | int") -> Arch:
        """Select ``arch`` (an `Arch`, or the ``eval`` index of an evaluated one): the ArchView shows it (with its
        measured latency when the history has one) and an `ExportPanel` following this dashboard exports it."""
        latency = None
        if not isinstance(arch, Arch):
            result = self.result
            if result is None or isinstance(arch, bool) or not isinstance(arch, (int, np.integer)):
                raise ValueError(f"select() takes an Arch or the eval index of an evaluated arch, got {arch!r}")
            rows = result.history[result.history["eval"] == int(arch)]
            if len(rows) == 0:
                raise ValueError(f"no evaluation {arch}; evaluated: 0..{len(result.history) - 1}")
            row = rows.iloc[0]
            if "latency" in row.index:
                latency = float(row["latency"])
            arch = Arch.from_json(row["arch"])
        elif self.result is not None and "latency" in self.result.history.columns:
            rows = self.result.history[self.result.history["arch"] == arch.to_json()]
            latency = float(rows["latency"].iloc[0]) if len(rows) else None
        self.arch_view.arch = arch
        self.arch_view.latency = latency
        self.selected = arch
        return arch

    # ---- data, charts, export -------------------------------------------------------------------------------------
    def chart_data(self) -> Any:
        """The points the Pareto chart shows (a DataFrame: ``eval``, ``x``, ``y``, ``front``, ``feasible``,
        ``kind``, ``label``); after `run` (or the end of a started search) every evaluated point."""
        import pandas as pd

        return pd.DataFrame(self._pareto.rows, columns=["eval", "x", "y", "front", "feasible", "kind", "label"])

    def hv_data(self) -> Any:
        """Hypervolume after each evaluation as the chart shows it (a DataFrame: ``evaluations``, ``hypervolume``);
        0 before the search's box was fixed (`Search.hv_box`: after 10 feasible evaluations unless ``ref`` is
        given)."""
        import pandas as pd

        return pd.DataFrame(self._hvchart.rows, columns=["evaluations", "hypervolume"])

    def chart(self) -> Any:
        """The Pareto chart of the current data as a static Altair chart."""
        return pareto_live_chart(self._pareto.rows, *self._axis_titles())

    def hv_chart(self) -> Any:
        return hv_live_chart(self._hvchart.rows)

    def save_chart(self, path: str, which: str = "pareto") -> Path:
        """Save the Pareto chart (``which="hv"``: the hypervolume chart) as ``.png``, ``.svg``, ``.pdf``, ``.html``
        or ``.json`` (vl-convert renders the images)."""
        allowed = (".png", ".svg", ".pdf", ".html", ".json")
        path = Path(path)
        if path.suffix.lower() not in allowed:
            raise ValueError(f"cannot save a chart as {path.suffix or 'a file without suffix'}; allowed: "
                             f"{', '.join(allowed)}")
        charts = {"pareto": self.chart, "hv": self.hv_chart}
        if which not in charts:
            raise ValueError(f"unknown chart {which!r}; allowed: {', '.join(charts)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        charts[which]().save(str(path))
        return path

    def static_html(self) -> str:
        result = self.result
        n = 0 if result is None else len(result.history)
        hv = self._hv[-1] if self._hv else None
        front = int(result.pareto_mask().sum()) if result is not None and n else 0
        parts = [f'<div class="subnet-kit-dashboard"><div class="subnet-kit-progress">'
                 f"{esc(self.strategy)} · seed {self.seed} · {self._progress_text(n, hv, front)}</div>",
                 message_html(self.message)]
        if n:
            parts.append(f'<div class="subnet-kit-pareto" style="display:inline-block">{chart_svg(self.chart())}</div>')
            if self._hvchart.rows:
                parts.append(f'<div class="subnet-kit-hv" style="display:inline-block">'
                             f"{chart_svg(self.hv_chart())}</div>")
            parts.append(self._pareto_table_html(result))
        if self.arch_view.arch is not None:
            parts.append(self.arch_view.static_html())
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"SearchDashboard({self.search!r})" if self.search is not None else "SearchDashboard(not started)"

"""Pareto fronts of minimisation problems: non-dominated sorting with constraint domination, hypervolume (pymoo's
indicator on normalised objectives) and the Pareto chart.

Scope: pure computations on arrays, plus one chart built from a table. Conventions used everywhere in the kit:

* ``F`` is an ``(n, m)`` float array — ``n`` points, ``m`` objectives, **all minimised**;
* ``cv`` is an ``(n,)`` array of constraint violations, ``0`` for a feasible point (see `objectives.Constraint`);
* a feasible point always beats an infeasible one, and of two infeasible points the smaller violation wins
  (Deb's constraint domination, as in pymoo and Optuna).

>>> F = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2], [0.9, 0.9]])
>>> nondominated_ranks(F).tolist()
[0, 0, 0, 1]
>>> round(hypervolume(F, ref=[1.0, 1.0], ideal=[0.0, 0.0]), 4)   # fraction of the box [ideal, ref] dominated
0.37
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = [
    "nondominated_ranks", "pareto_mask", "crowding_distance", "hypervolume", "HypervolumeTracker", "hypervolume_curve",
    "default_bounds", "axes", "chart_data", "pareto_chart", "KINDS",
]

KINDS = ("front", "dominated", "infeasible")  # the kind of a point in a chart: on the front, dominated, infeasible


def _as_F(F: Any) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim == 1:
        F = F[None, :] if F.size else F.reshape(0, 0)
    if F.ndim != 2:
        raise ValueError(f"F must be an (n points, m objectives) array, got shape {F.shape}")
    if not np.isfinite(F).all():
        raise ValueError("F holds NaN or infinite values; objectives must be finite numbers")
    return F


def nondominated_ranks(F: Any, cv: Any = None) -> np.ndarray:
    """Rank of every point: 0 for the (constrained) Pareto front, 1 for the front once that is removed, and so on.

    Feasible points (``cv == 0``) are sorted by Pareto dominance (pymoo's non-dominated sorting) and all rank
    before infeasible ones; infeasible points follow in order of increasing violation. Equal points share a rank.
    """
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    F = _as_F(F)
    n = len(F)
    cv = np.zeros(n) if cv is None else np.asarray(cv, dtype=float).reshape(-1)
    if cv.shape != (n,):
        raise ValueError(f"cv must hold one violation per point ({n}), got shape {cv.shape}")
    ranks = np.zeros(n, dtype=np.int64)
    feasible = np.flatnonzero(cv <= 0)
    if len(feasible):
        ranks[feasible] = NonDominatedSorting().do(F[feasible], return_rank=True)[1]
    infeasible = np.flatnonzero(cv > 0)
    if len(infeasible):
        offset = ranks[feasible].max() + 1 if len(feasible) else 0
        _, dense = np.unique(cv[infeasible], return_inverse=True)  # equal violation, equal rank
        ranks[infeasible] = offset + dense
    return ranks


def pareto_mask(F: Any, cv: Any = None) -> np.ndarray:
    """Boolean mask of the feasible, non-dominated points (all False when no point is feasible)."""
    F = _as_F(F)
    cv = np.zeros(len(F)) if cv is None else np.asarray(cv, dtype=float).reshape(-1)
    return (nondominated_ranks(F, cv) == 0) & (cv <= 0)


def crowding_distance(F: Any) -> np.ndarray:
    """NSGA-II's crowding distance of each point within ``F`` (pymoo's; ``inf`` for the extremes and for sets of
    two or fewer points): large where the front is sparse, so preferring it spreads a front out."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    F = _as_F(F)
    if len(F) <= 2:
        return np.full(len(F), np.inf)
    return np.asarray(calc_crowding_distance(F), dtype=float)


def default_bounds(F: Any, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``(ideal, ref)`` for points ``F``: the best value of each objective, and the worst plus ``margin`` times the
    range (so the extreme points of the front still add volume). A zero range widens by ``margin`` of the value."""
    F = _as_F(F)
    if len(F) == 0:
        raise ValueError("no points: evaluate at least one feasible sub-network first")
    ideal, nadir = F.min(0), F.max(0)
    span = nadir - ideal
    span = np.where(span > 0, span, np.maximum(np.abs(nadir), 1.0))
    return ideal, nadir + margin * span


def _check_bounds(F: np.ndarray, ref: Any, ideal: Any) -> tuple[np.ndarray, np.ndarray]:
    m = F.shape[1]
    ref = np.asarray(ref, dtype=float).reshape(-1)
    if ref.shape != (m,):
        raise ValueError(f"the reference point needs one value per objective ({m}), got {ref.tolist()}")
    ideal = F.min(0) if ideal is None else np.asarray(ideal, dtype=float).reshape(-1)
    if ideal.shape != (m,):
        raise ValueError(f"the ideal point needs one value per objective ({m}), got {ideal.tolist()}")
    if np.any(ideal >= ref):
        raise ValueError(f"the ideal point {ideal.tolist()} must be better (smaller) than the reference point "
                         f"{ref.tolist()} in every objective")
    return ref, ideal


def hypervolume(F: Any, ref: Any, ideal: Any = None) -> float:
    """Hypervolume of points ``F`` (feasible ones; dominated points add nothing) with respect to ``ref``, after
    normalising every objective so that ``ideal`` maps to 0 and ``ref`` to 1: the result is the fraction of the
    box ``[ideal, ref]`` that the points dominate, in [0, 1]. ``ideal`` defaults to the best value of each objective.

    Hypervolumes are comparable only with the same ``ref`` and ``ideal``. Raises a ValueError when no point
    dominates ``ref`` (the volume would be 0 whatever the front, so ``ref`` is surely not what was meant).
    """
    from pymoo.indicators.hv import Hypervolume

    F = _as_F(F)
    if len(F) == 0:
        raise ValueError("no points to compute a hypervolume of")
    ref, ideal = _check_bounds(F, ref, ideal)
    if not np.any(np.all(F < ref, axis=1)):
        raise ValueError(
            f"the reference point {ref.tolist()} is not dominated by the front (best values per objective: "
            f"{F.min(0).tolist()}); choose a reference point that is worse than the front in every objective"
        )
    return float(Hypervolume(ref_point=ref, ideal=ideal, nadir=ref, zero_to_one=True).do(F))


class HypervolumeTracker:
    """Hypervolume of a growing set of points in a fixed box ``[ideal, ref]``: `add` one point (with its violation)
    and get the hypervolume of the feasible points so far. It is recomputed only when the front changes, i.e. when a
    feasible point inside the box that no earlier point dominates arrives; the values never decrease.

    >>> t = HypervolumeTracker(ref=[1.0, 1.0], ideal=[0.0, 0.0])
    >>> [round(t.add(f), 2) for f in ([0.5, 0.5], [0.9, 0.9], [0.2, 0.8])]
    [0.25, 0.25, 0.31]
    """

    def __init__(self, ref: Any, ideal: Any) -> None:
        ideal = np.asarray(ideal, dtype=float).reshape(-1)
        self.ref, self.ideal = _check_bounds(ideal[None, :], ref, ideal)
        self.front = np.empty((0, len(self.ref)))  # (k, m): the non-dominated feasible points inside the box
        self.value = 0.0  # the hypervolume of ``front``

    def add(self, f: Any, cv: float = 0.0) -> float:
        f = np.asarray(f, dtype=float).reshape(-1)
        if f.shape != self.ref.shape:
            raise ValueError(f"a point needs one value per objective ({len(self.ref)}), got {f.tolist()}")
        if cv <= 0 and np.all(f < self.ref) and not np.any(np.all(self.front <= f, axis=1)):
            self.front = np.vstack([self.front[~np.all(f <= self.front, axis=1)], f])
            self.value = hypervolume(self.front, self.ref, self.ideal)
        return self.value


def hypervolume_curve(F: Any, ref: Any, ideal: Any = None, cv: Any = None) -> np.ndarray:
    """Hypervolume of the feasible points among the first ``k`` points, for ``k = 1 .. n`` (shape ``(n,)``);
    0 while no feasible point dominates ``ref``. The last value equals `hypervolume` of all feasible points."""
    F = _as_F(F)
    n = len(F)
    cv = np.zeros(n) if cv is None else np.asarray(cv, dtype=float).reshape(-1)
    if n == 0:
        return np.zeros(0)
    ref, ideal = _check_bounds(F, ref, ideal)
    tracker = HypervolumeTracker(ref, ideal)
    return np.array([tracker.add(F[k], cv[k]) for k in range(n)])


# --------------------------------------------------------------------------------------------------------------
# The Pareto chart: data first, then the figure (optuna's visualization/_pareto_front.py does the same)
# --------------------------------------------------------------------------------------------------------------
def axes(objectives: Sequence[str], x: str | None = None, y: str | None = None) -> tuple[str, str]:
    """The axes of a chart of ``objectives``: ``x`` default the first objective, ``y`` default the first other one
    (``x`` again when there is only one objective).

    >>> axes(["error", "latency", "params"]), axes(["error", "latency"], x="latency"), axes(["params"])
    (('error', 'latency'), ('latency', 'error'), ('params', 'params'))
    """
    if not objectives:
        raise ValueError("no objectives to chart")
    x = x or objectives[0]
    return x, y or next((o for o in objectives if o != x), x)


def chart_data(history: Any, objectives: Sequence[str], mask: Any, x: str | None = None, y: str | None = None):
    """The table the Pareto chart draws: ``x``, ``y`` (default: see `axes`), ``front`` (bool), ``feasible``,
    ``kind`` (one of `KINDS`: ``front``, ``dominated``, ``infeasible``), ``eval`` and a readable ``label`` of the
    arch, one row per evaluation."""
    import pandas as pd

    from .space import Arch

    x, y = axes(objectives, x, y)
    for name in (x, y):
        if name not in history.columns:
            raise ValueError(f"no column {name!r} to plot; objectives: {', '.join(objectives)}")
    front, feasible = np.asarray(mask, dtype=bool), history["feasible"].to_numpy(dtype=bool)
    return pd.DataFrame({
        "eval": history["eval"].to_numpy(),
        x: history[x].to_numpy(),
        **({y: history[y].to_numpy()} if y != x else {}),
        "front": front,
        "feasible": feasible,
        "kind": np.where(front, KINDS[0], np.where(feasible, KINDS[1], KINDS[2])),
        "label": [Arch.from_json(a).short() for a in history["arch"]],
    })


def pareto_chart(history: Any, objectives: Sequence[str], mask: Any, units: dict[str, str] | None = None,
                 x: str | None = None, y: str | None = None, title: str | None = None):
    """An Altair chart of every evaluation (grey: dominated, red crosses: infeasible) with the Pareto front drawn
    as a step line through its points; tooltips show the arch. Save it with ``chart.save("pareto.png")``."""
    import altair as alt

    data = chart_data(history, objectives, mask, x, y)
    x, y = axes(objectives, x, y)
    units = units or {}
    xt = f"{x} ({units[x]})" if units.get(x) else x
    yt = f"{y} ({units[y]})" if units.get(y) else y
    enc = dict(
        x=alt.X(f"{x}:Q", title=xt, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{y}:Q", title=yt, scale=alt.Scale(zero=False)),
        tooltip=["eval:Q", "label:N", alt.Tooltip(f"{x}:Q", format=".4g"), alt.Tooltip(f"{y}:Q", format=".4g")],
    )
    colors = alt.Scale(domain=list(KINDS), range=["#1f77b4", "#bbbbbb", "#d62728"])
    legend = alt.Legend(labelExpr="datum.label == 'front' ? 'Pareto front' : datum.label")
    points = alt.Chart(data).mark_point(filled=True, size=40).encode(
        color=alt.Color("kind:N", scale=colors, title=None, legend=legend),
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=list(KINDS), range=["circle", "circle", "cross"]), title=None,
                        legend=legend),
        **enc,
    )
    line = alt.Chart(data[data["front"]].sort_values(x)).mark_line(interpolate="step-after", color="#1f77b4").encode(
        x=enc["x"], y=enc["y"]
    )
    return (line + points).properties(title=title or f"{len(data)} evaluations, {int(data['front'].sum())} on the front",
                                      width=420, height=300)

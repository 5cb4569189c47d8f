"""What a search found: `Result` — the history of evaluations, the constrained Pareto front, the full model as the
reference row (column ``full_model``, `Result.reference`), hypervolume and its curve, picking one arch, the report
of a search that found nothing feasible, and CSV / JSON persistence.

Scope: reading and presenting a finished (or running) search's records; the computations themselves are
`pareto.py`'s, the records come from `search.Search` or from a log (`Result.from_log`, see `_log.py`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._log import json_default, read_log
from .objectives import Constraint
from .pareto import default_bounds, hypervolume, hypervolume_curve, pareto_chart, pareto_mask
from .space import Arch, SearchSpace

__all__ = ["Result"]


@dataclass
class Result:
    """What a search found.

    ``history``: one row per evaluation, in order — ``eval`` (0-based), ``arch`` (JSON, `Arch.from_json`), one
    column per objective and per constrained metric, extra columns ``<objective>_<field>`` (e.g.
    ``latency_iqr_ms``), ``feasible``, ``violation`` (summed relative constraint violation), ``time_s`` (wall time
    of the evaluation), ``elapsed_s`` (since the search started, across resumes) and ``full_model`` (True for the
    row of the space's largest arch, every gene at its upper bound: the full model when the space keeps the
    model's bounds; kept by `pareto`, returned by `reference`).

    ``full_model`` needs the search space: ``meta["space"]`` (``SearchSpace.to_dict()``), which `Search` and
    `from_log` set; a result without it (e.g. a JSON file written before the column existed) has no such column.
    """

    history: Any  # pandas.DataFrame
    objectives: list[str]  # names of the minimised objectives (columns of history)
    units: dict[str, str] = field(default_factory=dict)  # unit of each objective / metric column
    constraints: list[str] = field(default_factory=list)  # as text, e.g. "latency <= 15 ms"
    meta: dict[str, Any] = field(default_factory=dict)  # strategy, seed, budget, stop_reason, predictor, space, ...

    def __post_init__(self) -> None:
        largest = self.largest_arch
        if largest is not None:
            h = self.history.copy()
            h["full_model"] = [Arch.from_json(a) == largest for a in h["arch"]] if len(h) else []
            self.history = h.astype({"full_model": bool})

    @property
    def largest_arch(self) -> Arch | None:
        """The largest arch of the searched space (``space.decode(space.xu)``), or None when ``meta`` holds no
        ``space``."""
        space = self.meta.get("space")
        if space is None:
            return None
        s = SearchSpace.from_dict(space)
        return s.decode(s.xu)

    # ---- the front --------------------------------------------------------------------------------------------
    @property
    def F(self) -> np.ndarray:
        """``(n, m)`` objective values of all evaluations (minimised)."""
        return self.history[self.objectives].to_numpy(dtype=float).reshape(len(self.history), len(self.objectives))

    @property
    def cv(self) -> np.ndarray:
        return self.history["violation"].to_numpy(dtype=float) if len(self.history) else np.zeros(0)

    def pareto_mask(self) -> np.ndarray:
        """Boolean mask of the rows on the Pareto front (feasible and non-dominated; see `pareto.pareto_mask`)."""
        if len(self.history) == 0:
            return np.zeros(0, dtype=bool)
        return pareto_mask(self.F, self.cv)

    def pareto(self) -> Any:
        """The Pareto front: feasible, non-dominated rows of the history, sorted by the first objective (with every
        column of the history, ``full_model`` included)."""
        return self.history[self.pareto_mask()].sort_values([*self.objectives, "eval"]).reset_index(drop=True)

    def reference(self) -> Any:
        """The history row of the full model (the space's largest arch; ``full_model`` True), to compare every
        front point with, e.g. ``result.pareto()["error"] - result.reference()["error"]``; None when it has not been
        evaluated (nothing evaluated yet, or a strategy run with ``anchors=False`` that never proposed it). Raises a
        ValueError when the result does not know its search space (no ``meta["space"]``)."""
        if self.largest_arch is None:
            raise ValueError("this result does not know its search space (meta['space'], set by Search and "
                             "Result.from_log), so it cannot tell which row is the full model")
        rows = self.history[self.history["full_model"].astype(bool)]
        return rows.iloc[0] if len(rows) else None

    def archs(self, rows: Any = None) -> list[Arch]:
        """The `Arch` of each row of ``rows`` (a DataFrame of history rows; default: the Pareto front)."""
        rows = self.pareto() if rows is None else rows
        return [Arch.from_json(a) for a in rows["arch"]]

    @property
    def infeasible_message(self) -> str | None:
        """None when a feasible arch was evaluated (or none at all); else what the search ran into, e.g. ``"no
        feasible architecture among 40 evaluated; the closest violates params <= 10 by 2.1e+06 parameters
        (params = 2.1e+06 at eval 7)"`` — the evaluation with the smallest summed violation, and each constraint
        it breaks with the distance to the bound in the constraint's unit."""
        h = self.history
        if len(h) == 0 or h["feasible"].astype(bool).any():
            return None
        row = h.loc[h["violation"].astype(float).idxmin()]
        broken = []
        for text in self.constraints:
            c = Constraint.parse(text)
            if c.name in h.columns and c.g(float(row[c.name])) > 0:
                value, unit = float(row[c.name]), self.units.get(c.name, "")
                broken.append(f"{text} by {abs(value - c.bound):.3g}{' ' + unit if unit else ''} "
                              f"({c.name} = {value:.4g} at eval {int(row['eval'])})")
        what = " and ".join(broken) or f"the constraints by {float(row['violation']):.3g} (relative, summed)"
        return f"no feasible architecture among {len(h)} evaluated; the closest violates {what}"

    # ---- hypervolume ------------------------------------------------------------------------------------------
    def bounds(self, ref: Any = None, ideal: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ideal, ref)`` used by `hypervolume`: given values, else from the feasible evaluations (best values,
        and worst values plus 10 % of the range; see `pareto.default_bounds`)."""
        feasible = self.F[self.cv <= 0]
        if (ref is None or ideal is None) and len(feasible) == 0:
            raise ValueError("no feasible evaluation yet: pass both ref and ideal to compute a hypervolume")
        d_ideal, d_ref = default_bounds(feasible) if ref is None or ideal is None else (None, None)
        return (np.asarray(d_ideal if ideal is None else ideal, dtype=float),
                np.asarray(d_ref if ref is None else ref, dtype=float))

    def hypervolume(self, ref: Any = None, ideal: Any = None) -> float:
        """Normalised hypervolume of the feasible front: the fraction of the box ``[ideal, ref]`` it dominates
        (pymoo's indicator; see `pareto.hypervolume`). Pass ``ref`` (and ``ideal``) in objective units to compare
        runs; raises a ValueError when the front does not dominate ``ref``."""
        ideal, ref = self.bounds(ref, ideal)
        feasible = self.F[self.cv <= 0]
        if len(feasible) == 0:
            raise ValueError("no feasible evaluation: the hypervolume of an empty front is undefined here")
        return hypervolume(feasible, ref, ideal)

    def hypervolume_curve(self, ref: Any = None, ideal: Any = None) -> Any:
        """Hypervolume after each evaluation (a pandas Series indexed by the number of evaluations, 1..n), with the
        same ``ref`` / ``ideal`` for every point (default: those of the final history)."""
        import pandas as pd

        ideal, ref = self.bounds(ref, ideal)
        curve = hypervolume_curve(self.F, ref, ideal, self.cv)
        return pd.Series(curve, index=pd.RangeIndex(1, len(curve) + 1, name="evaluations"), name="hypervolume")

    # ---- picking one ------------------------------------------------------------------------------------------
    def best(self, by: str | None = None, **limits: float) -> Any:
        """The feasible row with the lowest ``by`` (default: the first objective) among those whose columns are at
        most the given limits, e.g. ``result.best(latency=15)`` or ``result.best(by="params", error=0.15)``.
        ``Arch.from_json(row["arch"])`` gives its arch."""
        by = by or self.objectives[0]
        cols = [c for c in self.history.columns if c not in ("arch",)]
        for name in [by, *limits]:
            if name not in self.history.columns:
                raise ValueError(f"unknown column {name!r}; allowed: {', '.join(cols)}")
        rows = self.history[self.history["feasible"].astype(bool)]
        for name, limit in limits.items():
            rows = rows[rows[name] <= limit]
        if len(rows) == 0:
            what = ", ".join(f"{k} <= {v:g}" for k, v in limits.items()) or "the constraints"
            raise ValueError(f"no feasible evaluated sub-network satisfies {what}")
        return rows.sort_values([by, "eval"]).iloc[0]

    # ---- persistence ------------------------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the history as CSV."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.history.to_csv(path, index=False)
        return path

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain data; ``infeasible_message`` is written for readers of the file (it is recomputed
        from the history when read back)."""
        return {"objectives": self.objectives, "units": self.units, "constraints": self.constraints,
                "meta": self.meta, "infeasible_message": self.infeasible_message,
                "history": self.history.to_dict(orient="records")}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write everything (history, objectives, units, constraints, meta) as JSON; `from_json` reads it back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, default=json_default))
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Result":
        return cls(_frame(d["history"], d["objectives"]), list(d["objectives"]), dict(d.get("units", {})),
                   list(d.get("constraints", [])), dict(d.get("meta", {})))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "Result":
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_log(cls, path: str | os.PathLike) -> "Result":
        """The result as far as a search log goes (e.g. of a search still running, or killed)."""
        header, records, _ = read_log(Path(path))
        return cls(_frame(records, header["objectives"]), header["objectives"], header["units"],
                   header["key"]["constraints"], {"log": str(path), "space": header["key"]["space"],
                                                   **header.get("meta", {})})

    # ---- display ----------------------------------------------------------------------------------------------
    def chart(self, x: str | None = None, y: str | None = None, title: str | None = None) -> Any:
        """An Altair chart of all evaluations with the Pareto front (see `pareto.pareto_chart`)."""
        return pareto_chart(self.history, self.objectives, self.pareto_mask(), self.units, x, y, title)

    def __repr__(self) -> str:
        n, front = len(self.history), int(self.pareto_mask().sum())
        reason = self.meta.get("stop_reason")
        return (f"Result({n} evaluations of {', '.join(self.objectives)}, {front} on the Pareto front"
                + (f", constraints {'; '.join(self.constraints)}" if self.constraints else "")
                + (f"; stopped: {reason}" if reason else "") + ")")


def _frame(records: Sequence[dict[str, Any]], objectives: Sequence[str]) -> Any:
    """The history DataFrame of ``records`` (with the standard columns when there are none yet)."""
    import pandas as pd

    cols = ["eval", "arch", *objectives, "feasible", "violation", "time_s", "elapsed_s"]
    df = pd.DataFrame(list(records))
    return df if len(df) else pd.DataFrame(columns=cols)

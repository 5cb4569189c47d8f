"""Multi-objective search of sub-networks: one entry point, `search()`, over the strategies of
`subnet_kit.strategies`, returning a `Result`.

Scope: the loop between a strategy (ask/tell over integer genes) and the objectives (`objectives.py`) — caching,
constraints, callbacks, stopping, the append-only log and resuming from it — and the `Result` it builds.

* `Search` holds the state and advances one evaluation per `Search.step` (the Jupyter widgets drive it from an
  asyncio task so that a Stop button stays responsive); `Search.run` loops until the budget is spent or `stop` is
  called; `search()` is ``Search(...).run()``.
* **No arch is evaluated twice.** A strategy proposing an arch that was already evaluated gets the cached values
  back at once; that neither evaluates nor counts against ``budget`` (budget = distinct archs evaluated). Should a
  strategy propose nothing new for a long time (or the space be exhausted) the search ends early and says so in
  ``result.meta["stop_reason"]``.
* **Log and resume.** With ``log=path``, a JSONL file gets a header line (the settings) and then one line per
  evaluation, flushed and fsync'ed before the search moves on. ``resume=True`` replays the run: the strategy starts
  again from the same seed and each arch it proposes that the log already holds takes the logged values instead of
  being evaluated again, so the strategy reaches exactly the state it had, and the search goes on from there. A
  run killed at any moment loses only the evaluation in flight.
* **Constraints** (``"latency <= 15"``) are passed to the strategy as values ``G <= 0`` (pymoo's inequality
  constraints for ``nsga2``, Optuna's for ``tpe``, constrained Pareto ranks for the others) and decide which
  evaluations are ``feasible``; the Pareto front and hypervolume use feasible evaluations only.

>>> from subnet_kit.space import ModelDims, SearchSpace
>>> space = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "per-layer")
>>> def capacity_gap(arch):                       # a cheap stand-in for the error of a trained sub-network
...     return 1 / (1 + sum(arch.heads) / 12 + sum(arch.ffn) / 1536)
>>> result = search(None, space, None, ["params", capacity_gap], strategy="nsga2", budget=40, seed=0,
...                 constraints=["params <= 20e6"])
>>> len(result.history), result.objectives
(40, ['params', 'capacity_gap'])
>>> front = result.pareto()                    # feasible, non-dominated evaluations
>>> 0 < result.hypervolume() <= 1
True
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .objectives import (
    OBJECTIVES, Constraint, Context, Latency, LatencyPredictor, Objective, PredictedLatency, as_objective,
    get_objective,
)
from .pareto import default_bounds, hypervolume_curve, nondominated_ranks, pareto_chart
from .pareto import hypervolume as _hypervolume
from .space import Arch, SearchSpace
from .strategies import STRATEGIES, Strategy, make_strategy

__all__ = ["search", "Search", "Result", "Callback", "LOG_VERSION"]

LOG_VERSION = 1
LATENCY_MODES = ("measured", "predicted")


# --------------------------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------------------------
class Callback:
    """Subclass and override what you need (pymoo's ``core/callback.py`` in spirit).

    ``on_evaluation(record)``: after every new evaluation (not after replayed or cached ones), with its record
    (the row the history gets). ``on_generation(result)``: after every tell, i.e. once per batch of proposals
    (a generation for ``nsga2``, one proposal for ``local`` / ``morea`` / ``tpe``), with the current `Result`.
    Either may call ``search.stop()``.
    """

    def on_evaluation(self, record: dict[str, Any]) -> None:
        pass

    def on_generation(self, result: "Result") -> None:
        pass


# --------------------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    """What a search found.

    ``history``: one row per evaluation, in order — ``eval`` (0-based), ``arch`` (JSON, `Arch.from_json`), one
    column per objective and per constrained metric, extra columns ``<objective>_<field>`` (e.g.
    ``latency_iqr_ms``), ``feasible``, ``violation`` (summed relative constraint violation), ``time_s`` (wall time
    of the evaluation) and ``elapsed_s`` (since the search started, across resumes).
    """

    history: Any  # pandas.DataFrame
    objectives: list[str]  # names of the minimised objectives (columns of history)
    units: dict[str, str] = field(default_factory=dict)  # unit of each objective / metric column
    constraints: list[str] = field(default_factory=list)  # as text, e.g. "latency <= 15 ms"
    meta: dict[str, Any] = field(default_factory=dict)  # strategy, seed, budget, stop_reason, predictor, ...

    # ---- the front --------------------------------------------------------------------------------------------
    @property
    def F(self) -> np.ndarray:
        """``(n, m)`` objective values of all evaluations (minimised)."""
        return self.history[self.objectives].to_numpy(dtype=float).reshape(len(self.history), len(self.objectives))

    @property
    def cv(self) -> np.ndarray:
        return self.history["violation"].to_numpy(dtype=float) if len(self.history) else np.zeros(0)

    def pareto_mask(self) -> np.ndarray:
        """Boolean mask of the rows on the Pareto front (feasible and non-dominated)."""
        if len(self.history) == 0:
            return np.zeros(0, dtype=bool)
        return (nondominated_ranks(self.F, self.cv) == 0) & (self.cv <= 0)

    def pareto(self) -> Any:
        """The Pareto front: feasible, non-dominated rows of the history, sorted by the first objective."""
        return self.history[self.pareto_mask()].sort_values([*self.objectives, "eval"]).reset_index(drop=True)

    def archs(self, rows: Any = None) -> list[Arch]:
        """The `Arch` of each row of ``rows`` (a DataFrame of history rows; default: the Pareto front)."""
        rows = self.pareto() if rows is None else rows
        return [Arch.from_json(a) for a in rows["arch"]]

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
        return _hypervolume(feasible, ref, ideal)

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
        return {"objectives": self.objectives, "units": self.units, "constraints": self.constraints,
                "meta": self.meta, "history": self.history.to_dict(orient="records")}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write everything (history, objectives, units, constraints, meta) as JSON; `from_json` reads it back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, default=_json_default))
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
        header, records, _ = _read_log(Path(path))
        return cls(_frame(records, header["objectives"]), header["objectives"], header["units"],
                   header["key"]["constraints"], {"log": str(path), **header.get("meta", {})})

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
    import pandas as pd

    cols = ["eval", "arch", *objectives, "feasible", "violation", "time_s", "elapsed_s"]
    df = pd.DataFrame(list(records))
    return df if len(df) else pd.DataFrame(columns=cols)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------------------------------------------
# The log: header line + one line per evaluation, appended and fsync'ed
# --------------------------------------------------------------------------------------------------------------
def _read_log(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """``(header, records, good_bytes)``: a torn last line (a kill during the write) is ignored; ``good_bytes`` is
    where the complete lines end."""
    raw = path.read_bytes()
    header, records, good = None, [], 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn write: the evaluation in flight
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            break
        good += len(line)
        if header is None:
            if entry.get("kind") != "header":
                raise ValueError(f"{path} is not a subnet-kit search log (no header line)")
            header = entry
        else:
            entry.pop("kind", None)
            records.append(entry)
    if header is None:
        raise ValueError(f"{path} holds no complete header line; delete it or use another log path")
    if header.get("version") != LOG_VERSION:
        raise ValueError(f"{path} is a version {header.get('version')} log; this kit reads version {LOG_VERSION}")
    return header, records, good


def _append(path: Path, entry: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return f"{where or 'settings'}: log has {a!r}, this search {b!r}"


# --------------------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------------------
class Search:
    """A multi-objective search in progress; see `search` for the arguments.

    >>> from subnet_kit.space import ModelDims, SearchSpace
    >>> space = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "uniform")
    >>> s = Search(None, space, None, ["params", "flops"], strategy="random", budget=5)
    >>> record = s.step()                      # one evaluation (a dict: the history row)
    >>> record["eval"], len(s.records)
    (0, 1)
    >>> s.run().meta["stop_reason"]
    'budget'
    """

    def __init__(
        self,
        supernet: Any,
        space: SearchSpace,
        task: Any,
        objectives: Sequence["str | Objective | Callable[[Arch], Any]"],
        *,
        strategy: "str | type[Strategy] | Strategy" = "nsga2",
        budget: int = 100,
        seed: int = 0,
        constraints: Iterable[Any] | None = None,
        metrics: Sequence["str | Objective | Callable[[Arch], Any]"] = (),
        callbacks: Iterable[Callback] | None = None,
        log: str | os.PathLike | None = None,
        resume: bool = False,
        eval_limit: int | None = 500,
        latency: "str | LatencyPredictor" = "measured",
        predictor_samples: int = 30,
        strategy_options: dict[str, Any] | None = None,
        progress: bool = False,
        ref: Sequence[float] | None = None,
        max_repeats: int = 200,
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise ValueError(f"space must be a SearchSpace (SearchSpace.for_model(supernet, ...)), got {type(space).__name__}")
        if supernet is not None and getattr(supernet, "dims", None) != space.dims:
            raise ValueError("the space was built for another super-network (its dims differ); use "
                             "SearchSpace.for_model(supernet, ...)")
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
            raise ValueError(f"budget (distinct archs to evaluate) must be an int > 0, got {budget!r}")
        objectives = list(objectives) if not isinstance(objectives, (str, Objective)) else [objectives]
        if not objectives:
            raise ValueError(f"no objectives given; pass one or more of {', '.join(OBJECTIVES)}, "
                             f"an Objective or a callable arch -> float")
        if isinstance(latency, str) and latency not in LATENCY_MODES:
            raise ValueError(f"unknown latency mode {latency!r}; allowed: {', '.join(LATENCY_MODES)} or a LatencyPredictor")
        if resume and log is None:
            raise ValueError("resume=True needs the log to resume from: pass log='path/to/search.jsonl'")

        self.space, self.budget, self.seed = space, int(budget), int(seed)
        self.context = Context(supernet=supernet, space=space, task=task)
        self.objectives = [self._built_in(o, eval_limit) for o in objectives]
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objective names must be distinct, got {names}")
        self.constraints = [Constraint.parse(c) for c in (constraints or [])]
        self.metrics = self._constrained_metrics(metrics, eval_limit)  # measured and recorded, not minimised
        self.callbacks = list(callbacks or [])
        self.progress = progress
        self.max_repeats = max_repeats
        if ref is not None and len(ref) != len(self.objectives):
            raise ValueError(f"ref needs one value per objective ({len(self.objectives)}), got {list(ref)}")
        self.ref = None if ref is None else np.asarray(ref, dtype=float)
        self._hv_box: tuple[np.ndarray, np.ndarray] | None = None
        self.log = Path(log) if log is not None else None
        self.strategy = make_strategy(strategy, space, len(self.objectives), len(self.constraints), self.seed,
                                      **(strategy_options or {}))

        header = self._open_log(resume)  # the previous header when resuming
        self.predictor: LatencyPredictor | None = None
        if isinstance(latency, LatencyPredictor) or latency == "predicted":
            self._use_predictor(latency, header, predictor_samples)
        for o in self.measures:
            o.check_context(self.context)
        self.key = json.loads(json.dumps({
            "strategy": self.strategy.config(), "seed": self.seed, "space": space.to_dict(),
            "objectives": [o.config() for o in self.objectives], "metrics": [o.config() for o in self.metrics],
            "constraints": [str(c) for c in self.constraints],
        }, default=_json_default))
        if header is not None and header["key"] != self.key:
            raise ValueError(f"cannot resume from {self.log}: it was written by a search with other settings "
                             f"({_first_difference(header['key'], self.key)}); use the same settings or a new log")
        if self.log is not None and header is None:
            _append(self.log, self._header())

        self.records: list[dict[str, Any]] = []  # the history, in evaluation order
        self._by_arch: dict[Arch, dict[str, Any]] = {}
        self._pending: list[np.ndarray] = []  # genes of the current ask not yet answered
        self._answered: list[dict[str, Any]] = []  # records answering the current ask, in order
        self._repeats = 0  # proposals in a row that were already evaluated
        self._stop = False
        self.stop_reason: str | None = None
        self._elapsed0 = self._replay[-1]["elapsed_s"] if self._replay else 0.0
        self._t0: float | None = None
        self._bar = None

    # ---- construction helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _built_in(o: Any, eval_limit: int | None) -> Objective:
        if isinstance(o, str) and o == "error":
            return get_objective("error", limit=eval_limit)
        return as_objective(o)

    def _constrained_metrics(self, given: Sequence[Any], eval_limit: int | None) -> list[Objective]:
        """The given metrics, plus a built-in one for each constraint on a name that is not measured otherwise."""
        metrics = [self._built_in(m, eval_limit) for m in given]
        known = {o.name for o in self.objectives}
        if known & {m.name for m in metrics} or len({m.name for m in metrics}) != len(metrics):
            raise ValueError(f"metric names must be distinct and differ from the objectives' ({', '.join(sorted(known))})")
        known |= {m.name for m in metrics}
        for c in self.constraints:
            if c.name not in known and c.name not in OBJECTIVES:
                raise ValueError(f"constraint {str(c)!r} is on {c.name!r}, which is neither an objective of this "
                                 f"search ({', '.join(sorted(known))}) nor a built-in one ({', '.join(OBJECTIVES)})")
            if c.name not in known:
                metrics.append(self._built_in(c.name, eval_limit))
                known.add(c.name)
        units = {o.name: o.unit for o in [*self.objectives, *metrics]}
        for c in self.constraints:
            if c.unit and c.unit != units[c.name]:
                raise ValueError(f"constraint {str(c)!r} is in {c.unit!r} but {c.name} is measured in "
                                 f"{units[c.name]!r}; write the bound in {units[c.name]!r}")
        return metrics

    @property
    def measures(self) -> list[Objective]:
        """Everything measured per arch: the objectives, then the constrained metrics."""
        return [*self.objectives, *self.metrics]

    def _use_predictor(self, latency: "str | LatencyPredictor", header: dict | None, n: int) -> None:
        lists = (self.objectives, self.metrics)
        where = [(lst, i) for lst in lists for i, o in enumerate(lst) if o.name == "latency"]
        if not where:
            raise ValueError("latency='predicted' needs 'latency' among the objectives or constraints")
        lst, i = where[0]
        measured = lst[i] if isinstance(lst[i], Latency) else Latency()
        if isinstance(latency, LatencyPredictor):
            predictor = latency
        elif header is not None and header.get("predictor"):
            predictor = LatencyPredictor.from_dict(header["predictor"])  # resume: the same predictor as before
        else:
            if self.context.supernet is None:
                raise ValueError("latency='predicted' fits the predictor on measured archs: pass a supernet")
            predictor = LatencyPredictor.fit(self.context.supernet, self.space, n, latency=measured, seed=self.seed,
                                             progress=self.progress)
        self.predictor = predictor
        lst[i] = PredictedLatency(predictor, measured)

    def _header(self) -> dict[str, Any]:
        import torch

        return {
            "kind": "header", "version": LOG_VERSION, "key": self.key,
            "objectives": [o.name for o in self.objectives], "units": self.units,
            "predictor": self.predictor.to_dict() if self.predictor else None,
            "meta": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "device": self._device()},
        }

    def _device(self) -> str | None:
        sn = self.context.supernet
        return str(next(sn.parameters()).device) if sn is not None else None

    def _open_log(self, resume: bool) -> dict[str, Any] | None:
        self._replay: list[dict[str, Any]] = []
        if self.log is None:
            return None
        if not self.log.exists() or self.log.stat().st_size == 0:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            return None
        if not resume:
            raise ValueError(f"the log {self.log} already exists; pass resume=True (CLI: --resume) to continue that "
                             f"search, or choose another log path")
        header, records, good = _read_log(self.log)
        if good < self.log.stat().st_size:  # drop the torn last line so that appends start on a fresh line
            with open(self.log, "r+b") as f:
                f.truncate(good)
        self._replay = records
        return header

    @property
    def units(self) -> dict[str, str]:
        return {o.name: o.unit for o in self.measures}

    # ---- the loop ---------------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the budget is spent, the search was stopped, or it can find nothing new."""
        if self._stop:
            self.stop_reason = self.stop_reason or "stopped"
        elif len(self.records) >= self.budget:
            self.stop_reason = "budget"
        elif len(self.records) >= self.space.size():
            self.stop_reason = "space exhausted"
        elif self._repeats > self.max_repeats:
            self.stop_reason = f"no new arch in {self._repeats} proposals"
        else:
            return False
        return True

    def stop(self) -> None:
        """Stop after the evaluation in progress (safe from a callback or another thread): `step` returns None
        and `run` returns. `run` again (or `proceed` then `step`) continues where it stopped."""
        self._stop = True

    def proceed(self) -> None:
        """Undo `stop`, so that `step` evaluates again."""
        self._stop, self.stop_reason = False, None

    def step(self) -> dict[str, Any] | None:
        """Advance until one more arch is in the history (evaluated now, or replayed from the log) and return its
        record; None when the search is done. Proposals already evaluated are answered from the cache on the way."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        while not self.done:
            if not self._pending:
                self._pending = list(self.strategy.ask())
                self._answered = []
            arch = self.space.decode(self._pending[0])
            record = self._by_arch.get(arch)
            fresh = record is None
            if fresh:
                replayed = self._replayed(arch)
                record = replayed or self._evaluate(arch)
                self._add(record)
                self._repeats = 0
                if replayed is None:  # after _add, so that a callback's search.result() holds this evaluation
                    for cb in self.callbacks:
                        cb.on_evaluation(record)
            else:
                self._repeats += 1
            self._pending.pop(0)
            self._answered.append(record)
            if not self._pending:
                self._tell()
            if fresh:
                return record
        return None

    def run(self) -> "Result":
        """Evaluate until done (budget, `stop`, or nothing new to propose); returns the `Result`."""
        from tqdm.auto import tqdm

        self.proceed()
        with tqdm(total=self.budget, initial=len(self.records), desc=f"search ({self.strategy.name})",
                  disable=not self.progress, unit="eval") as self._bar:
            while self.step() is not None:
                pass
        self._bar = None
        result = self.result()
        if self.predictor is not None and self.stop_reason != "stopped":
            self._remeasure_front(result)
            result = self.result()
        return result

    def _replayed(self, arch: Arch) -> dict[str, Any] | None:
        i = len(self.records)
        if i >= len(self._replay):
            return None
        logged = self._replay[i]
        if Arch.from_json(logged["arch"]) != arch:
            raise ValueError(
                f"cannot resume from {self.log}: evaluation {i} was {Arch.from_json(logged['arch']).short()} but "
                f"the search now proposes {arch.short()}; the log was written by different code or objectives that "
                f"are not deterministic in the same way; use a new log"
            )
        return logged

    def _evaluate(self, arch: Arch) -> dict[str, Any]:
        t0 = time.perf_counter()
        values: dict[str, float] = {}
        extras: dict[str, Any] = {}
        for o in self.measures:
            values[o.name], ex = o(arch, self.context)
            extras.update({f"{o.name}_{k}": v for k, v in ex.items()})
        g = [c.g(values[c.name]) for c in self.constraints]
        record = {
            "eval": len(self.records), "arch": arch.to_json(), **values, **extras,
            "feasible": all(v <= 0 for v in g), "violation": float(sum(max(0.0, v) for v in g)),
            "time_s": time.perf_counter() - t0,
            "elapsed_s": self._elapsed0 + time.perf_counter() - self._t0,
        }
        if self.log is not None:
            _append(self.log, {"kind": "eval", **record})
        return record

    def _add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self._by_arch[Arch.from_json(record["arch"])] = record
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(self._progress_info(), refresh=False)

    def hv_box(self, min_points: int = 10) -> tuple[np.ndarray, np.ndarray] | None:
        """``(ideal, ref)`` of the live hypervolume (progress bar, widgets), fixed once chosen so that the live value
        only grows: ``ref`` as given, else the worst values plus 10 % of the range of the first ``min_points``
        feasible evaluations; ``ideal`` 0 (or the best value, if an objective goes below 0). None until then."""
        if self._hv_box is None:
            r = self.result()
            F = r.F[r.cv <= 0]
            if self.ref is None and len(F) < min_points or len(F) == 0:
                return None
            ref = self.ref if self.ref is not None else default_bounds(F)[1]
            self._hv_box = (np.minimum(F.min(0), 0.0), ref)
        return self._hv_box

    def _progress_info(self) -> dict[str, str]:
        r = self.result()
        box = self.hv_box()
        try:
            hv = f"{r.hypervolume(ref=box[1], ideal=box[0]):.3f}" if box is not None else "-"
        except ValueError:  # nothing inside the box yet
            hv = "0"
        return {"hv": hv, "front": str(int(r.pareto_mask().sum()))}

    def _tell(self) -> None:
        F = [[r[o.name] for o in self.objectives] for r in self._answered]
        G = [[c.g(r[c.name]) for c in self.constraints] for r in self._answered]
        self.strategy.tell(F, G if self.constraints else None)
        if self.callbacks:
            result = self.result()
            for cb in self.callbacks:
                cb.on_generation(result)

    def _remeasure_front(self, result: "Result") -> None:
        """latency='predicted': measure the front's latencies for real (column ``latency_measured``)."""
        measured = next(o for o in self.measures if isinstance(o, PredictedLatency)).measured
        for arch in result.archs():
            rec = self._by_arch[arch]
            rec["latency_measured"] = measured(arch, self.context)[0]

    def result(self) -> "Result":
        """The `Result` so far."""
        meta = {
            "strategy": self.strategy.config(), "seed": self.seed, "budget": self.budget,
            "stop_reason": self.stop_reason, "log": str(self.log) if self.log else None,
            "objective_settings": [o.config() for o in self.measures], "device": self._device(),
            "predictor": self.predictor.to_dict() if self.predictor else None,
            "replayed": min(len(self._replay), len(self.records)),
        }
        return Result(_frame(self.records, [o.name for o in self.objectives]), [o.name for o in self.objectives],
                      self.units, [str(c) for c in self.constraints], meta)

    def __repr__(self) -> str:
        return (f"Search({self.strategy!r}, {len(self.records)}/{self.budget} evaluations of "
                f"{', '.join(o.name for o in self.objectives)})")


def search(
    supernet: Any,
    space: SearchSpace,
    task: Any,
    objectives: Sequence["str | Objective | Callable[[Arch], Any]"],
    strategy: "str | type[Strategy] | Strategy" = "nsga2",
    budget: int = 100,
    seed: int = 0,
    callbacks: Iterable[Callback] | None = None,
    log: str | os.PathLike | None = None,
    resume: bool = False,
    constraints: Iterable[Any] | None = None,
    **kwargs: Any,
) -> Result:
    """Search ``space`` for the Pareto front of ``objectives`` (all minimised) and return a `Result`.

    ``supernet``: the (trained) `SuperNet` that ``error``, ``latency`` and ``memory`` run (None if no objective
    needs it). ``task``: the task ``error`` evaluates on. ``objectives``: names ({objectives}), `Objective`
    instances (e.g. ``Latency(batch_size=8, mode="extracted")``) or callables ``arch -> float``.
    ``strategy``: {strategies}, or a `Strategy` class or instance; ``strategy_options={{...}}`` sets its options
    (e.g. ``{{"pop_size": 40}}`` for ``nsga2``). ``budget``: distinct archs to evaluate. ``seed``: same seed, same
    search. ``constraints``: e.g. ``["latency <= 15", ("params", "<=", 10e6)]``, on objectives or on other built-in
    metrics (measured then too). ``callbacks``: `Callback` objects. ``log`` / ``resume``: see the module docstring.
    ``metrics``: more quantities to measure and record per arch without minimising them (names, `Objective`
    instances or callables; e.g. a configured ``Latency(...)`` that a constraint then uses).

    Keyword options: ``eval_limit`` (validation examples for ``"error"``, default 500), ``latency``
    (``"measured"``, ``"predicted"`` — fit a `LatencyPredictor` on ``predictor_samples`` measured archs, search on
    its predictions, then measure the final front into a ``latency_measured`` column — or a fitted predictor),
    ``progress`` (a tqdm bar with the current hypervolume, in the box `Search.hv_box`: ``ref`` if given, else fixed
    after 10 feasible evaluations, so that it only grows), ``ref`` (reference point of that live hypervolume, in
    objective units), ``max_repeats`` (end after that many proposals in a row
    that were all evaluated before).

    >>> from subnet_kit import SuperNet, load_task                              # doctest: +SKIP
    >>> task = load_task("movie-snippets")                                      # doctest: +SKIP
    >>> supernet = SuperNet.from_pretrained("minilm-l6", num_labels=2)          # doctest: +SKIP
    >>> space = SearchSpace.for_model(supernet, "per-layer")                    # doctest: +SKIP
    >>> result = search(supernet, space, task, ["error", "latency"], budget=100,
    ...                 constraints=["latency <= 15"], log="runs/x/search.jsonl")  # doctest: +SKIP
    >>> result.pareto()[["error", "latency", "arch"]]                            # doctest: +SKIP
    """
    return Search(supernet, space, task, objectives, strategy=strategy, budget=budget, seed=seed,
                  constraints=constraints, callbacks=callbacks, log=log, resume=resume, **kwargs).run()


search.__doc__ = search.__doc__.format(
    objectives=", ".join(f"``{n}``" for n in ("error", "params", "flops", "latency", "memory")),
    strategies=", ".join(f"``{n}``" for n in sorted(STRATEGIES)),
)

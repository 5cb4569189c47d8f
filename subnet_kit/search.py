"""Multi-objective search of sub-networks: one entry point, `search()`, over the strategies of
`subnet_kit.strategies`, returning a `Result`.

Scope: the loop between a strategy (ask/tell over integer genes) and the objectives (`objectives.py`, which also
resolves names and settings into objectives) — caching, constraints, callbacks, stopping, extending, replaying a
log when resuming, and the live hypervolume. The `Result` it builds is `result.py`'s; the log file is `_log.py`'s.

* `Search` holds the state and advances one evaluation per `Search.step` (the Jupyter widgets drive it from an
  asyncio task so that a Stop button stays responsive); `Search.run` loops until the budget is spent or `stop` is
  called; `Search.extend` adds budget to a finished search; `search()` is ``Search(...).run()``.
* **Live hypervolume.** `Search.hv_curve` holds the hypervolume after each evaluation in a box fixed once
  (`Search.hv_box`), so it only grows; the progress bar shows its last value and the widgets draw it.
* **Nothing feasible.** When no evaluated arch meets the constraints, `Search.run` warns and
  `Result.infeasible_message` says how far the closest one is from feasible.
* **No arch is evaluated twice.** A strategy proposing an arch that was already evaluated gets the cached values
  back at once; that neither evaluates nor counts against ``budget`` (budget = distinct archs evaluated). Should a
  strategy propose nothing new for a long time (or the space be exhausted) the search ends early and says so in
  ``result.meta["stop_reason"]``.
* **Log and resume.** With ``log=path``, a JSONL file gets a header line (the settings) and then one line per
  evaluation, flushed and fsync'ed before the search moves on. ``resume=True`` replays the run: the strategy starts
  again from the same seed and each arch it proposes that the log already holds takes the logged values instead of
  being evaluated again, so the strategy reaches exactly the state it had, and the search goes on from there. A
  run killed at any moment loses only the evaluations in flight. With ``replay_strategy=False``, `Search.run` of a
  resumed search whose log already holds ``budget`` evaluations takes the first ``budget`` of them as they are,
  without asking the strategy (a model-based strategy's asks cost seconds each: ``gp`` re-asks about a second per
  logged evaluation); the strategy replays the log only if the search goes on (`Search.extend`), and until then
  `Search.strategy` has been told nothing and no ``on_generation`` callback fires for those records.
* **Workers** (``workers=N``, `executor.RayExecutor`): up to N archs of the current batch of proposals are evaluated
  at once on Ray actors (``ray_address``: None starts or joins a local Ray, ``"auto"`` or an address joins a
  cluster; ``worker_options``: ``num_cpus``, ``num_gpus``, ``threads``, ``latency="dedicated"|"per-worker"``).
  Records come back, are logged by this process alone, added and passed to the callbacks in arrival order; the
  strategy is told the batch in its own order once it is answered, so nothing else changes: no arch twice, budget
  = distinct archs, the same resume (a batch's logged records are replayed whatever order they arrived in, with any
  worker count). ``workers=1`` (the default) evaluates in this process. Workers only run archs of the same batch
  at once, so the batch bounds the parallelism: ``nsga2``'s ``pop_size``; the ``batch`` option of the others
  (1 by default for ``gp``, ``tpe``, ``morea`` and ``local``: pass e.g. ``strategy_options={"batch": 2}``); a
  `ParallelismWarning` says so when ``workers`` exceeds it.
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
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ._log import LOG_VERSION, SearchLog, json_default
from .objectives import (
    OBJECTIVES, Constraint, Context, LatencyPredictor, MeasureSettings, Objective, PredictedLatency, predict_latency,
    resolve_objectives,
)
from .pareto import HypervolumeTracker, default_bounds, pareto_mask
from .result import Result, _frame
from .space import Arch, SearchSpace
from .strategies import DEFAULT_STRATEGY, STRATEGIES, Strategy, make_strategy
from .executor import make_executor

__all__ = ["search", "Search", "Result", "Callback", "InfeasibleWarning", "ParallelismWarning", "LOG_VERSION"]

LATENCY_MODES = ("measured", "predicted")
HV_MIN_POINTS = 10  # feasible evaluations that fix the live hypervolume's box when no ``ref`` is given


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


class InfeasibleWarning(UserWarning):
    """`Search.run` ended with no evaluated arch meeting the constraints (the message is
    `Result.infeasible_message`); filter it with ``warnings.simplefilter("ignore", InfeasibleWarning)``."""


class ParallelismWarning(UserWarning):
    """``workers`` exceeds the archs the strategy proposes per ask (its ``batch`` or ``pop_size`` option), so some
    workers stay idle; the message names the option that would use them all."""


def parallelism_warning(strategy: str, options: dict[str, Any], workers: int, cli: bool = False) -> str | None:
    """The `ParallelismWarning` message when ``workers`` exceeds what strategy ``strategy`` (its name) proposes per
    ask with ``options`` (all of them, defaults included: its ``batch``, else its ``pop_size``), else None. The fix
    it names is a ``strategy_options`` dict, or with ``cli`` the CLI's ``--strategy-option``."""
    for option in ("batch", "pop_size"):
        per_ask = options.get(option)
        if isinstance(per_ask, (int, np.integer)) and not isinstance(per_ask, bool):
            if workers <= per_ask:
                return None
            return (f"workers={workers}, but strategy {strategy!r} proposes {int(per_ask)} arch(s) per ask "
                    f"(option {option}) and workers only evaluate archs of the same ask, so at most {int(per_ask)} "
                    f"run at once; pass " + (f"--strategy-option {option}={workers}" if cli else
                                             f"strategy_options={{{option!r}: {workers}}}")
                    + " to keep every worker busy")
    return None


def _check_count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{what} must be an int > 0, got {n!r}")
    return int(n)


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
    >>> s.extend(3)                            # 3 more distinct archs
    >>> len(s.run().history), len(s.hv_curve)
    (8, 0)
    """

    def __init__(
        self,
        supernet: Any,
        space: SearchSpace,
        task: Any,
        objectives: Sequence["str | Objective | Callable[[Arch], Any]"],
        *,
        strategy: "str | type[Strategy] | Strategy" = DEFAULT_STRATEGY,
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
        workers: "int | Any" = 1,
        ray_address: str | None = None,
        worker_options: dict[str, Any] | None = None,
        replay_strategy: bool = True,
    ) -> None:
        _check_setup(supernet, space, latency, resume, log)
        if not isinstance(replay_strategy, (bool, np.bool_)):
            raise ValueError(f"replay_strategy must be True or False, got {replay_strategy!r}")
        self.executor = make_executor(workers, ray_address, worker_options)  # checks workers before any work
        self.space, self.budget, self.seed = space, _check_count(budget, "budget (distinct archs to evaluate)"), int(seed)
        self.context = Context(supernet=supernet, space=space, task=task)
        self.constraints = [Constraint.parse(c) for c in (constraints or [])]
        objs, mets = resolve_objectives(objectives, self.constraints, metrics, MeasureSettings(eval_limit=eval_limit))
        self.callbacks = list(callbacks or [])
        self.progress, self.max_repeats = progress, max_repeats
        if ref is not None and len(ref) != len(objs):
            raise ValueError(f"ref needs one value per objective ({len(objs)}), got {list(ref)}")
        self.ref = None if ref is None else np.asarray(ref, dtype=float)  # the live hypervolume's reference point
        self.strategy = make_strategy(strategy, space, len(objs), len(self.constraints), self.seed,
                                      **(strategy_options or {}))
        if (message := parallelism_warning(self.strategy.name, self.strategy.options, self.executor.workers)):
            warnings.warn(message, ParallelismWarning, stacklevel=2)
        self.log = Path(log) if log is not None else None
        self._log = SearchLog(self.log, resume) if self.log is not None else None  # refuses an existing log early
        self.predictor = self._latency_predictor(latency, [*objs, *mets], predictor_samples)
        self.objectives, self.metrics = predict_latency(objs, mets, self.predictor) if self.predictor else (objs, mets)
        for o in self.measures:
            o.check_context(self.context)
        self.key = self._key()
        if self._log is not None:
            self._log.check(self.key)
            self._log.start(self._header())
        self._replay = self._log.replay if self._log is not None else []  # logged records a resumed run replays

        self.records: list[dict[str, Any]] = []  # the history, in evaluation order
        self._by_arch: dict[Arch, dict[str, Any]] = {}
        self._pending: list[np.ndarray] = []  # genes of the current ask (the whole batch until it is told)
        self._answered: list[dict[str, Any] | None] = []  # records answering the current ask, by position
        self._ready: list[dict[str, Any]] = []  # replayed records of the current ask not yet returned, in log order
        self._replay_left = {Arch.from_json(r["arch"]): i for i, r in enumerate(self._replay)}  # not yet replayed
        self._started = False  # the executor holds the measures (and, on Ray, its actors)
        self._repeats = 0  # proposals in a row that were already evaluated
        self._stop = False
        self.stop_reason: str | None = None
        self._elapsed0 = self._replay[-1]["elapsed_s"] if self._replay else 0.0
        self._t0: float | None = None
        self._bar = None  # the tqdm bar while `run` runs with progress
        self._hv_box: tuple[np.ndarray, np.ndarray] | None = None  # (ideal, ref) of the live hypervolume, once fixed
        self._hv: HypervolumeTracker | None = None  # the live hypervolume in that box
        self._hv_curve: list[float] = []  # its value after each of the first len(_hv_curve) evaluations
        self._n_feasible = 0  # feasible evaluations so far (the box is fixed after HV_MIN_POINTS of them)
        self._replay_strategy = bool(replay_strategy)
        self._untold = False  # the history came from the log without the strategy (replay_strategy=False)

    # ---- construction helpers ---------------------------------------------------------------------------------
    @property
    def measures(self) -> list[Objective]:
        """Everything measured per arch: the objectives, then the constrained metrics."""
        return [*self.objectives, *self.metrics]

    @property
    def units(self) -> dict[str, str]:
        return {o.name: o.unit for o in self.measures}

    def _latency_predictor(self, latency: "str | LatencyPredictor", measures: list[Objective],
                           n: int) -> LatencyPredictor | None:
        """The predictor of ``latency="predicted"`` (or the one given): logged when resuming, else fitted on ``n``
        archs measured by the search's latency objective. None for measured latency."""
        if not (isinstance(latency, LatencyPredictor) or latency == "predicted"):
            return None
        measured = next((o for o in measures if o.name == "latency"), None)
        if measured is None:
            raise ValueError("latency='predicted' needs 'latency' among the objectives or constraints")
        if isinstance(latency, LatencyPredictor):
            return latency
        header = self._log.header if self._log is not None else None
        if header is not None and header.get("predictor"):
            return LatencyPredictor.from_dict(header["predictor"])  # resume: the same predictor as before
        if self.context.supernet is None:
            raise ValueError("latency='predicted' fits the predictor on measured archs: pass a supernet")
        return LatencyPredictor.fit(self.context.supernet, self.space, n, latency=measured, seed=self.seed,
                                    progress=self.progress)

    def _key(self) -> dict[str, Any]:
        """The settings that define the search (a resumed search must have the same ones), as plain JSON data."""
        return json.loads(json.dumps({
            "strategy": self.strategy.config(), "seed": self.seed, "space": self.space.to_dict(),
            "objectives": [o.config() for o in self.objectives], "metrics": [o.config() for o in self.metrics],
            "constraints": [str(c) for c in self.constraints],
        }, default=json_default))

    def _header(self) -> dict[str, Any]:
        import torch

        return {
            "key": self.key, "objectives": [o.name for o in self.objectives], "units": self.units,
            "predictor": self.predictor.to_dict() if self.predictor else None,
            "meta": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "device": self._device()},
        }

    def _device(self) -> str | None:
        sn = self.context.supernet
        return str(next(sn.parameters()).device) if sn is not None else None

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

    def extend(self, n: int) -> None:
        """Evaluate ``n`` more distinct archs than the history holds now: the budget becomes ``len(records) + n`` and
        the next `run` or `step` continues a finished or stopped search from the strategy's state (nothing is
        evaluated again; a search that ran out of new archs gets ``max_repeats`` more proposals to find one). A
        history taken from the log without the strategy (``replay_strategy=False``) is replayed through it first."""
        self.budget = len(self.records) + _check_count(n, "n (more distinct archs to evaluate)")
        self._stop, self.stop_reason, self._repeats = False, None, 0

    def step(self) -> dict[str, Any] | None:
        """Advance until one more arch is in the history (evaluated now, or replayed from the log) and return its
        record; None when the search is done. Proposals already evaluated are answered from the cache on the way.

        With ``workers > 1`` up to ``workers`` archs of the current batch of proposals are evaluated at once and
        records come back in the order they arrive (each is logged, added and passed to the callbacks then); the
        strategy is told the batch, in the order it proposed it, once every proposal is answered."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        if self._untold and not self.done:
            self._catch_up()
        while True:
            if self._ready:  # a replayed record (log order)
                record = self._ready.pop(0)
                self._add(record)
                self._repeats = 0
                self._answer(record)
                return record
            if self.done and not self._ready:
                if not self.executor.in_flight:
                    self.close()
                return None
            if not self._pending:
                self._pending = list(self.strategy.ask())
                self._answered = [None] * len(self._pending)
                self._take_replayed()
                continue
            self._dispatch()
            if self._ready:
                continue
            if all(r is not None for r in self._answered):
                self._tell()
                self._pending, self._answered = [], []
                continue
            if not self.executor.in_flight:  # proposals wait only for the budget: done on the next turn
                if self.done:
                    continue
                raise RuntimeError("the search has proposals to answer but nothing in flight (a bug)")
            arch, values, extras, time_s = self.executor.wait()
            record = self._record(arch, values, extras, time_s)
            self._add(record)
            self._repeats = 0
            for cb in self.callbacks:  # after _add, so that a callback's search.result() holds this evaluation
                cb.on_evaluation(record)
            self._answer(record)
            return record

    def close(self) -> None:
        """Release the workers (Ray actors); `step` or `run` start them again when needed."""
        if self._started:
            self.executor.close()
            self._started = False

    def _take_logged(self) -> None:
        """``replay_strategy=False``: a resumed search whose log holds the budget takes its records as they are."""
        if self._replay_strategy or self.records or len(self._replay) < self.budget:
            return
        for record in self._replay[:self.budget]:
            self._add(record)
        self._untold = True

    def _catch_up(self) -> None:
        """The search goes on after `_take_logged`: start the history again and replay the log through the strategy
        (as a resume with ``replay_strategy=True`` does) up to where it was, without moving the progress bar."""
        n, bar = len(self.records), self._bar
        self._untold, self._bar = False, None
        self.records, self._by_arch = [], {}
        self._hv_box, self._hv, self._hv_curve, self._n_feasible = None, None, [], 0
        try:
            while len(self.records) < n and self.step() is not None:
                pass
        finally:
            self._bar = bar

    def _take_replayed(self) -> None:
        """Queue the logged records of the new batch's proposals, in log order (a parallel run logged them in the
        order they arrived)."""
        if not self._replay_left:
            return
        hits = {self._replay_left[a] for a in map(self.space.decode, self._pending) if a in self._replay_left}
        for i in sorted(hits):
            self._ready.append(self._replay[i])
            del self._replay_left[Arch.from_json(self._replay[i]["arch"])]

    def _dispatch(self) -> None:
        """Answer the current batch's cached proposals and send fresh ones to the executor while it has room,
        never an arch already evaluated, replayed or in flight, and never beyond the budget."""
        fresh = []
        for k, genes in enumerate(self._pending):
            if self._answered[k] is None:
                arch = self.space.decode(genes)
                if arch in self._by_arch:
                    self._answered[k] = self._by_arch[arch]
                    self._repeats += 1
                else:
                    fresh.append(arch)
        if not fresh:
            return
        if self._replay_left:  # the log holds later records, yet this batch proposes an arch it does not hold
            i = len(self.records)
            raise ValueError(
                f"cannot resume from {self.log}: evaluation {i} was {Arch.from_json(self._replay[i]['arch']).short()} "
                f"but the search now proposes {fresh[0].short()}; the log was written by different code or objectives "
                f"that are not deterministic in the same way; use a new log"
            )
        if not self._started:
            self.executor.start(self.measures, self.context)
            self._started = True
        in_flight = set(self.executor.in_flight)
        for arch in fresh:
            if arch in in_flight or self._stop:
                continue
            elif len(self.records) + len(in_flight) < self.budget and self.executor.free() > 0:
                self.executor.submit(arch)
                in_flight.add(arch)

    def _answer(self, record: dict[str, Any]) -> None:
        """Answer the current batch's proposals of ``record``'s arch; tell the strategy once all are answered (before
        the record is returned, so that a search ending on its budget has told its last full batch)."""
        arch = Arch.from_json(record["arch"])
        for k, genes in enumerate(self._pending):
            if self._answered[k] is None and self.space.decode(genes) == arch:
                self._answered[k] = record
        if self._pending and all(r is not None for r in self._answered):
            self._tell()
            self._pending, self._answered = [], []

    def _record(self, arch: Arch, values: dict[str, float], extras: dict[str, Any], time_s: float) -> dict[str, Any]:
        """The history row of a new evaluation, logged (flushed and fsync'ed) before it is returned."""
        g = [c.g(values[c.name]) for c in self.constraints]
        record = {
            "eval": len(self.records), "arch": arch.to_json(), **{o.name: values[o.name] for o in self.measures},
            **extras, "feasible": all(v <= 0 for v in g), "violation": float(sum(max(0.0, v) for v in g)),
            "time_s": time_s, "elapsed_s": self._elapsed0 + time.perf_counter() - self._t0,
        }
        if self._log is not None:
            self._log.append(record)
        return record

    def run(self) -> "Result":
        """Evaluate until done (budget, `stop`, or nothing new to propose); returns the `Result`. When no evaluated
        arch meets the constraints, warns with `Result.infeasible_message` (the result is complete all the same)."""
        from tqdm.auto import tqdm

        self.proceed()
        self._take_logged()
        with tqdm(total=self.budget, initial=len(self.records), desc=f"search ({self.strategy.name})",
                  disable=not self.progress, unit="eval") as bar:
            self._bar = bar
            try:
                while self.step() is not None:
                    pass
            finally:
                self._bar = None
                self.close()
        result = self.result()
        if self.predictor is not None and self.stop_reason != "stopped":
            self._remeasure_front(result)
            result = self.result()
        if result.infeasible_message:
            warnings.warn(result.infeasible_message, InfeasibleWarning, stacklevel=2)
        return result

    def _add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self._by_arch[Arch.from_json(record["arch"])] = record
        self._fix_hv_box(record)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(self._progress_info(), refresh=False)

    # ---- live hypervolume -------------------------------------------------------------------------------------
    def hv_box(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(ideal, ref)`` of the live hypervolume `hv_curve` (progress bar, widgets), fixed once chosen so that the
        live value only grows: ``ref`` as given, else the worst values plus 10 % of the range of the first
        ``HV_MIN_POINTS`` (10) feasible evaluations; ``ideal`` 0 (or the best value, if an objective goes below 0).
        None until then."""
        return self._hv_box

    @property
    def hv_curve(self) -> list[float]:
        """The live hypervolume in `hv_box` after each evaluation: empty until the box is fixed, then one value per
        evaluation (back-filled from the first), equal to ``result().hypervolume_curve(ref, ideal)`` for ``(ideal,
        ref) = hv_box()``; it never decreases. Computed when read (the progress bar and the widgets read it after
        every evaluation), so a search nobody watches does not pay for it."""
        if self._hv is not None and len(self._hv_curve) < len(self.records):
            rest = self.records[len(self._hv_curve):]
            self._hv_curve += [self._hv.add(f, r["violation"]) for f, r in zip(self._F(rest), rest)]
        return self._hv_curve

    def _fix_hv_box(self, record: dict[str, Any]) -> None:
        """Fix the box of the live hypervolume once ``record`` makes enough feasible evaluations (see `hv_box`)."""
        self._n_feasible += int(record["violation"] <= 0)
        if self._hv is not None or self._n_feasible == 0 or self.ref is None and self._n_feasible < HV_MIN_POINTS:
            return
        feasible = self._F([r for r in self.records if r["violation"] <= 0])
        ref = self.ref if self.ref is not None else default_bounds(feasible)[1]
        ideal = np.minimum(feasible.min(0), 0.0)
        ideal = np.where(ideal < ref, ideal, ref - np.maximum(np.abs(ref), 1.0))  # a valid box whatever ref is
        self._hv_box, self._hv = (ideal, ref), HypervolumeTracker(ref, ideal)

    def _F(self, records: Sequence[dict[str, Any]] | None = None) -> np.ndarray:
        records = self.records if records is None else records
        return np.array([[r[o.name] for o in self.objectives] for r in records], dtype=float).reshape(
            len(records), len(self.objectives))

    def _progress_info(self) -> dict[str, str]:
        cv = np.array([r["violation"] for r in self.records], dtype=float)
        return {"hv": f"{self.hv_curve[-1]:.3f}" if self.hv_curve else "-",
                "front": str(int(pareto_mask(self._F(), cv).sum()))}

    # ---- telling and reporting --------------------------------------------------------------------------------
    def _tell(self) -> None:
        F = [[r[o.name] for o in self.objectives] for r in self._answered]
        G = [[c.g(r[c.name]) for c in self.constraints] for r in self._answered]
        self.strategy.tell(F, G if self.constraints else None)
        if self.callbacks:
            result = self.result()
            for cb in self.callbacks:
                cb.on_generation(result)

    def _remeasure_front(self, result: "Result") -> None:
        """latency='predicted': measure the front's latencies for real (column ``latency_measured``; archs
        measured by an earlier `run` keep their value)."""
        measured = next(o for o in self.measures if isinstance(o, PredictedLatency)).measured
        for arch in result.archs():
            rec = self._by_arch[arch]
            if "latency_measured" not in rec:
                rec["latency_measured"] = measured(arch, self.context)[0]

    def result(self) -> "Result":
        """The `Result` so far."""
        meta = {
            "strategy": self.strategy.config(), "seed": self.seed, "budget": self.budget,
            "stop_reason": self.stop_reason, "log": str(self.log) if self.log else None,
            "objective_settings": [o.config() for o in self.measures], "device": self._device(),
            "predictor": self.predictor.to_dict() if self.predictor else None,
            "replayed": min(len(self._replay), len(self.records)),
            "workers": self.executor.workers, "space": self.space.to_dict(),  # Result's full_model column
        }
        names = [o.name for o in self.objectives]
        return Result(_frame(self.records, names), names, self.units, [str(c) for c in self.constraints], meta)

    def __repr__(self) -> str:
        return (f"Search({self.strategy!r}, {len(self.records)}/{self.budget} evaluations of "
                f"{', '.join(o.name for o in self.objectives)})")


def _check_setup(supernet: Any, space: Any, latency: Any, resume: bool, log: Any) -> None:
    """The cheap checks of `Search`'s arguments, before anything is built."""
    if not isinstance(space, SearchSpace):
        raise ValueError(f"space must be a SearchSpace (SearchSpace.for_model(supernet, ...)), got {type(space).__name__}")
    if supernet is not None and getattr(supernet, "dims", None) != space.dims:
        raise ValueError("the space was built for another super-network (its dims differ); use "
                         "SearchSpace.for_model(supernet, ...)")
    if isinstance(latency, str) and latency not in LATENCY_MODES:
        raise ValueError(f"unknown latency mode {latency!r}; allowed: {', '.join(LATENCY_MODES)} or a LatencyPredictor")
    if resume and log is None:
        raise ValueError("resume=True needs the log to resume from: pass log='path/to/search.jsonl'")


def search(
    supernet: Any,
    space: SearchSpace,
    task: Any,
    objectives: Sequence["str | Objective | Callable[[Arch], Any]"],
    strategy: "str | type[Strategy] | Strategy" = DEFAULT_STRATEGY,
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
    instances or callables; e.g. a configured ``Latency(...)`` that a constraint then uses). Names are resolved by
    `objectives.resolve_objectives`. When no evaluated arch meets the constraints, an `InfeasibleWarning` says so and
    ``result.infeasible_message`` holds the report.

    Keyword options: ``eval_limit`` (validation examples for ``"error"``, default 500), ``latency``
    (``"measured"``, ``"predicted"`` — fit a `LatencyPredictor` on ``predictor_samples`` measured archs, search on
    its predictions, then measure the final front into a ``latency_measured`` column — or a fitted predictor),
    ``progress`` (a tqdm bar with the current hypervolume, in the box `Search.hv_box`: ``ref`` if given, else fixed
    after 10 feasible evaluations, so that it only grows), ``ref`` (reference point of that live hypervolume, in
    objective units), ``max_repeats`` (end after that many proposals in a row
    that were all evaluated before), ``workers`` (sub-networks evaluated at once on Ray actors; 1, the default,
    evaluates in this process; see the module docstring), ``ray_address`` and ``worker_options`` (options of
    `executor.RayExecutor`: ``num_cpus``, ``num_gpus``, ``threads``, ``latency``).

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
    objectives=", ".join(f"``{n}``" for n in OBJECTIVES),
    strategies=", ".join(f"``{n}``" for n in sorted(STRATEGIES)),
)

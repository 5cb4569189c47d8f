"""`SearchRun`: the state of one dashboard's search as traits, with no UI (the mwcraig/ipywidgets-examples ``gui.py``
pattern: a traitlets model, and a view that links its controls to it).

Settings of the next search (``strategy``, ``budget``, ``seed``) and the run state (``n``, ``total``, ``hv``,
``front``, ``noisy``, ``state``, ``message``, ``selected``) are traits; the search itself is a
`subnet_kit.search.Search` built by the ``new_search(strategy, budget, seed)`` function the view passes in. The
model only advances that search and reads its state: the hypervolume is ``Search.hv_curve``, a larger budget is
``Search.extend``, the notes on a result are ``Result.infeasible_message`` and
`subnet_kit.objectives.noisy_latency_note`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import traitlets as T

from subnet_kit.objectives import noisy_latency_note
from subnet_kit.search import Result, Search
from subnet_kit.space import Arch
from subnet_kit.strategies import DEFAULT_STRATEGY, STRATEGIES

STATES = ("ready", "running", "stopped", "done", "failed")


class SearchRun(T.HasTraits):
    """One search's settings and progress. ``new_search(strategy, budget, seed) -> Search`` builds a search;
    changing ``strategy`` or ``seed`` (or calling `discard`) makes the next `begin` build a new one, a larger
    ``budget`` extends the current one."""

    strategy = T.Unicode(DEFAULT_STRATEGY)  # the next search's strategy (one of subnet_kit.strategies.STRATEGIES)
    budget = T.Int(40)  # distinct archs the search evaluates in all
    seed = T.Int(0)  # the next search's seed
    n = T.Int(0)  # evaluations in the history
    total = T.Int(0)  # the running search's budget
    hv = T.Float(None, allow_none=True)  # latest live hypervolume (Search.hv_curve); None before its box is fixed
    front = T.Int(0)  # evaluations on the Pareto front
    noisy = T.Int(0)  # evaluations whose latency measurement was flagged noisy (``latency_noisy``)
    pace_s = T.Float(None, allow_none=True)  # wall time of the latest evaluation
    state = T.Enum(STATES, "ready")  # ready, running, stopped, done or failed
    message = T.Unicode("")  # the error that stopped the search, or notes on its result
    selected = T.Instance(Arch, allow_none=True)  # the arch picked in the chart (or by the dashboard's select())

    def __init__(self, new_search: Callable[[str, int, int], Search], strategy: str, budget: int, seed: int) -> None:
        check_settings(strategy, budget)
        super().__init__(strategy=strategy, budget=int(budget), seed=int(seed))
        self.new_search = new_search
        self.search: Search | None = None

    @T.observe("strategy", "seed")
    def _settings_changed(self, change: dict) -> None:
        self.discard()

    def discard(self) -> None:
        """Forget the current search: the next `begin` builds a new one (its history stays in its log, if any)."""
        self.search = None

    @property
    def result(self) -> Result | None:
        return self.search.result() if self.search is not None else None

    def begin(self) -> Search:
        """The search to advance, made ready to step: the current one (extended to ``budget``, or continued after a
        stop) or a new one. Bad settings raise a ValueError, also shown in ``message``."""
        try:
            check_settings(self.strategy, self.budget)
            if self.search is None:
                self.search = self.new_search(self.strategy, self.budget, self.seed)
            elif self.budget > len(self.search.records):
                self.search.extend(self.budget - len(self.search.records))
            else:
                self.search.proceed()
        except ValueError as e:
            self.message = str(e)
            raise
        with self.hold_trait_notifications():
            self.message, self.state = "", "running"
            self.refresh()
        return self.search

    def step(self) -> bool:
        """One evaluation; False when the search is done."""
        record = self.search.step()
        if record is None:
            return False
        with self.hold_trait_notifications():
            self.pace_s = float(record["time_s"])
            self.refresh()
        return True

    def finish(self, error: BaseException | None = None) -> None:
        """The run ended: its state, and the error or the notes on its result (`Result.infeasible_message`, noisy
        latency measurements) in ``message``."""
        with self.hold_trait_notifications():
            self.refresh()
            if error is not None:
                self.state, self.message = "failed", f"{type(error).__name__}: {error}"
            else:
                self.state = "stopped" if self.search.stop_reason == "stopped" else "done"
                self.message = self._notes()

    def stop(self) -> None:
        if self.search is not None:
            self.search.stop()

    def refresh(self) -> None:
        """Copy the search's progress into the traits."""
        s = self.search
        records = s.records if s is not None else []
        self.total = s.budget if s is not None else self.budget
        self.n = len(records)
        self.hv = s.hv_curve[-1] if s is not None and s.hv_curve else None
        self.front = int(self.result.pareto_mask().sum()) if records else 0
        self.noisy = sum(bool(r.get("latency_noisy", False)) for r in records)

    def _notes(self) -> str:
        """The library's notes on the result: nothing feasible, noisy latency measurements."""
        if not self.n:
            return ""
        result = self.result
        notes = [result.infeasible_message, noisy_latency_note(result.history, result.pareto())]
        return "\n".join(n for n in notes if n)


def check_settings(strategy: str, budget: Any) -> None:
    """The two settings a user types in the dashboard, checked before a search is built or extended."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; allowed: {', '.join(sorted(STRATEGIES))}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget (distinct archs to evaluate) must be an int >= 1, got {budget!r}")

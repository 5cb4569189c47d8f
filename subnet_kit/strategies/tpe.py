"""``tpe``: a model-based strategy — Optuna's multi-objective TPE sampler, driven through ask/tell."""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import numpy as np

from .base import Strategy


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO and warns about experimental features: silence both, then restore."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


class TPE(Strategy):
    """Optuna's ``TPESampler`` (multi-objective TPE, Ozaki et al. 2020/2022), seeded, over one integer parameter
    per gene; constraints are set on each trial (``Trial.set_constraint``: feasible trials are preferred). After
    ``n_startup`` random trials, each ask is one trial chosen by the density-ratio model of the trials so far.

    Options: ``n_startup`` (random trials first), ``n_ei_candidates`` (candidates scored per ask).
    """

    name = "tpe"
    defaults = {"n_startup": 10, "n_ei_candidates": 24}

    def _setup(self) -> None:
        import optuna

        with _quiet_optuna():
            sampler = optuna.samplers.TPESampler(
                seed=self.seed, n_startup_trials=self.options["n_startup"],
                n_ei_candidates=self.options["n_ei_candidates"],
            )
            self.study = optuna.create_study(directions=["minimize"] * self.n_obj, sampler=sampler)
        self._names = self.space.variable_names
        self._trial = None

    def _ask(self) -> np.ndarray:
        with _quiet_optuna():
            self._trial = self.study.ask()
            return np.array([[self._trial.suggest_int(n, 0, int(u)) for n, u in zip(self._names, self.space.xu)]])

    def _tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        with _quiet_optuna():
            for i, g in enumerate(G[0]):
                self._trial.set_constraint(f"c{i}", float(g))
            self.study.tell(self._trial, F[0].tolist())

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
    ``n_startup`` random trials, each ask is ``batch`` trials chosen by the density-ratio model of the trials so far.

    Options: ``n_startup`` (random trials first), ``n_ei_candidates`` (candidates scored per trial), ``batch``
    (trials proposed per ask, default 1). With ``batch > 1`` (e.g. ``strategy_options={"batch": 2}`` for a search
    with ``workers=2``) the sampler is built with ``constant_liar=True``: the trials of the same batch that are not
    answered yet count as pending points with the worst values seen, so that one batch does not pile up on one
    spot. The archs of one batch are distinct: a trial that decodes to an arch already in the batch (or already
    told) is discarded (marked failed, which TPE ignores) and asked again, up to ``20 * batch`` tries. ``batch=1``
    is exactly the sequential sampler of before (same proposals for the same seed, same log key).

    ``anchors`` (default True): the largest and the smallest arch are enqueued (``study.enqueue_trial``) as the
    first two trials; they count among the ``n_startup`` trials. ``anchors=False``: no enqueued trials, the
    proposals of before the option existed.
    """

    name = "tpe"
    defaults = {"n_startup": 10, "n_ei_candidates": 24, "batch": 1, "anchors": True}
    compat_defaults = {"batch": 1, "anchors": False}  # logs written before these options resume

    def _setup(self) -> None:
        import optuna

        self.batch = self.batch_size()
        with _quiet_optuna():
            sampler = optuna.samplers.TPESampler(
                seed=self.seed, n_startup_trials=self.options["n_startup"],
                n_ei_candidates=self.options["n_ei_candidates"], constant_liar=self.batch > 1,
            )
            self.study = optuna.create_study(directions=["minimize"] * self.n_obj, sampler=sampler)
        self._names = self.space.variable_names
        if self.options["anchors"]:
            with _quiet_optuna():
                for x in self.anchor_genes():
                    self.study.enqueue_trial({n: int(v) for n, v in zip(self._names, x)})
        self._trials: list = []

    def _ask_one(self) -> tuple:
        trial = self.study.ask()
        return trial, np.array([trial.suggest_int(n, 0, int(u)) for n, u in zip(self._names, self.space.xu)])

    def _ask(self) -> np.ndarray:
        import optuna

        with _quiet_optuna():
            if self.batch == 1:
                trial, x = self._ask_one()
                self._trials = [trial]
                return x[None, :]
            self._trials, rows, archs = [], [], set()
            tries = 0
            while len(rows) < self.batch:
                trial, x = self._ask_one()
                tries += 1
                arch = self.space.decode(x)
                if (arch in archs or arch in self.seen) and tries < 20 * self.batch:
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)  # ignored by the sampler
                    continue
                self._trials.append(trial)
                rows.append(x)
                archs.add(arch)
            return np.stack(rows)

    def _tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        with _quiet_optuna():
            for trial, f, g in zip(self._trials, F, G):
                for i, gi in enumerate(g):
                    trial.set_constraint(f"c{i}", float(gi))
                self.study.tell(trial, f.tolist())
        self._trials = []

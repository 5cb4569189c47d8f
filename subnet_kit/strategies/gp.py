"""``gp``: multi-objective Bayesian optimisation — Optuna's ``GPSampler`` (log expected hypervolume improvement,
constrained when the search has constraints), driven through ask/tell."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Strategy
from .tpe import TPE, _quiet_optuna

# Asks of the sampler per batch before the rest of the batch is filled with random genes (see `GP`).
_SAMPLER_TRIES_PER_PROPOSAL = 2
_RANDOM_TRIES_PER_PROPOSAL = 100


class GP(Strategy):
    """Gaussian-process Bayesian optimisation through Optuna's ``GPSampler``, seeded, over one integer parameter
    per gene. After ``n_startup`` trials, each objective (and each constraint) gets a GP (Matern 5/2 kernel with
    automatic relevance determination, fitted by maximum a posteriori on the standardised values), and each trial is
    the arch that maximises an acquisition function over the GPs: with several objectives the log expected
    hypervolume improvement (logEHVI, Monte Carlo over the posterior), with one the log expected improvement;
    with constraints the constrained variant (improvement over the feasible points times the GP probability that
    every constraint is met, so proposals move into the feasible set). Constraint values reach the sampler as
    ``Trial.set_constraint`` (Optuna 5's replacement of the deprecated ``constraints_func``).

    Options:

    * ``n_startup`` (default 10, an int >= 1): trials before the GP is used, drawn uniformly at random (Optuna's
      ``RandomSampler`` with the same seed). **The anchors count as startup trials**: with the defaults, the
      largest arch, the smallest, then 8 random ones.
    * ``batch`` (default 1, an int >= 1): proposals per ask (e.g. ``batch=2`` for a search with ``workers=2``).
      The trials of a batch that are not told yet are pending points of the acquisition (Optuna's qLogEHVI with
      running trials), so one batch does not pile up on one spot.
    * ``anchors`` (default True): the first two proposals are the largest and the smallest arch of the space
      (enqueued in the Optuna study before any other trial), so the front always shows the full model and the
      cheapest end. ``anchors=False`` starts with random trials only.
    * ``deterministic`` (default False): Optuna's ``deterministic_objective``; True fixes the noise variance of the
      GPs near zero (interpolation). The default models noise: the error of a sub-network is a noisy estimate (a
      finite validation set, weights shared with other sub-networks).

    Every ask returns distinct archs that were never told before: a trial that decodes to an arch already in the
    batch or already told is discarded (marked failed, which the sampler ignores) and the sampler is asked again,
    up to ``2 * batch`` asks per batch; if it keeps repeating itself (a converged acquisition), the rest of the batch
    is filled with uniform random archs not seen yet (enqueued as trials, so the GP learns from them too). Only
    when even random draws find nothing new (an exhausted space) does an ask return a repeat, and the search then
    ends early as it does for any strategy.

    Cost: each ask after the startup fits the GPs (one per objective and per constraint) and optimises the
    acquisition (2048 quasi-random candidates, then local search on the integer grid from the best of them and from
    points of the current front); it grows with the trials told and with the number of genes. Measured with one
    thread on a busy 2-core machine (load 5-6): about 2 to 2.6 s per ask with 5 to 14 trials told on the 4-gene
    ``uniform`` space of MiniLM, and 0.7 to 2.4 s per ask with 10 to 70 told on the 14-gene ``per-layer`` space
    (a cheap two-objective test function); a 200-evaluation run of ``benchmarks/bench_search.py`` took about 2
    minutes on an idle machine and up to 6 on a busy one (``strategy_s`` in ``results/search.json``). In the main job
    (``subnet-kit quickstart``, 40 evaluations, super-network cached) it takes nearly twice as long as with
    ``linas`` (``benchmarks/results/quickstart.json``). It is worth it when evaluations are expensive and the budget is
    small (tens to a hundred or two evaluations): each proposal uses everything evaluated so far. For large
    budgets of cheap evaluations, ``nsga2``, ``morea`` or ``tpe`` cost far less per proposal.

    References: S. Daulton, M. Balandat, E. Bakshy, "Differentiable Expected Hypervolume Improvement for Parallel
    Multi-Objective Bayesian Optimization", NeurIPS 2020 (qEHVI; qNEHVI in NeurIPS 2021); S. Ament, S. Daulton,
    D. Eriksson, M. Balandat, E. Bakshy, "Unexpected Improvements to Expected Improvement for Bayesian
    Optimization", NeurIPS 2023 (logEI / logEHVI); Optuna's ``optuna.samplers.GPSampler``
    (https://optuna.readthedocs.io/en/stable/reference/samplers/generated/optuna.samplers.GPSampler.html).
    """

    name = "gp"
    defaults = {"n_startup": 10, "batch": 1, "anchors": True, "deterministic": False}
    compat_defaults = {"anchors": False}

    def _setup(self) -> None:
        import optuna

        self.batch = self.batch_size()
        n = self.options["n_startup"]
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"option n_startup of strategy 'gp' (random trials before the GP) must be an int >= 1, "
                             f"got {n!r}")
        for key in ("anchors", "deterministic"):
            if not isinstance(self.options[key], (bool, np.bool_)):
                raise ValueError(f"option {key} of strategy 'gp' must be True or False, got {self.options[key]!r}")
        self._names = self.space.variable_names
        with _quiet_optuna():
            sampler = optuna.samplers.GPSampler(
                seed=self.seed, n_startup_trials=int(n), deterministic_objective=bool(self.options["deterministic"]),
                warn_independent_sampling=False,
            )
            self.study = optuna.create_study(directions=["minimize"] * self.n_obj, sampler=sampler)
            if self.options["anchors"]:
                for x in self.anchor_genes():
                    self.study.enqueue_trial(self._params(x))
        self._trials: list = []

    def _params(self, x: np.ndarray) -> dict[str, int]:
        return {name: int(v) for name, v in zip(self._names, x)}

    def _ask_one(self) -> tuple[Any, np.ndarray]:
        trial = self.study.ask()
        x = np.array([trial.suggest_int(name, int(lo), int(hi))
                      for name, lo, hi in zip(self._names, self.space.xl, self.space.xu)], dtype=np.int64)
        return trial, x

    def _ask(self) -> np.ndarray:
        import optuna

        rows: list[np.ndarray] = []
        archs: set = set()
        self._trials = []

        def take(trial: Any, x: np.ndarray) -> bool:
            arch = self.space.decode(x)
            if arch in archs or arch in self.seen:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)  # ignored by the sampler
                return False
            self._trials.append(trial)
            rows.append(x)
            archs.add(arch)
            return True

        with _quiet_optuna():
            tries = 0
            while len(rows) < self.batch and tries < _SAMPLER_TRIES_PER_PROPOSAL * self.batch:
                tries += 1
                take(*self._ask_one())
            tries = 0
            while len(rows) < self.batch and tries < _RANDOM_TRIES_PER_PROPOSAL * self.batch:
                tries += 1
                x = self.random_genes(1)[0]
                arch = self.space.decode(x)
                if arch in archs or arch in self.seen:
                    continue
                self.study.enqueue_trial(self._params(x))
                take(*self._ask_one())
            if not rows:  # nothing new found: an exhausted space; the search answers the repeat from its cache
                trial, x = self._ask_one()
                self._trials.append(trial)
                rows.append(x)
        return np.stack(rows)

    _tell = TPE._tell  # the same Optuna ask/tell: each trial of the batch gets its values and constraint values

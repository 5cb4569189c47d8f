"""``morea``: multi-objective regularized evolution (aging evolution with Pareto-rank tournaments)."""

from __future__ import annotations

import numpy as np

from .base import Strategy


class MOREA(Strategy):
    """Regularized evolution (Real et al. 2019) for several objectives: the population is the ``pop_size`` most
    recently evaluated archs (the oldest dies when a child arrives); each child changes one gene (to any other
    value) of the winner of a tournament of ``sample_size`` random members. The winner has the best constrained
    non-dominated rank in the tournament; ties go to the member in the sparsest part of the population's front
    (largest crowding distance), so the front spreads out.

    Options: ``pop_size`` (random archs first, then the population size), ``sample_size``, ``batch`` (children
    per ask, each from its own tournament; > 1 keeps parallel workers busy, e.g. ``batch=2`` with ``workers=2``),
    ``anchors`` (default True: the first ``pop_size`` archs are `initial_design`, the largest and the smallest arch
    then random ones; ``False``: all random, as before the option existed).
    """

    name = "morea"
    defaults = {"pop_size": 20, "sample_size": 10, "batch": 1, "anchors": True}
    compat_defaults = {"batch": 1, "anchors": False}

    def _setup(self) -> None:
        self.batch = self.batch_size()
        if not 1 <= self.options["sample_size"] <= self.options["pop_size"]:
            raise ValueError(f"morea needs 1 <= sample_size <= pop_size, got {self.options}")

    def _ask(self) -> np.ndarray:
        pop = self.options["pop_size"]
        if len(self.X) == 0:
            return self.initial_design(max(pop, 2) if self.options["anchors"] else pop)
        alive = np.arange(max(0, len(self.X) - pop), len(self.X))  # the pop_size youngest
        front = alive[self.ranks(alive) == 0]
        children = []
        for _ in range(self.batch):
            sample = self.rng.choice(alive, size=min(self.options["sample_size"], len(alive)), replace=False)
            best = sample[self.ranks(sample) == 0]
            children.append(self.mutate(self.X[self.sparsest(best, front)]))
        return np.array(children)

"""``local``: multi-objective (Pareto) local search — mutate members of the current Pareto front to neighbours."""

from __future__ import annotations

import numpy as np

from .base import Strategy


class LocalSearch(Strategy):
    """Pareto local search (Paquete et al. 2004) with the neighbourhood of NAS local search (White et al. 2021:
    archs that differ in one choice): after ``n_init`` random archs, each ask takes a member of the current
    constrained Pareto front (feasible first) — the sparser of two random members, by crowding distance — and
    changes one of its genes to another value, preferring an arch not seen before (``tries`` attempts).

    Options: ``n_init`` (random archs first), ``tries``, ``batch`` (neighbours per ask, distinct where the tries
    allow; > 1 keeps parallel workers busy), ``anchors`` (default True: the first ``n_init`` archs are
    `initial_design`, the largest and the smallest arch then random ones; ``False``: all random, as before the
    option existed).
    """

    name = "local"
    defaults = {"n_init": 10, "tries": 20, "batch": 1, "anchors": True}
    compat_defaults = {"batch": 1, "anchors": False}

    def _setup(self) -> None:
        self.batch = self.batch_size()

    def _ask(self) -> np.ndarray:
        if len(self.X) == 0:
            n = self.options["n_init"]
            return self.initial_design(max(n, 2) if self.options["anchors"] else n)
        front = np.flatnonzero(self.ranks() == 0)
        children: list[np.ndarray] = []
        taken = set(self.seen)
        for _ in range(self.batch):
            for _ in range(self.options["tries"]):
                pair = self.rng.choice(front, size=min(2, len(front)), replace=False)
                child = self.mutate(self.X[self.sparsest(pair, front)])
                if self.space.decode(child) not in taken:
                    break
            taken.add(self.space.decode(child))
            children.append(child)
        return np.array(children)

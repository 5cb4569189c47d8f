"""``nsga2``: NSGA-II from pymoo, driven through ask/tell over the integer genes."""

from __future__ import annotations

import numpy as np

from .base import Strategy


class NSGA2(Strategy):
    """pymoo's NSGA-II (Deb et al. 2002) with integer variables as pymoo's documentation sets them up: integer
    random sampling, SBX crossover and polynomial mutation on floats with a rounding repair, duplicates removed.
    Constraints are pymoo inequality constraints (``G <= 0``), handled by constraint domination.

    The first ask returns the initial population, each later one ``pop_size`` offspring (one generation). With
    ``anchors`` (default) the initial population is `initial_design` (the largest and the smallest arch, then random
    archs drawn from ``self.rng``), given to pymoo as ``sampling=<genes>`` (its duplicate elimination then drops only
    a random arch that repeats another); with ``anchors=False`` it is pymoo's ``IntegerRandomSampling``, exactly the
    proposals of before the option existed.

    Options: ``pop_size``, ``eta_c`` (crossover distribution index), ``eta_m`` (mutation distribution index),
    ``anchors``.
    """

    name = "nsga2"
    defaults = {"pop_size": 20, "eta_c": 3.0, "eta_m": 3.0, "anchors": True}
    compat_defaults = {"anchors": False}  # logs written before the option resume with anchors=False

    def _setup(self) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2 as _NSGA2
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair
        from pymoo.operators.sampling.rnd import IntegerRandomSampling

        o = self.options
        sampling = self.initial_design(max(o["pop_size"], 2)) if o["anchors"] else IntegerRandomSampling()
        self.problem = Problem(n_var=self.space.n_var, n_obj=self.n_obj, n_ieq_constr=self.n_constr,
                               xl=self.space.xl, xu=self.space.xu, vtype=int)
        self.algorithm = _NSGA2(
            pop_size=o["pop_size"], sampling=sampling,
            crossover=SBX(prob=1.0, eta=o["eta_c"], vtype=float, repair=RoundingRepair()),
            mutation=PM(prob=1.0, eta=o["eta_m"], vtype=float, repair=RoundingRepair()),
            eliminate_duplicates=True,
        )
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=self.seed, verbose=False)
        self._pop = None

    def _ask(self) -> np.ndarray:
        self._pop = self.algorithm.ask()
        return self._pop.get("X")

    def _tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        values = {"F": F, "G": G} if self.n_constr else {"F": F}
        Evaluator().eval(StaticProblem(self.problem, **values), self._pop)
        self.algorithm.tell(infills=self._pop)

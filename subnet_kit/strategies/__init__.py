"""Search strategies: small ask/tell classes over the integer encoding of a `SearchSpace`.

Every module of this package defines one strategy (a `Strategy` subclass with a unique ``name``, which registers
it in `STRATEGIES`); the package imports each module by name below and re-exports its class, so the list here is the
list of strategies. ``search(strategy=...)`` takes a registered name, a `Strategy` subclass, or an instance; adding a
strategy is one file plus one import line here.

=========  ==============  =====================================================================================
``random``  `RandomSearch`  uniform random sampling (the baseline every other strategy must beat)
``local``   `LocalSearch`   Pareto local search: mutate members of the current Pareto front to their grid neighbours
``nsga2``   `NSGA2`         NSGA-II (pymoo) through ask/tell, integer sampling, SBX + polynomial mutation with rounding
                            repair
``morea``   `MOREA`         multi-objective regularized (aging) evolution
``tpe``     `TPE`           Optuna's multi-objective TPE sampler (model-based) through ask/tell
``linas``   `LINAS`         predictor-assisted evolution: ridge-ensemble surrogates screen many offspring per
                            generation, only the most promising are evaluated
``gp``      `GP`            multi-objective Bayesian optimisation: Optuna's GPSampler (logEHVI, constrained), for small
                            budgets; **the default** (`DEFAULT_STRATEGY`)
=========  ==============  =====================================================================================
"""

from .base import STRATEGIES, Strategy, make_strategy
from .gp import GP
from .linas import LINAS
from .local import LocalSearch
from .morea import MOREA
from .nsga2 import NSGA2
from .random import RandomSearch
from .tpe import TPE

__all__ = ["STRATEGIES", "DEFAULT_STRATEGY", "Strategy", "make_strategy", "RandomSearch", "LocalSearch", "NSGA2", "MOREA",
           "TPE", "LINAS", "GP"]

#: The strategy of `search()`, `Search`, the CLI and the dashboard when none is named: the one that measured best in
#: ``benchmarks/bench_search.py`` (``benchmarks/results/search.json``: ``summary.best_of_ours``; a test holds the two
#: together). ``gp`` proposes one arch per ask by default: with ``workers=N`` pass ``strategy_options={"batch": N}``.
DEFAULT_STRATEGY = "gp"

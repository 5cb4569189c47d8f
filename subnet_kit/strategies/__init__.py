"""Search strategies: small ask/tell classes over the integer encoding of a `SearchSpace`.

Every module of this package defines one strategy (a `Strategy` subclass with a unique ``name``); importing the
package registers them all in `STRATEGIES`, so adding a strategy is adding one file. ``search(strategy=...)``
takes a registered name, a `Strategy` subclass, or an instance.

=========  ===================================================================================================
``random``  uniform random sampling (the baseline every other strategy must beat)
``local``   Pareto local search: mutate members of the current Pareto front to their grid neighbours
``nsga2``   NSGA-II (pymoo) through ask/tell, integer sampling, SBX + polynomial mutation with rounding repair
``morea``   multi-objective regularized (aging) evolution
``tpe``     Optuna's multi-objective TPE sampler (model-based) through ask/tell
=========  ===================================================================================================
"""

import importlib
import pkgutil

from .base import STRATEGIES, Strategy, make_strategy

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["STRATEGIES", "Strategy", "make_strategy"]

"""peer_synetune — one run of a syne-tune multi-objective searcher on `bench_search.py`'s tabulated problem.

syne-tune is not a dependency of the kit (it pins its own stack), so `bench_search.py` runs this file with the
Python of a separate environment that has it (``--synetune-python``), e.g.::

    python -m venv /tmp/st && /tmp/st/bin/pip install syne-tune==0.16.0 torch==2.13.0 botorch

Input (JSON on stdin): ``searcher`` (``ehvi``, ``morea`` or ``random``), ``seed``, ``budget``, ``xu`` (upper bound of
each integer gene; lower bounds are 0), ``values`` (per arch, in the order of ``numpy.ravel_multi_index(genes,
xu + 1)``: ``[validation error, cost]``). Output (JSON on stdout): ``order``, the arch indices of the distinct archs
in evaluation order. Uses syne-tune's public ``AskTellScheduler`` over its ``EHVI`` (BoTorch qLogEHVI), its
multi-objective regularized evolution, or its random search, with their defaults; a repeated proposal is answered
again and not counted, and the run ends after 200 repeats in a row (the rule of `subnet_kit.search`).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings

import numpy as np


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from syne_tune.config_space import randint
    from syne_tune.optimizer.baselines import EHVI, RandomSearch
    from syne_tune.optimizer.schedulers.ask_tell_scheduler import AskTellScheduler
    from syne_tune.optimizer.schedulers.multiobjective.multi_objective_regularized_evolution import (
        MultiObjectiveRegularizedEvolution,
    )
    from syne_tune.optimizer.schedulers.single_fidelity_scheduler import SingleFidelityScheduler

    job = json.load(sys.stdin)
    xu = np.asarray(job["xu"], dtype=int)
    values = np.asarray(job["values"], dtype=float)
    space = {f"g{i}": randint(0, int(u)) for i, u in enumerate(xu)}
    metrics = ["error", "cost"]
    seed = int(job["seed"])
    if job["searcher"] == "ehvi":
        base = EHVI(space, metrics=metrics, do_minimize=True, random_seed=seed)
    elif job["searcher"] == "morea":
        base = SingleFidelityScheduler(space, metrics=metrics, do_minimize=True, random_seed=seed,
                                       searcher=MultiObjectiveRegularizedEvolution(space, random_seed=seed))
    elif job["searcher"] == "random":
        base = RandomSearch(space, metrics=metrics, do_minimize=True, random_seed=seed)
    else:
        raise SystemExit(f"unknown searcher {job['searcher']!r}; allowed: ehvi, morea, random")
    scheduler = AskTellScheduler(base_scheduler=base)
    order: list[int] = []
    seen: set[int] = set()
    repeats = 0
    while len(order) < job["budget"] and repeats <= 200:
        trial = scheduler.ask()
        genes = [int(trial.config[f"g{i}"]) for i in range(len(xu))]
        i = int(np.ravel_multi_index(genes, xu + 1))
        scheduler.tell(trial, {"error": float(values[i, 0]), "cost": float(values[i, 1])})
        if i in seen:
            repeats += 1
            continue
        repeats = 0
        seen.add(i)
        order.append(i)
    json.dump({"order": order}, sys.stdout)


if __name__ == "__main__":
    main()

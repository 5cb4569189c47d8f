"""Solution of lesson 10's exercise 5: the transfer experiment of section 5 with another search seed.

In the notebook, after sections 3-5 have run:

    from exercise5_10 import transfer_with_seed
    transfer_with_seed(src_net, src_space, src_task, tgt_net, tgt_space, tgt_task, seed=1,
                       budget=budget, pop_size=pop_size, eval_limit=eval_limit)

It runs both searches again with the new seed (the super-networks stay as they are, so it takes about as long as the
two search cells did), carries the new movie-snippets front to bbc-news, and prints the hypervolumes of the
transferred front and of the direct search in one box, as section 5 did. Compare the sign of the gap with seed 0's.
"""

from __future__ import annotations

import numpy as np

import subnet_kit as sk
from subnet_kit.objectives import Context, Error
from subnet_kit.pareto import default_bounds, hypervolume


def transfer_with_seed(src_net, src_space, src_task, tgt_net, tgt_space, tgt_task, *, seed: int, budget: int,
                       pop_size: int, eval_limit: int, progress: bool = True) -> dict[str, float]:
    """Section 5 with search seed ``seed``: returns the hypervolumes on the target task, in one box."""
    opts = {"pop_size": pop_size}
    src = sk.search(src_net, src_space, src_task, ["error", "params"], strategy="nsga2", budget=budget, seed=seed,
                    eval_limit=eval_limit, progress=progress, strategy_options=opts)
    error, ctx = Error(limit=eval_limit), Context(supernet=tgt_net, space=tgt_space, task=tgt_task)
    F_transfer = np.array([[error(a, ctx)[0], tgt_space.params(a)] for a in src.archs()], dtype=float)
    direct = sk.search(tgt_net, tgt_space, tgt_task, ["error", "params"], strategy="nsga2", budget=budget, seed=seed,
                       eval_limit=eval_limit, progress=progress, strategy_options=opts)
    ideal, ref = default_bounds(np.vstack([F_transfer, direct.F]))
    hv = {"transferred front": hypervolume(F_transfer, ref, ideal), "direct search": hypervolume(direct.F, ref, ideal)}
    print(f"seed {seed}: hypervolume direct {hv['direct search']:.3f} vs transferred {hv['transferred front']:.3f} "
          f"(gap {hv['direct search'] - hv['transferred front']:+.3f}; {len(F_transfer)} transferred archs)")
    return hv

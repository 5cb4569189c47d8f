"""Checks for the exercises of lesson 10 (pre-training vs task-specific super-networks). Each computes the expected
answer with the library from the objects the notebook built, then prints right / not yet with
`subnet_kit_widgets.checks.check`; nothing is hard-coded."""

from __future__ import annotations

import itertools

import numpy as np

from subnet_kit.pareto import pareto_mask
from subnet_kit_widgets.checks import check

SCORE_COLUMNS = ("error", "params", "latency")  # the three costs of the lesson's Bort-style score


def weight_grid(step: float, positive: bool = True) -> np.ndarray:
    """Every weight vector ``(w_error, w_params, w_latency)`` on the simplex with the given ``step`` (rows sum to
    1); with ``positive``, only those with every weight > 0 (their argmin is always on the Pareto front)."""
    n = int(round(1 / step))
    if n < 1 or abs(n * step - 1) > 1e-9:
        raise ValueError(f"step must divide 1, got {step}")
    lo = 1 if positive else 0
    rows = [(i, j, n - i - j) for i, j in itertools.product(range(lo, n + 1), repeat=2) if n - i - j >= lo]
    return np.array(rows, dtype=float) / n


def scores(table, weights) -> np.ndarray:
    """The Bort-style scalarised score of each row of ``table``: ``sum_k w_k * log(cost_k)`` over error, params and
    latency (a weighted geometric mean in log form; lower is better)."""
    w = np.asarray(weights, dtype=float).reshape(-1)
    logs = np.log(table[list(SCORE_COLUMNS)].to_numpy(float).clip(1e-3, None))
    return logs @ w


def picked_eval(table, weights) -> int:
    """The ``eval`` number of the row with the lowest score (ties: the earlier evaluation)."""
    s = scores(table, weights)
    order = np.lexsort((table["eval"].to_numpy(), s))
    return int(table["eval"].to_numpy()[order[0]])


def reachable_evals(table, step: float) -> set[int]:
    """The ``eval`` numbers some strictly positive weight vector of the grid with this ``step`` picks."""
    return {picked_eval(table, w) for w in weight_grid(step)}


def front_evals(table) -> set[int]:
    """The ``eval`` numbers on the three-objective Pareto front (error, params, latency) of ``table``."""
    mask = pareto_mask(table[list(SCORE_COLUMNS)].to_numpy(float))
    return set(int(e) for e in table["eval"].to_numpy()[mask])


def union_front_transferred(transfer, direct) -> int:
    """How many transferred archs lie on the error-params front of all points evaluated on the target task (the
    transferred ones and every evaluation of the direct search)."""
    F = np.vstack([transfer[["target_error", "params"]].to_numpy(float), direct.F])
    mask = pareto_mask(F)
    return int(mask[: len(transfer)].sum())


def check_union_front(your_count, transfer, direct) -> bool:
    return check(your_count, union_front_transferred(transfer, direct),
                 what="transferred archs on the target task's front of all evaluated points")


def check_pick(your_eval, table, weights) -> bool:
    w = tuple(float(x) for x in weights)
    return check(your_eval, picked_eval(table, weights), what=f"evaluation the score with weights {w} picks")


def check_reachable(your_count, table, step: float) -> bool:
    n = len(reachable_evals(table, step) & front_evals(table))
    return check(your_count, n, what=f"front archs that some positive weights (grid step {step}) pick")


def head_params_difference(arch, source_space, target_space) -> int:
    """Parameters of ``arch`` in the target task's super-network minus those in the source task's."""
    return int(target_space.params(arch)) - int(source_space.params(arch))


def check_head_params(your_diff, arch, source_space, target_space) -> bool:
    return check(your_diff, head_params_difference(arch, source_space, target_space),
                 what="extra parameters of the same arch on the target task")

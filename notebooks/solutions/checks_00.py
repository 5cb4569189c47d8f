"""Checks for the exercises of lesson 00 (quickstart). Each computes the expected answer with the library from the
objects the notebook built, then prints right / not yet with `subnet_kit_widgets.checks.check`."""

from __future__ import annotations

import numpy as np

from subnet_kit.pareto import pareto_mask
from subnet_kit_widgets.checks import check, check_true


def expected_pick(result, full_ms: float, share: float) -> int:
    """The evaluation `Result.best` picks under a latency budget of ``share`` × the full model's latency."""
    limit = share * full_ms
    if (result.history["latency"] <= limit).any():
        return int(result.best(by="error", latency=limit)["eval"])
    return int(result.best(by="latency")["eval"])


def check_pick(your_eval, result, full_ms: float, share: float = 0.25) -> bool:
    return check(your_eval, expected_pick(result, full_ms, share), what=f"evaluation picked at latency_share={share}")


def shared_front_count(result, space) -> int:
    """How many archs are on both fronts: error vs latency (the search's) and error vs parameters."""
    h = result.history
    params = np.array([space.params(a) for a in result.archs(h)], dtype=float)
    by_params = pareto_mask(np.column_stack([h["error"].to_numpy(float), params]), result.cv)
    return int((by_params & result.pareto_mask()).sum())


def check_shared_front(your_count, result, space) -> bool:
    return check(your_count, shared_front_count(result, space), what="archs on both fronts (latency and params)")


def evals_to_90(result) -> int:
    """The first number of evaluations at which the hypervolume reaches 90 % of its final value."""
    curve = result.hypervolume_curve()
    return int(curve.index[np.argmax(curve.to_numpy() >= 0.9 * curve.iloc[-1])])


def check_evals_to_90(your_evals, result) -> bool:
    return check(your_evals, evals_to_90(result), what="evaluations to reach 90 % of the final hypervolume")


def check_params_share(your_share, info: dict) -> bool:
    return check(your_share, info["params"] / info["full_params"], what="exported parameters / full parameters",
                 tol=0.005)


__all__ = ["check_pick", "check_shared_front", "check_evals_to_90", "check_params_share", "check_true"]

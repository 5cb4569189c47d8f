"""Checks for the exercises of lesson 03 (objectives and latency): expected answers computed with the library."""

from __future__ import annotations

import math

from subnet_kit import Arch
from subnet_kit.objectives import Context, Memory
from subnet_kit_widgets.checks import check, check_true


def standard_error(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def check_se_ratio(your_ratio, p: float, n: int) -> bool:
    """How much larger the standard error of an error rate ``p`` gets on n // 2 sentences instead of n."""
    return check(your_ratio, standard_error(p, n // 2) / standard_error(p, n),
                 what="standard error at half eval_limit / at eval_limit", tol=0.01)


def wrongly_feasible(result, bound: float) -> int:
    """Rows judged feasible on predicted latency whose re-measured latency (`latency_measured`) exceeds ``bound``."""
    h = result.history
    measured = h[h["latency_measured"].notna()] if "latency_measured" in h else h.iloc[:0]
    return int((measured["feasible"].astype(bool) & (measured["latency_measured"] > bound)).sum())


def check_wrongly_feasible(your_count, result, bound: float) -> bool:
    return check(your_count, wrongly_feasible(result, bound), what="front archs wrongly judged feasible")


def memory_excluded(history, supernet, space, task, bound: float = 60e6) -> int:
    """Latency-feasible archs of ``history`` whose peak memory (the `memory` objective) exceeds ``bound``."""
    ctx, memory = Context(supernet=supernet, space=space, task=task), Memory()
    feasible = history[history["feasible"].astype(bool)]
    return int(sum(memory(Arch.from_json(a), ctx)[0] > bound for a in feasible["arch"]))


def check_memory_excluded(your_count, history, supernet, space, task, bound: float = 60e6) -> bool:
    return check(your_count, memory_excluded(history, supernet, space, task, bound),
                 what=f"latency-feasible archs excluded by memory <= {bound:g}")


__all__ = ["check_se_ratio", "check_wrongly_feasible", "check_memory_excluded", "check_true"]

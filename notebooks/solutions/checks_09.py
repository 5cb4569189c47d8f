"""Checks for the exercises of lesson 09 (search the distillation too). Each computes the expected answer with the
library from the objects the lesson made, then prints right or wrong through `subnet_kit_widgets.checks.check`."""

from __future__ import annotations

import subnet_kit as sk
from subnet_kit.pareto import pareto_mask
from subnet_kit_widgets.checks import check


def check_union_front(answer, trials, sampler: str) -> bool:
    """Exercise 1: how many trials of ``sampler`` lie on the Pareto front (error, params) of all trials."""
    on_front = pareto_mask(trials[["error", "params_M"]].to_numpy())
    expected = int((on_front & (trials["sampler"] == sampler).to_numpy()).sum())
    return check(answer, expected, what=f"{sampler} trials on the joint front")


def check_best_under_cap(answer, trials, cap: float) -> bool:
    """Exercise 2: the lowest validation error of any trial with at most ``cap`` million parameters."""
    within = trials.loc[trials["params_M"] <= cap, "error"]
    if within.empty:
        print(f"(no trial has at most {cap:.2f} M parameters)")
        return check(answer, None, what=f"lowest error within {cap:.2f} M parameters")
    return check(answer, float(within.min()), what=f"lowest error within {cap:.2f} M parameters", tol=1e-9)


def check_control_error(answer, student, task, eval_limit: int) -> bool:
    """Exercise 3: the validation error of your labels-only student, measured again here on the same sentences."""
    if student is None or not hasattr(student, "tokenizer"):
        print("✗ not yet: pass the error and the student you distilled (a SubNetwork from distil_trial)")
        return False
    expected = sk.evaluate(student, task, limit=eval_limit)["error"]
    return check(answer, expected, what="validation error of the labels-only student", tol=1e-9)

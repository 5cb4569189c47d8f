"""Checks for the exercises of lesson 04 (weight-sharing training): expected answers computed from the benchmark
JSON and the notebook's own measurements, never hard-coded."""

from __future__ import annotations

from subnet_kit_widgets.checks import check, check_true


def best_recipe(bench: dict, space: str, column: str = "best_accuracy_at_25") -> str:
    per = bench["results"][space]
    return max(per, key=lambda r: per[r][column])


def check_best_recipe(your_recipe, bench: dict, space: str = "uniform", column: str = "best_accuracy_at_25") -> bool:
    return check(your_recipe, best_recipe(bench, space, column), what=f"best recipe by {column} in the {space} space")


def equal_compute_steps(bench: dict, recipe: str = "random", like: str = "sandwich") -> float:
    """Steps of ``recipe`` that cost what one run of ``like`` costs (the benchmark's steps × cost ratio)."""
    cost = bench["cost"]["cost_vs_standard"]
    return bench["settings"]["steps_per_strategy"] * cost[like] / cost[recipe]


def check_equal_compute_steps(your_steps, bench: dict, recipe: str = "random", like: str = "sandwich") -> bool:
    return check(your_steps, equal_compute_steps(bench, recipe, like), rel=True, tol=0.02,
                 what=f"{recipe} steps with the compute of one {like} run")


def most_changed(before: dict, after: dict) -> str:
    return max(before, key=lambda k: abs(after[k] - before[k]))


def check_most_changed(your_probe, before: dict, after: dict) -> bool:
    return check(your_probe, most_changed(before, after), what="probe whose accuracy changed most")


__all__ = ["check_best_recipe", "check_equal_compute_steps", "check_most_changed", "check_true"]

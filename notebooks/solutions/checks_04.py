"""Checks for the exercises of lesson 04 (weight-sharing training): expected answers computed from the benchmark
JSON and the notebook's own measurements, never hard-coded."""

from __future__ import annotations

from subnet_kit_widgets.checks import check, check_true


def _rows(bench: dict) -> list[dict]:
    return bench["tasks"]["movie-snippets"]["ablations"]["rows"]


def best_recipe(bench: dict, space: str, column: str = "best_accuracy_at_25") -> str:
    """The ablation row with the largest ``column`` in ``space``."""
    return max(_rows(bench), key=lambda r: r[space][column])["recipe"]


def check_best_recipe(your_recipe, bench: dict, space: str = "uniform", column: str = "best_accuracy_at_25") -> bool:
    return check(your_recipe, best_recipe(bench, space, column), what=f"best recipe by {column} in the {space} space")


def equal_compute_epochs(bench: dict) -> float:
    """Epochs of standard fine-tuning that cost what the default recipe costs (its cost ratio x the reference's
    epochs)."""
    default = bench["summary"]["movie-snippets"]["recipe"]
    row = next(r for r in _rows(bench) if r["recipe"] == default)
    return row["cost_vs_reference"] * bench["tasks"]["movie-snippets"]["references"][0]["epochs_run"]


def check_equal_compute_epochs(your_epochs, bench: dict) -> bool:
    return check(your_epochs, equal_compute_epochs(bench), rel=True, tol=0.02,
                 what="epochs of standard fine-tuning with the compute of the default recipe")


def most_changed(before: dict, after: dict) -> str:
    return max(before, key=lambda k: abs(after[k] - before[k]))


def check_most_changed(your_probe, before: dict, after: dict) -> bool:
    return check(your_probe, most_changed(before, after), what="probe whose accuracy changed most")


__all__ = ["check_best_recipe", "check_equal_compute_epochs", "check_most_changed", "check_true"]

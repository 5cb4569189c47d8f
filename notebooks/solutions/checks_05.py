"""Checks for the exercises of lesson 05 (evolutionary search). Each computes the expected answer with the library
from the objects the lesson made, then prints right or wrong through `subnet_kit_widgets.checks.check`; an answer
that is still ``None`` (or a search not run yet) prints "not yet" and never raises."""

from __future__ import annotations

import numpy as np

from subnet_kit.pareto import pareto_mask
from subnet_kit_widgets.checks import check, check_true


def _not_run(what: str) -> bool:
    return check_true(False, what=what, hint="run your search first and pass its Result")


def check_three_objective_front(answer, result, space) -> bool:
    """Exercise 1: how many evaluated archs of ``result`` are non-dominated in (error, latency, params)."""
    archs = result.archs(result.history)
    F = np.column_stack([result.F, [space.params(a) for a in archs]])
    return check(answer, int(pareto_mask(F, result.cv).sum()), what="archs on the (error, latency, params) front")


def check_hypervolume_in_box(answer, result, box_of) -> bool:
    """Exercise 2: ``result``'s hypervolume in the default box of ``box_of`` (its own ideal and ref)."""
    ideal, ref = box_of.bounds()
    try:
        expected = result.hypervolume(ref=ref, ideal=ideal)
    except ValueError as e:  # the front does not dominate that ref at all
        print(f"(this box holds none of the front: {e})")
        expected = 0.0
    return check(answer, expected, what="hypervolume in the other run's box", tol=1e-9)


def check_new_evaluations(answer, resumed) -> bool:
    """Exercise 3: how many evaluations a resumed search ran that were not in its log."""
    if resumed is None:
        return _not_run("new evaluations after resume")
    return check(answer, len(resumed.history) - int(resumed.meta["replayed"]), what="new evaluations after resume")


def check_last_front_size(answer, result) -> bool:
    """Exercise 4: the front size your callback printed last, i.e. after the last generation of ``result``."""
    if result is None:
        return _not_run("front size after the last generation")
    return check(answer, int(result.pareto_mask().sum()), what="front size after the last generation")

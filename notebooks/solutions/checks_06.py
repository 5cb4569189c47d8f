"""Checks for the exercises of lesson 06 (model-based search). Each computes the expected answer with the library
from the objects the lesson made, then prints right or wrong through `subnet_kit_widgets.checks`;
an answer that is still ``None`` prints "not yet" and never raises."""

from __future__ import annotations

import numpy as np
import pandas as pd

from subnet_kit.objectives import spearman
from subnet_kit_widgets.checks import check, check_true


def check_surrogate_rho(answer, runs, features) -> bool:
    """Exercise 1: Spearman's rho of the least-squares surrogate fitted on the random and NSGA-II evaluations,
    tested on TPE's."""
    train = pd.concat([runs["random"].history, runs["nsga2"].history])
    test = runs["tpe"].history
    w, *_ = np.linalg.lstsq(features(runs["random"].archs(train)), train.error.to_numpy(), rcond=None)
    rho = spearman(features(runs["random"].archs(test)) @ w, test.error.to_numpy())
    return check(answer, float(rho), what="Spearman rho on TPE's archs", tol=1e-6)


def check_best_error_under(answer, runs, params_limit: float) -> bool:
    """Exercise 2: the lowest validation error any strategy found among archs of at most ``params_limit``
    parameters."""
    best = []
    for r in runs.values():
        try:
            best.append(float(r.best(params=params_limit)["error"]))
        except ValueError:  # this run evaluated nothing that small
            pass
    if not best:
        return check_true(answer is None, what="no strategy evaluated an arch that small", hint="answer None")
    return check(answer, min(best), what=f"lowest error at params <= {params_limit:g}", tol=1e-12)


def check_toy_controllers(toy_search, space) -> bool:
    """Exercise 3: on the toy problem, the controller weighting ``missing_layers`` most expects more layers than
    the one weighting ``params`` most."""
    if toy_search is None or not hasattr(toy_search, "strategy"):
        return check_true(False, what="the toy controllers", hint="pass your toy Search after .run()")
    s = toy_search.strategy
    layers = np.array(space.layers.values)
    expect = [float(s.policy(k)[0] @ layers) for k in range(len(s.logits))]
    most_layers, most_params = int(np.argmax(s.w[:, 0])), int(np.argmax(s.w[:, 1]))
    return check_true(expect[most_layers] > expect[most_params] + 0.5,
                      what=f"E[layers] {expect[most_layers]:.2f} (weight on missing_layers) > "
                           f"{expect[most_params]:.2f} (weight on params) + 0.5",
                      hint="the reward must be larger for better (smaller) objectives")


def check_distinct_budget(result, budget: int) -> bool:
    """Exercise 4: a strategy's search evaluated ``budget`` distinct archs."""
    if result is None:
        return check_true(False, what="distinct archs evaluated", hint="run your search first and pass its Result")
    n = int(result.history.arch.nunique())
    return check(n, budget, what="distinct archs evaluated")

"""Checks for the exercises of lesson 11 (heterogeneous spaces and surrogate search): expected answers computed
with the library, verdicts printed by `subnet_kit_widgets.checks`."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from subnet_kit.pareto import default_bounds, hypervolume
from subnet_kit.space import Arch
from subnet_kit_widgets.checks import check, check_true


def check_uniform_fraction(your_fraction, uniform, per_layer) -> bool:
    """Share of the per-layer space's archs that are uniform: every uniform arch of the same bounds is one of them,
    so it is the ratio of the two sizes (checked here, on the uniform space's own archs, when it is small)."""
    if uniform.size() <= 100_000:
        inside = all(per_layer.contains(a) for a in uniform.all_archs())
        if not inside:
            return check_true(False, what="the uniform space lies inside the per-layer space",
                              hint="build both with SearchSpace.for_model on the same super-network")
    return check(your_fraction, uniform.size() / per_layer.size(), what="fraction of per-layer archs that are uniform",
                 tol=1e-6, rel=True)


def check_heterogeneous_on_front(your_count, result) -> bool:
    """Archs on ``result``'s Pareto front whose layers differ in heads or FFN units."""
    expected = sum(not a.is_uniform for a in result.archs())
    return check(your_count, expected, what="non-uniform archs on the front")


def expressible(space) -> dict[str, bool]:
    """What an `Arch` of ``space`` can vary per layer, asked of the library: per-layer tuples it accepts, a per-layer
    hidden size it refuses, and fields it does not have (operation type, head dimension)."""
    names = {f.name for f in fields(Arch)}
    L = max(2, min(3, max(space.layers.values)))
    h, f = space.heads.values, space.ffn.values

    def accepts(**kw) -> bool:
        try:
            a = Arch(layers=L, **kw)
        except (TypeError, ValueError):
            return False
        return space.contains(a)

    hidden = max(space.hidden.values)
    heads_vary = len(h) > 1 and accepts(heads=tuple(h[i % len(h)] for i in range(L)), ffn=(f[-1],) * L, hidden=hidden)
    ffn_vary = len(f) > 1 and accepts(heads=(h[-1],) * L, ffn=tuple(f[i % len(f)] for i in range(L)), hidden=hidden)
    hidden_vary = accepts(heads=(h[-1],) * L, ffn=(f[-1],) * L, hidden=tuple(space.hidden.values[:L]))
    return {"heads per layer": bool(heads_vary), "FFN width per layer": bool(ffn_vary),
            "hidden size per layer": bool(hidden_vary),
            "attention type per layer": bool(names & {"attention", "operation", "op", "ops"}),
            "head dimension per layer": "head_dim" in names}


def check_expressible(your_answers: dict, space) -> bool:
    expected = expressible(space)
    if not isinstance(your_answers, dict) or set(your_answers) != set(expected):
        return check(your_answers, expected, what="what the kit can vary per layer")
    ok = True
    for k, v in expected.items():
        ok &= check(your_answers[k], v, what=f"per-layer '{k}' expressible")
    return bool(ok)


def check_hv_gain_per_eval(your_gain, F_base, F_extra, all_extras) -> bool:
    """(HV of base + extra - HV of base) / extra evaluations, in the box of the base run and every continuation."""
    F_base, F_extra = np.asarray(F_base, dtype=float), np.asarray(F_extra, dtype=float)
    ideal, ref = default_bounds(np.vstack([F_base, *[np.asarray(F, dtype=float) for F in all_extras]]))
    expected = (hypervolume(np.vstack([F_base, F_extra]), ref, ideal) - hypervolume(F_base, ref, ideal)) / len(F_extra)
    return check(your_gain, expected, what="hypervolume gained per extra evaluation", tol=1e-9)

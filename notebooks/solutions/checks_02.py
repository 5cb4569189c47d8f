"""Checks for the exercises of lesson 02 (search spaces): expected answers computed with the library."""

from __future__ import annotations

import math

from subnet_kit_widgets.checks import check, check_true


def check_space_size(your_n, space, what: str = "archs in the space") -> bool:
    return check(your_n, space.size(), what=what)


def depth_shares(space) -> dict[int, float]:
    """Share of the archs of a `per-layer` space at each depth: len(hidden) · (nh · nf)^k, normalised."""
    per_depth = {k: len(space.hidden) * (len(space.heads) * len(space.ffn)) ** k for k in space.layers.values}
    total = sum(per_depth.values())
    return {k: v / total for k, v in per_depth.items()}


def check_deepest_share(your_fraction, space, n: int) -> bool:
    """Your sampler's fraction of deepest archs vs their share of the space (within 3 standard errors of n draws)."""
    p = depth_shares(space)[max(space.layers.values)]
    tol = 3 * math.sqrt(p * (1 - p) / n) + 1e-3
    return check(your_fraction, p, what=f"fraction of {max(space.layers.values)}-layer samples", tol=tol)


def check_editor_space(space, archs=(1000, 2000), params_m=(5, 15)) -> bool:
    """A `uniform` space with between 1,000 and 2,000 archs whose parameters all lie between 5 M and 15 M."""
    if space is None:
        return check_true(False, what="a valid space", hint="editor.space is None while the setting is impossible")
    lo, hi = space.params(space.smallest()) / 1e6, space.params(space.largest()) / 1e6
    return check_true(space.granularity == "uniform" and archs[0] <= space.size() <= archs[1]
                      and params_m[0] <= lo and hi <= params_m[1],
                      what=f"uniform space with {space.size()} archs, {lo:.1f}–{hi:.1f} M parameters",
                      hint=f"need {archs[0]}–{archs[1]} archs and parameters within {params_m[0]}–{params_m[1]} M")


def check_query_width(your_width, supernet) -> bool:
    """Output width of the (full) query projection applied to a slice of any width: heads · head_dim."""
    d = supernet.dims
    return check(your_width, d.heads * d.head_dim, what="query output width for a 200-dim input slice")


__all__ = ["check_space_size", "check_deepest_share", "check_editor_space", "check_query_width", "depth_shares", "check_true"]

"""Right-or-wrong checks for the course's exercises: print a one-line verdict, return a bool, never raise.

    from subnet_kit_widgets.checks import check, check_true
    check(my_count, 4096, what="number of architectures")            # ✓ right: number of architectures = 4096
    check(my_ratio, 0.42, what="params ratio", tol=0.01, rel=True)   # within 1 % of 0.42
    check_true(a.dominates(b), what="a dominates b", hint="compare every objective")

Lesson-specific ``check_…`` helpers (in ``notebooks/solutions/checks_<NN>.py``) compute the expected answer with the
library and call :func:`check`, so no result is hard-coded. A wrong answer (or one that cannot be compared at all)
prints "✗ not yet: …" and returns ``False``; only a programming error in the helper itself could raise.
"""

from __future__ import annotations

import math
from numbers import Number
from typing import Any

__all__ = ["check", "check_true"]


def _is_number(x: Any) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool)


def _close(value: Any, expected: Any, tol: float | None, rel: bool) -> bool:
    """Equality, with a tolerance for numbers (absolute, or relative to ``expected`` when ``rel``), recursing into
    lists, tuples and dicts; anything else (arrays included, via ``tolist``) falls back to ``==``."""
    if hasattr(value, "tolist") and not _is_number(value):
        value = value.tolist()
    if hasattr(expected, "tolist") and not _is_number(expected):
        expected = expected.tolist()
    if _is_number(value) and _is_number(expected):
        v, e = float(value), float(expected)
        if math.isnan(v) or math.isnan(e):
            return math.isnan(v) and math.isnan(e)
        if tol is None:
            return v == e
        bound = tol * abs(e) if rel else tol
        return abs(v - e) <= bound
    if isinstance(value, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(value) == len(expected) and all(_close(v, e, tol, rel) for v, e in zip(value, expected))
    if isinstance(value, dict) and isinstance(expected, dict):
        return value.keys() == expected.keys() and all(_close(value[k], expected[k], tol, rel) for k in expected)
    result = value == expected
    if hasattr(result, "all"):  # an elementwise comparison that did not go through tolist
        result = result.all()
    return bool(result)


def _show(x: Any) -> str:
    if _is_number(x) and isinstance(x, float):
        return f"{x:.6g}"
    text = repr(x)
    return text if len(text) <= 200 else text[:197] + "..."


def check(value: Any, expected: Any, *, what: str, tol: float | None = None, rel: bool = False) -> bool:
    """Print "✓ right: <what> = <value>" or "✗ not yet: <what> expected <expected>, got <value>" and return whether
    ``value`` matches ``expected``. ``tol`` is an absolute tolerance for numbers, or relative (a fraction of
    ``expected``) when ``rel=True``; without it numbers must be equal. Never raises on a wrong or odd answer."""
    try:
        ok = _close(value, expected, tol, rel)
    except Exception:  # an answer of the wrong type is a wrong answer, not a crash
        ok = False
    if tol is None:
        within = ""
    else:
        within = f" (within {tol:.0%} relative)" if rel else f" (within ±{tol:g})"
    if ok:
        print(f"✓ right: {what} = {_show(value)}")
    else:
        print(f"✗ not yet: {what} expected {_show(expected)}{within}, got {_show(value)}")
    return ok


def check_true(cond: bool, *, what: str, hint: str = "") -> bool:
    """Print "✓ right: <what>" when ``cond`` is truthy, else "✗ not yet: <what>" plus the hint; return the bool."""
    try:
        ok = bool(cond)
    except Exception:
        ok = False
    if ok:
        print(f"✓ right: {what}")
    else:
        print(f"✗ not yet: {what}" + (f" (hint: {hint})" if hint else ""))
    return ok

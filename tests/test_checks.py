"""subnet_kit_widgets.checks: the right/wrong verdicts the course's exercises print."""

from __future__ import annotations

import numpy as np

from subnet_kit_widgets.checks import check, check_true


def test_right_prints_and_returns_true(capsys):
    assert check(4096, 4096, what="architectures") is True
    assert capsys.readouterr().out.strip() == "✓ right: architectures = 4096"


def test_wrong_prints_expected_and_got(capsys):
    assert check(4095, 4096, what="architectures") is False
    out = capsys.readouterr().out.strip()
    assert out.startswith("✗ not yet: architectures")
    assert "expected 4096" in out and "got 4095" in out


def test_absolute_tolerance(capsys):
    assert check(0.905, 0.9, what="accuracy", tol=0.01) is True
    assert check(0.92, 0.9, what="accuracy", tol=0.01) is False
    assert "±0.01" in capsys.readouterr().out


def test_relative_tolerance():
    assert check(1050.0, 1000.0, what="params", tol=0.1, rel=True) is True
    assert check(1200.0, 1000.0, what="params", tol=0.1, rel=True) is False
    assert check(105.0, 100.0, what="params", tol=0.01, rel=True) is False
    # relative to the expected value, not absolute: 0.1 of 1000 is 100
    assert check(1099.0, 1000.0, what="params", tol=0.1, rel=True) is True


def test_exact_without_tol():
    assert check(0.1 + 0.2, 0.3, what="sum") is False
    assert check(0.1 + 0.2, 0.3, what="sum", tol=1e-9) is True


def test_objects_sequences_and_arrays():
    assert check((1, 2, 3), [1, 2, 3], what="tuple vs list") is True
    assert check({"a": 1.0, "b": 2.0}, {"a": 1.001, "b": 2.0}, what="dict", tol=0.01) is True
    assert check(np.array([1.0, 2.0]), [1.0, 2.0], what="array") is True
    assert check(np.float32(0.5), 0.5, what="numpy scalar") is True
    assert check("nsga2", "nsga2", what="name") is True
    assert check([1, 2], [1, 2, 3], what="length") is False


def test_never_raises_on_a_wrong_or_odd_answer(capsys):
    assert check(None, 3.0, what="missing answer", tol=0.1) is False
    assert check("three", 3, what="string for a number", tol=0.5, rel=True) is False
    assert check(np.array([1, 2]), np.array([1, 2, 3]), what="shapes differ") is False
    assert check(float("nan"), 1.0, what="nan", tol=1.0) is False
    out = capsys.readouterr().out
    assert out.count("✗ not yet") == 4


def test_check_true(capsys):
    assert check_true(True, what="a dominates b") is True
    assert check_true(False, what="a dominates b", hint="compare every objective") is False
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "✓ right: a dominates b"
    assert lines[1].startswith("✗ not yet: a dominates b") and "compare every objective" in lines[1]

    class Bad:
        def __bool__(self):
            raise ValueError("ambiguous")

    assert check_true(Bad(), what="odd condition") is False

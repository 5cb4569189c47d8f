"""Non-dominated sorting with constraint domination, normalised hypervolume and its per-evaluation curve."""

import numpy as np
import pytest

from subnet_kit.pareto import (
    KINDS, HypervolumeTracker, axes, chart_data, default_bounds, hypervolume, hypervolume_curve, nondominated_ranks,
    pareto_mask,
)

F = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2], [0.9, 0.9], [0.5, 0.5], [0.6, 0.6]])


def test_ranks_and_mask_of_a_hand_made_front():
    assert nondominated_ranks(F).tolist() == [0, 0, 0, 2, 0, 1]  # equal points share a rank
    assert pareto_mask(F).tolist() == [True, True, True, False, True, False]


def test_feasible_points_rank_first_and_infeasible_by_violation():
    cv = np.array([0, 0, 0.3, 0, 0.1, 0])
    ranks = nondominated_ranks(F, cv)
    feasible = cv == 0
    assert ranks[feasible].max() < ranks[~feasible].min()
    assert ranks[4] < ranks[2]  # violation 0.1 beats 0.3 although (0.8, 0.2) is not dominated
    assert pareto_mask(F, cv).tolist() == [True, True, False, False, False, False]
    assert not pareto_mask(F, np.ones(len(F))).any()  # nothing feasible: no front


def test_hypervolume_is_the_dominated_fraction_of_the_box():
    front = F[:3]
    # by hand: 0.8*0.2 + 0.5*0.3 + 0.2*0.3 = 0.37 of the unit box
    assert hypervolume(front, ref=[1, 1], ideal=[0, 0]) == pytest.approx(0.37)
    # the same in other units: scaling an objective does not change the normalised value
    assert hypervolume(front * [1, 1e6], ref=[1, 1e6], ideal=[0, 0]) == pytest.approx(0.37)
    # dominated points add nothing
    assert hypervolume(F, ref=[1, 1], ideal=[0, 0]) == pytest.approx(0.37)


def test_reference_point_that_the_front_does_not_dominate_is_an_error():
    with pytest.raises(ValueError, match="not dominated by the front"):
        hypervolume(F, ref=[0.1, 0.95], ideal=[0, 0])
    with pytest.raises(ValueError, match="one value per objective"):
        hypervolume(F, ref=[1, 1, 1])
    with pytest.raises(ValueError, match="ideal point"):
        hypervolume(F, ref=[1, 1], ideal=[1, 0])


def test_curve_is_monotone_and_ends_at_the_hypervolume():
    rng = np.random.default_rng(0)
    pts = rng.random((60, 3))
    cv = (rng.random(60) < 0.2) * 0.5
    ideal, ref = default_bounds(pts[cv == 0])
    curve = hypervolume_curve(pts, ref, ideal, cv)
    assert curve.shape == (60,) and np.all(np.diff(curve) >= -1e-12)
    assert curve[-1] == pytest.approx(hypervolume(pts[cv == 0], ref, ideal))
    assert curve[0] == (0.0 if cv[0] else pytest.approx(hypervolume(pts[:1], ref, ideal)))


def test_default_bounds_cover_the_points():
    ideal, ref = default_bounds(F)
    assert np.allclose(ideal, [0.2, 0.2]) and np.all(ref > F.max(0))
    ideal, ref = default_bounds(np.array([[3.0, 0.0]]))  # one point: the box still has volume
    assert np.all(ref > ideal)


def test_tracker_adds_one_point_at_a_time_like_the_curve():
    rng = np.random.default_rng(1)
    pts, cv = rng.random((30, 2)), (rng.random(30) < 0.3) * 0.2
    t = HypervolumeTracker(ref=[1.1, 1.1], ideal=[0, 0])
    assert [t.add(f, c) for f, c in zip(pts, cv)] == pytest.approx(hypervolume_curve(pts, [1.1, 1.1], [0, 0], cv))
    with pytest.raises(ValueError, match="one value per objective \\(2\\)"):
        t.add([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="ideal point"):
        HypervolumeTracker(ref=[1, 1], ideal=[1, 0])


def test_axes_default_to_the_first_two_distinct_objectives():
    assert axes(["error", "latency", "params"]) == ("error", "latency")
    assert axes(["error", "latency"], x="latency") == ("latency", "error")  # not latency twice
    assert axes(["error", "latency"], y="error") == ("error", "error")  # what is asked for
    assert axes(["params"]) == ("params", "params")
    with pytest.raises(ValueError, match="no objectives to chart"):
        axes([])


def test_chart_data_says_which_kind_each_point_is():
    import pandas as pd

    from subnet_kit import Arch

    arch = Arch.uniform(2, 4, 64, 64).to_json()
    history = pd.DataFrame({"eval": range(4), "arch": [arch] * 4, "a": [1.0, 2.0, 3.0, 0.5], "b": [3.0, 2.0, 3.0, 0.1],
                            "feasible": [True, True, True, False]})
    data = chart_data(history, ["a", "b"], [True, True, False, False])
    assert data["kind"].tolist() == ["front", "front", "dominated", "infeasible"] and set(data["kind"]) <= set(KINDS)
    assert list(data.columns[:3]) == ["eval", "a", "b"] and data["label"].iloc[0] == Arch.from_json(arch).short()
    with pytest.raises(ValueError, match="no column 'c' to plot; objectives: a, b"):
        chart_data(history, ["a", "b"], [True] * 4, y="c")

"""The ``anchors`` option of the strategies (the largest and the smallest arch are the first two evaluations, so every
front shows the full model and the cheapest end), proposals unchanged with ``anchors=False``, resuming a log written
without anchors, and `Result`'s ``full_model`` column and ``reference()`` row. Cheap synthetic objectives, no model."""

import json

import numpy as np
import pytest

from subnet_kit import Arch
from subnet_kit.search import Result, Search, search
from subnet_kit.strategies import STRATEGIES, Strategy, make_strategy

from test_search import OBJ, SMALL, SPACE, capacity_gap, log_lines

pytestmark = pytest.mark.usefixtures("one_thread")

ANCHORED = sorted(n for n, cls in STRATEGIES.items() if "anchors" in cls.defaults)
LARGEST, SMALLEST = SPACE.decode(SPACE.xu), SPACE.decode(SPACE.xl)


def opts(strategy, **extra):
    """Small options of the strategies test_search knows; defaults (plus ``extra``) for any other registered one."""
    return {**SMALL.get(strategy, {}), **extra}


def run(strategy, budget=12, seed=0, **kw):
    return search(None, SPACE, None, OBJ, strategy=strategy, budget=budget, seed=seed,
                  strategy_options=kw.pop("strategy_options", opts(strategy)), **kw)


def first_archs(result, n=2):
    return [Arch.from_json(a) for a in result.history["arch"].iloc[:n]]


def test_the_existing_strategies_have_the_option_on_by_default_and_compatible_off():
    assert {"random", "local", "nsga2", "morea", "tpe"} <= set(ANCHORED)
    for name in ANCHORED:
        cls = STRATEGIES[name]
        assert cls.defaults["anchors"] is True and cls.compat_defaults.get("anchors") is False
        s = make_strategy(name, SPACE, 2, seed=0, **opts(name))
        assert s.config()["anchors"] is True
        assert "anchors" not in make_strategy(name, SPACE, 2, seed=0, **opts(name, anchors=False)).config()


@pytest.mark.parametrize("strategy", ANCHORED)
def test_first_two_evaluations_are_the_largest_and_the_smallest_arch(strategy):
    assert LARGEST == SPACE.largest() and SMALLEST == SPACE.smallest()  # the MiniLM-shaped space: the full model
    for seed in (0, 1):
        r = run(strategy, seed=seed)
        assert first_archs(r) == [LARGEST, SMALLEST]
        assert r.history["arch"].is_unique and len(r.history) == 12


@pytest.mark.parametrize("strategy", ANCHORED)
def test_without_anchors_the_first_evaluations_are_not_the_extremes(strategy):
    r = run(strategy, seed=0, strategy_options=opts(strategy, anchors=False))
    archs = [Arch.from_json(a) for a in r.history["arch"]]
    assert LARGEST not in archs[:2] and SMALLEST not in archs[:2]
    assert not r.history["full_model"].any() or archs.index(LARGEST) >= 2


@pytest.mark.parametrize("strategy,options", [("random", {"batch": 1}), ("local", {"n_init": 1}),
                                              ("morea", {"pop_size": 1, "sample_size": 1}), ("nsga2", {"pop_size": 1})])
def test_both_anchors_come_first_even_when_the_first_batch_is_smaller(strategy, options):
    assert first_archs(run(strategy, budget=4, strategy_options=options)) == [LARGEST, SMALLEST]


@pytest.mark.parametrize("strategy", ANCHORED)
def test_anchored_search_is_deterministic_by_seed(strategy):
    a, b = run(strategy, seed=3), run(strategy, seed=3)
    assert a.history["arch"].tolist() == b.history["arch"].tolist()


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_batch_proposals_start_with_both_anchors(strategy):
    s = make_strategy(strategy, SPACE, 2, seed=0, **opts(strategy, batch=3))
    X = s.ask()
    assert len(X) >= 2 and [SPACE.decode(x) for x in X[:2]] == [LARGEST, SMALLEST]


# ---- anchors=False: exactly the proposals of the code before the option -------------------------------------------
class OldRandom(Strategy):  # random.py before the anchors option (name "" registers nothing)
    defaults = {"batch": 10}

    def _ask(self):
        return self.random_genes(self.options["batch"])


class OldNSGA2(Strategy):  # nsga2.py before the anchors option
    defaults = {"pop_size": 20, "eta_c": 3.0, "eta_m": 3.0}

    def _setup(self):
        from pymoo.algorithms.moo.nsga2 import NSGA2 as _NSGA2
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair
        from pymoo.operators.sampling.rnd import IntegerRandomSampling

        o = self.options
        self.problem = Problem(n_var=self.space.n_var, n_obj=self.n_obj, n_ieq_constr=self.n_constr,
                               xl=self.space.xl, xu=self.space.xu, vtype=int)
        self.algorithm = _NSGA2(pop_size=o["pop_size"], sampling=IntegerRandomSampling(),
                                crossover=SBX(prob=1.0, eta=o["eta_c"], vtype=float, repair=RoundingRepair()),
                                mutation=PM(prob=1.0, eta=o["eta_m"], vtype=float, repair=RoundingRepair()),
                                eliminate_duplicates=True)
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=self.seed, verbose=False)

    def _ask(self):
        self._pop = self.algorithm.ask()
        return self._pop.get("X")

    def _tell(self, X, F, G):
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        Evaluator().eval(StaticProblem(self.problem, F=F), self._pop)
        self.algorithm.tell(infills=self._pop)


def proposals(strategy, rounds=4):
    out = []
    for _ in range(rounds):
        X = strategy.ask()
        out.append(X)
        archs = [SPACE.decode(x) for x in X]
        strategy.tell([[SPACE.params(a), capacity_gap(a)] for a in archs])
    return out


@pytest.mark.parametrize("old,name,options", [(OldRandom, "random", {"batch": 5}),
                                              (OldNSGA2, "nsga2", {"pop_size": 8})])
def test_anchors_off_proposes_exactly_what_the_old_code_proposed(old, name, options):
    for seed in (0, 7):
        new = proposals(make_strategy(name, SPACE, 2, seed=seed, **options, anchors=False))
        before = proposals(old(SPACE, 2, 0, seed, **options))
        assert all(np.array_equal(a, b) for a, b in zip(new, before)) and len(new) == len(before) == 4
        anchored = proposals(make_strategy(name, SPACE, 2, seed=seed, **options))
        assert not np.array_equal(anchored[0], before[0])  # the option changes something: the test can fail


@pytest.mark.parametrize("name,options", [("local", {"n_init": 6}), ("morea", {"pop_size": 8, "sample_size": 4}),
                                          ("tpe", {"n_startup": 6})])
def test_anchors_off_first_proposals_are_the_seeded_random_genes(name, options):
    s = make_strategy(name, SPACE, 2, seed=5, **options, anchors=False)
    X = s.ask()
    if name == "tpe":  # Optuna's own seeded random sampler: no enqueued trial, so not the extremes
        assert [SPACE.decode(x) for x in X] not in ([LARGEST], [SMALLEST])
    else:
        expected = np.random.default_rng(5).integers(SPACE.xl, SPACE.xu + 1, size=(len(X), SPACE.n_var))
        assert np.array_equal(X, expected)


def test_nsga2_initial_population_keeps_both_anchors_through_duplicate_elimination():
    # a tiny space (6 archs) where random genes repeat the anchors: pymoo drops the repeats, never the anchors
    from subnet_kit.space import ModelDims, SearchSpace

    tiny = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "layer")
    for seed in range(5):
        X = make_strategy("nsga2", tiny, 2, seed=seed, pop_size=8).ask()
        archs = [tiny.decode(x) for x in X]
        assert archs[:2] == [tiny.decode(tiny.xu), tiny.decode(tiny.xl)] and len(set(archs)) == len(archs)


# ---- constraints ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ANCHORED)
def test_anchors_are_evaluated_even_when_infeasible_and_the_search_goes_on(strategy):
    limit = SPACE.params(LARGEST) * 0.8  # the full model breaks the constraint
    r = run(strategy, budget=16, constraints=[f"params <= {limit}"])
    h = r.history
    assert first_archs(r) == [LARGEST, SMALLEST]
    assert not h["feasible"].iloc[0] and h["feasible"].iloc[1] and h["feasible"].sum() > 2
    assert bool(r.reference()["full_model"]) and not r.pareto()["full_model"].any()


# ---- resume -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["random", "nsga2"])
def test_log_without_anchors_resumes_only_with_anchors_false_and_says_so(strategy, tmp_path):
    log = tmp_path / "s.jsonl"
    off = opts(strategy, anchors=False)
    run(strategy, budget=6, seed=2, strategy_options=off, log=log)
    assert "anchors" not in log_lines(log)[0]["key"]["strategy"]  # the key of a log written before the option
    with pytest.raises(ValueError, match=r"other settings \(strategy\.anchors: log has None, this search True\).*"
                                         r"strategy_options=\{'anchors': False\}.*--strategy-option anchors=false"):
        run(strategy, budget=10, seed=2, log=log, resume=True)
    resumed = run(strategy, budget=10, seed=2, strategy_options=off, log=log, resume=True)
    assert resumed.meta["replayed"] == 6 and len(resumed.history) == 10
    assert resumed.history["arch"].tolist() == run(strategy, budget=10, seed=2, strategy_options=off).history["arch"].tolist()


def test_other_setting_differences_get_no_anchors_hint(tmp_path):
    log = tmp_path / "s.jsonl"
    run("random", budget=4, seed=0, log=log)
    with pytest.raises(ValueError, match="other settings") as e:
        run("random", budget=4, seed=1, log=log, resume=True)
    assert "anchors" not in str(e.value)


@pytest.mark.parametrize("strategy", ANCHORED)
def test_anchored_search_stopped_and_resumed_equals_uninterrupted(strategy, tmp_path):
    log = tmp_path / "s.jsonl"
    s = Search(None, SPACE, None, OBJ, strategy=strategy, budget=14, seed=1, strategy_options=opts(strategy), log=log)
    for _ in range(5):
        s.step()
    s.stop()
    resumed = run(strategy, budget=14, seed=1, log=log, resume=True)
    assert resumed.history["arch"].tolist() == run(strategy, budget=14, seed=1).history["arch"].tolist()
    assert first_archs(resumed) == [LARGEST, SMALLEST] and resumed.meta["replayed"] == 5


# ---- Result: full_model and reference() ---------------------------------------------------------------------------
def test_full_model_column_pareto_and_reference(tmp_path):
    r = run("nsga2", budget=20, log=tmp_path / "s.jsonl")
    h = r.history
    assert h["full_model"].dtype == bool and h["full_model"].tolist() == [a == LARGEST.to_json() for a in h["arch"]]
    assert h["full_model"].sum() == 1 and bool(h["full_model"].iloc[0])
    ref = r.reference()
    assert ref["arch"] == LARGEST.to_json() and ref["eval"] == 0 and ref["params"] == SPACE.params(LARGEST)
    front = r.pareto()
    assert "full_model" in front.columns and front["full_model"].sum() == 1  # the full model has the lowest gap
    assert front.loc[front["full_model"], "arch"].item() == LARGEST.to_json()
    for again in (Result.from_log(tmp_path / "s.jsonl"), Result.from_json(r.to_json(tmp_path / "r.json"))):
        assert again.history["full_model"].tolist() == h["full_model"].tolist()
        assert again.reference()["arch"] == ref["arch"]


def test_reference_is_none_before_any_evaluation_or_when_the_full_model_was_not_evaluated():
    s = Search(None, SPACE, None, OBJ, strategy="random", budget=5, seed=0, strategy_options={"batch": 5})
    empty = s.result()
    assert empty.reference() is None and "full_model" in empty.history.columns and len(empty.pareto()) == 0
    r = run("random", budget=5, strategy_options={"batch": 5, "anchors": False})
    assert not r.history["full_model"].any() and r.reference() is None


def test_full_model_of_a_space_with_custom_bounds_is_its_largest_arch():
    from subnet_kit.space import SearchSpace

    small = SearchSpace.for_model(SPACE.dims, "uniform", layers=(2, 4), hidden=(128, 256))
    r = search(None, small, None, OBJ, strategy="random", budget=6, seed=0)
    assert r.reference()["arch"] == small.decode(small.xu).to_json() == Arch.uniform(4, 12, 1536, 256).to_json()


def test_a_result_without_its_space_has_no_full_model_and_reference_says_why():
    r = run("random", budget=4)
    d = json.loads(json.dumps(r.to_dict()))
    del d["meta"]["space"]
    for row in d["history"]:
        del row["full_model"]
    old = Result.from_dict(d)
    assert "full_model" not in old.history.columns
    with pytest.raises(ValueError, match="does not know its search space"):
        old.reference()


def test_dashboard_front_table_marks_the_full_model_row():
    pytest.importorskip("subnet_kit_widgets")
    from subnet_kit_widgets._dashboard import SearchDashboard

    r = run("nsga2", budget=20)
    html = SearchDashboard._pareto_table_html(None, r)  # uses nothing of the dashboard but the result
    assert html.count("(full model)") == 1 and f"{LARGEST.short()} (full model)" in html
    r.history["full_model"] = False
    assert "(full model)" not in SearchDashboard._pareto_table_html(None, r)

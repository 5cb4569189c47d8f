"""The Jupyter layer (subnet_kit_widgets) on a tiny random BERT with cheap objectives: traits are set directly, as in
Altair's tests/test_jupyter_chart.py, and what the views show is read back from their state and their mimebundles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import subnet_kit_widgets as skw
from subnet_kit import Arch, SearchSpace
from subnet_kit.objectives import Error, Flops, Latency, Memory, Params
from subnet_kit_widgets import ArchView, ExportPanel, ObjectivePicker, SearchDashboard, SpaceEditor

pytestmark = pytest.mark.usefixtures("one_thread")


def gap(arch: Arch) -> float:
    """A cheap stand-in for the error of a trained sub-network: falls with capacity, wiggles per arch."""
    wiggle = (sum(i * h for i, h in enumerate(arch.heads)) % 7) / 70
    return 1 / (1 + sum(arch.heads) / 4 + sum(arch.ffn) / 128 + arch.hidden / 64) + wiggle


@pytest.fixture
def space(tiny):
    return SearchSpace.for_model(tiny, "per-layer")


def dashboard(tiny, space, **kw):
    kw.setdefault("objectives", ["params", gap])
    kw.setdefault("strategy", "nsga2")
    kw.setdefault("budget", 24)
    if kw["strategy"] == "nsga2":
        kw.setdefault("strategy_options", {"pop_size": 8})
    return SearchDashboard(tiny, space, None, **kw)


def test_public_surface():
    assert skw.__all__ == ["SpaceEditor", "ObjectivePicker", "SearchDashboard", "ArchView", "ExportPanel"]
    for name in skw.__all__:
        assert getattr(skw, name).__module__.startswith("subnet_kit_widgets._")


# ---- SpaceEditor -----------------------------------------------------------------------------------------------
def test_space_editor_counts_follow_the_traits(tiny):
    editor = SpaceEditor(tiny, granularity="per-layer")
    assert editor.space == SearchSpace.for_model(tiny, "per-layer") and editor.message == ""
    assert editor.summary()["archs"] == editor.space.size()
    assert f"{editor.space.size():,}" in editor._summary.value

    editor.ffn = (32, 128, 32)  # trait -> space, summary and the slider / step controls
    expected = SearchSpace.for_model(tiny, "per-layer", ffn=(32, 128, 32))
    assert editor.space == expected
    assert editor.summary()["archs"] == expected.size()
    assert editor.summary()["params_min"] == expected.params(expected.smallest())
    assert editor.summary()["params_max"] == expected.params(expected.largest())
    assert editor._controls["ffn"]["range"].value == (32, 128) and editor._controls["ffn"]["step"].value == 32

    editor._controls["layers"]["range"].value = (2, 3)  # control -> trait -> space
    assert editor.layers == (2, 3, 1) and editor.space.layers.values == (2, 3)

    editor.granularity = "layer"  # depth only: the other dimensions are fixed at full width and disabled
    assert editor.space.size() == 2 and editor.heads == (4, 4, 1)
    assert editor._controls["heads"]["range"].disabled and not editor._controls["layers"]["range"].disabled
    editor.granularity = "uniform"
    assert editor.space.granularity == "uniform" and not editor._controls["heads"]["range"].disabled


def test_space_editor_impossible_setting_shows_the_library_message(tiny):
    editor = SpaceEditor(tiny)
    editor.ffn = (10, 128, 32)  # 128 is not on the grid 10 + 32k
    with pytest.raises(ValueError) as err:
        SearchSpace.for_model(tiny, "per-layer", ffn=(10, 128, 32))
    assert editor.space is None and editor.message == str(err.value)
    assert "not on the grid" in editor.message and "subnet-kit-error" in editor._message.value
    assert "not on the grid" in editor._repr_mimebundle_()["text/html"]
    editor.ffn = (10, 106, 32)  # fixed: the space is back and the message gone
    assert editor.space is not None and editor.message == "" and editor._message.value == ""
    editor.hidden = (24, 56, 16)  # on its grid and in range, but 24 is not a multiple of the head size 16
    assert editor.space is None and "multiples of the head size" in editor.message
    with pytest.raises(ValueError, match="allowed: layer, uniform, per-layer"):
        SpaceEditor(tiny, granularity="blocks")
    with pytest.raises(ValueError, match="allowed: layers, heads, ffn, hidden"):
        SpaceEditor(tiny, depth=(1, 2))


# ---- ObjectivePicker ---------------------------------------------------------------------------------------------
def test_picker_builds_the_objectives_with_its_settings():
    picker = ObjectivePicker(objectives=("error", "latency"), constraints=("latency <= 15", "params <= 1e6"),
                             batch_size=4, seq_len=32, threads=1, eval_limit=100)
    error, latency = picker.objectives()
    assert isinstance(error, Error) and error.limit == 100
    assert isinstance(latency, Latency) and (latency.batch_size, latency.seq_len, latency.threads) == (4, 32, 1)
    assert picker.constraints() == ["latency <= 15", "params <= 1e+06"]
    assert [type(m) for m in picker.metrics()] == [Params]  # constrained but not minimised: measured as a metric

    picker.selected = ("params", "flops", "memory")  # trait -> checkboxes
    assert [b.value for b in picker._boxes.values()] == [False, True, True, False, True]
    params, flops, memory = picker.objectives()
    assert isinstance(params, Params) and isinstance(memory, Memory) and memory.batch_size == 4
    assert isinstance(flops, Flops) and (flops.seq_len, flops.batch_size) == (32, 4)
    picker._boxes["memory"].value = False  # checkbox -> trait
    assert picker.selected == ("params", "flops")
    picker._seq.value = 128  # control -> trait
    assert picker.seq_len == 128 and picker.objectives()[1].seq_len == 128


def test_picker_rejects_bad_input_with_clear_messages():
    with pytest.raises(ValueError, match="allowed: error, params, flops, latency, memory"):
        ObjectivePicker(objectives=("accuracy",))
    with pytest.raises(ValueError, match="batch_size and seq_len must be >= 1"):  # the library's check
        ObjectivePicker(batch_size=0)
    with pytest.raises(ValueError, match="allowed here: cpu"):
        ObjectivePicker(device="tpu")
    picker = ObjectivePicker(objectives=("params",))
    picker.constraint_text = "latency below 15"
    assert "NAME <= NUMBER" in picker.message and "subnet-kit-error" in picker._message.value
    with pytest.raises(ValueError, match="NAME <= NUMBER"):
        picker.objectives()
    picker.constraint_text = "depth <= 3"
    with pytest.raises(ValueError, match=r"nor a built-in one \(error, params, flops, latency, memory\)"):
        picker.objectives()
    assert "nor a built-in one" in picker.message
    picker.constraint_text = ""
    picker.selected = ()
    with pytest.raises(ValueError, match="no objectives given"):
        picker.objectives()
    picker.selected = ("params",)
    picker.batch_size = 0
    assert "batch_size and seq_len must be >= 1" in picker.message
    picker.batch_size = 2
    assert picker.message == "" and picker.objectives()


# ---- SearchDashboard -------------------------------------------------------------------------------------------------
def test_run_charts_every_point_with_the_front_of_the_result(tiny, space):
    dash = dashboard(tiny, space)
    result = dash.run()
    assert len(result.history) == 24 and result.meta["stop_reason"] == "budget"
    data = dash.chart_data()
    assert data["eval"].tolist() == list(range(24))
    np.testing.assert_array_equal(data["front"].to_numpy(), result.pareto_mask())
    np.testing.assert_allclose(data["x"], result.history["params"])
    np.testing.assert_allclose(data["y"], result.history["gap"])
    # the widget's own chart (what a reconnecting front end renders) holds every point too
    spec = dash._pareto.widget.spec
    assert spec["data"]["name"] == "points"  # the named data set that live updates replace
    values = spec["data"]["values"]
    assert len(values) == 24 and sum(v["front"] for v in values) == result.pareto_mask().sum()
    # the hypervolume chart is Result.hypervolume_curve in the search's fixed box
    ideal, ref = dash.search.hv_box()
    np.testing.assert_allclose(dash.hv_data()["hypervolume"], result.hypervolume_curve(ref=ref, ideal=ideal))
    np.testing.assert_allclose(dash.hv_data()["hypervolume"], dash.search.hv_curve)  # the library's live curve
    m = dash.model  # the run state, as traits
    assert (m.n, m.total, m.front, m.state) == (24, 24, int(result.pareto_mask().sum()), "done")
    assert m.hv == pytest.approx(result.hypervolume(ref=ref, ideal=ideal))
    assert dash._bar.value == m.n and f"HV {m.hv:.3f}" in dash._label.value  # the view follows the traits
    assert dash._start.disabled is False and dash._stop.disabled is True


def test_same_seed_same_history_other_seed_other_history(tiny, space):
    cols = ["arch", "params", "gap"]
    a = dashboard(tiny, space, seed=3).run().history[cols]
    b = dashboard(tiny, space, seed=3).run().history[cols]
    c = dashboard(tiny, space, seed=4).run().history[cols]
    assert a.equals(b) and not a.equals(c)


def test_larger_budget_continues_the_same_search(tiny, space):
    dash = dashboard(tiny, space, strategy="random", budget=6)
    first = dash.run().history["arch"].tolist()
    dash.model.budget = 10  # Search.extend: the same search goes on
    result = dash.run()
    assert result.history["arch"].tolist()[:6] == first and len(result.history) == 10
    assert result.history["arch"].tolist() == dashboard(tiny, space, strategy="random", budget=10).run().history[
        "arch"].tolist()
    dash.model.seed = 1  # other settings: a new search
    assert dash.run().history["arch"].tolist() != result.history["arch"].tolist()


def test_live_updates_are_throttled_and_the_final_state_holds_every_point(tiny, space):
    dash = dashboard(tiny, space, strategy="random", budget=15, min_interval_s=3600)  # no live update gets through
    dash.run()
    assert dash._pareto.updates == 2  # start and end only: the final flush
    assert len(dash.chart_data()) == 15
    live = dashboard(tiny, space, strategy="random", budget=15, min_interval_s=0)  # 0: no throttling at all
    sent = []
    live._pareto.widget.observe(lambda ch: sent.append(len(ch["new"][0]["value"])), "_py_to_js_updates")
    live.run()
    assert sent == list(range(1, 16))  # every evaluation went to the chart on screen, as data, on any machine
    assert len(live._pareto.widget.spec["data"]["values"]) == 15


def test_adaptive_throttle_skips_but_never_loses_the_final_state(tiny, space):
    dash = dashboard(tiny, space, strategy="random", budget=15, min_interval_s=1e-6)
    sent = []
    dash._pareto.widget.observe(lambda ch: sent.append(len(ch["new"][0]["value"])), "_py_to_js_updates")
    dash.run()
    assert sent == sorted(set(sent)) and all(1 <= k <= 15 for k in sent)  # what went out grows, none twice
    assert len(dash._pareto.widget.spec["data"]["values"]) == 15 == len(dash.chart_data())  # the flush holds all
    with pytest.raises(ValueError, match="min_interval_s must be a number of seconds >= 0"):
        dashboard(tiny, space, min_interval_s=-1)


def test_live_chart_falls_back_to_full_redraws_on_an_unchecked_altair(tiny, space, monkeypatch):
    import altair as alt

    from subnet_kit_widgets._common import LiveChart, data_channel_supported

    assert data_channel_supported()  # the installed Altair is one the data channel was checked on
    monkeypatch.setattr(alt, "__version__", "99.0.0")
    assert not data_channel_supported()
    dash = dashboard(tiny, space, strategy="random", budget=4, min_interval_s=0)
    assert dash._pareto.mode == "spec" and LiveChart(lambda rows: None, "x", "y", mode="spec").mode == "spec"
    writes = []
    dash._pareto.widget.observe(lambda ch: writes.append(ch), "_py_to_js_updates")
    specs = []
    dash._pareto.widget.observe(lambda ch: specs.append(len(ch["new"]["data"]["values"])), "spec")
    dash.run()
    assert writes == [] and specs[-1] == 4 and 4 <= len(specs)  # every update was a full chart, none used the channel


def test_start_and_stop_in_a_running_loop_keep_what_was_evaluated(tiny, space):
    dash = dashboard(tiny, space, strategy="random", budget=500)

    async def main():
        task = dash.start()
        assert dash.model.state == "running" and dash._stop.disabled is False
        while dash.search is None or len(dash.search.records) < 3:
            await asyncio.sleep(0)  # the search yields between evaluations: this coroutine runs meanwhile
        dash.stop()
        return task, await dash.wait()

    task, result = asyncio.run(main())
    assert task.done() and not dash.running
    assert 3 <= len(result.history) < 500 and result.meta["stop_reason"] == "stopped"
    assert len(dash.chart_data()) == len(result.history)
    assert dash.model.state == "stopped" and dash.model.n == len(result.history)


def test_start_without_a_running_loop_says_to_use_run(tiny, space):
    dash = dashboard(tiny, space)
    with pytest.raises(RuntimeError, match=r"use dash\.run\(\)"):
        dash.start()


def test_selecting_a_point_in_the_chart_shows_its_arch(tiny, space):
    dash = dashboard(tiny, space, strategy="random", budget=8)
    result = dash.run()
    chart = dash._pareto.widget
    # what the front end sends when a point is clicked (JupyterChart's _vl_selections trait)
    chart._vl_selections = {"pick": {"value": {"vlPoint": {"or": [{"eval": 5}]}}, "store": []}}
    arch = Arch.from_json(result.history["arch"][5])
    assert chart.selections.pick.value == [{"eval": 5}]
    assert dash.selected == arch and dash.arch_view.arch == arch
    info = dash.arch_view.info()
    assert info["params"] == space.params(arch) and info["flops"] == space.flops(arch, seq_len=64)
    rows = dash.arch_view.chart_data()
    kept = rows[(rows["kind"] == "heads") & (rows["layer"] < arch.layers)]["kept"].tolist()
    assert kept == list(arch.heads)
    assert arch.short() in dash._repr_mimebundle_()["text/html"]
    chart._vl_selections = {"pick": {"value": {}, "store": []}}  # cleared (double click): the arch stays
    assert dash.selected == arch
    with pytest.raises(ValueError, match="no evaluation 99"):
        dash.select(99)


def test_arch_view_and_its_latency(tiny, space):
    arch = Arch((2), (4, 1), (128, 8), 32)
    view = ArchView(arch, space, supernet=tiny, latency=1.5)
    assert "1.5 ms" in view._summary.value and view.info()["params"] == space.params(arch)
    ms = view.measure_latency(repeats=10, warmup=1)
    assert ms > 0 and view.latency == ms
    view.arch = space.largest()
    assert view.chart_data()["kept"].sum() == 3 * 4 + 3 * 128
    with pytest.raises(ValueError, match="must be a SearchSpace"):
        ArchView(arch, None)


def test_export_panel_round_trip(tiny, space, tmp_path):
    dash = dashboard(tiny, space, strategy="random", budget=5)
    dash.run()
    panel = ExportPanel(tiny, dashboard=dash, out_dir=tmp_path / "exported", repeats=10)
    with pytest.raises(ValueError, match="select a point"):
        panel.export()
    arch = dash.select(2)
    assert panel.arch == arch  # the panel follows the dashboard's selection
    info = panel.export()
    assert 0 <= info["reload_max_abs_diff"] <= 1e-4 and 0 <= info["active_max_abs_diff"] <= 1e-4
    assert info["params"] == space.params(arch) and info["full_params"] == space.params(space.largest())
    assert info["latency_ms"] > 0 and info["full_latency_ms"] > 0
    assert info == panel.report.to_dict() and Arch.from_dict(info["arch"]) == arch  # the library's DeployReport
    assert Path(info["path"]) == tmp_path / "exported" / arch.slug()
    from subnet_kit import load_subnet

    assert load_subnet(info["path"]).arch == arch
    assert "speed-up" in panel._repr_mimebundle_()["text/html"]
    with pytest.raises(ValueError, match="repeats must be an int >= 10"):
        ExportPanel(tiny, repeats=3)


# ---- headless: the static part of the outputs ----------------------------------------------------------------------
def test_headless_mimebundle_holds_the_static_chart_and_table(tiny, space, monkeypatch):
    dash = dashboard(tiny, space, strategy="random", budget=10)
    before = dash._repr_mimebundle_()
    assert before["application/vnd.jupyter.widget-view+json"]["model_id"] == dash.model_id
    assert "0 / 10 evaluations" in before["text/html"] and "<svg" not in before["text/html"]

    shown, updated = [], []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    monkeypatch.setattr(IPython.display, "update_display", lambda obj, **kw: updated.append((obj, kw)))
    dash._ipython_display_()  # what IPython calls to show the dashboard
    result = dash.run()  # ... and run() refreshes that output when it ends
    assert shown[0][1]["display_id"] == updated[-1][1]["display_id"]
    html = updated[-1][0]["text/html"]
    assert html.count("<svg") == 2  # the Pareto and hypervolume charts, rendered by vl-convert
    assert "10 / 10 evaluations" in html and "Pareto front</b> (" in html
    front = result.pareto()
    for label in (Arch.from_json(a).short() for a in front["arch"]):
        assert label in html
    for view in (SpaceEditor(tiny), ObjectivePicker(), ArchView(space.largest(), space), ExportPanel(tiny)):
        bundle = view._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/html"]
    assert "<svg" in ArchView(space.largest(), space)._repr_mimebundle_()["text/html"]


def test_save_chart_png_and_svg(tiny, space, tmp_path):
    dash = dashboard(tiny, space, strategy="random", budget=6)
    dash.run()
    png, svg = dash.save_chart(tmp_path / "pareto.png"), dash.save_chart(tmp_path / "hv.svg", which="hv")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "<svg" in svg.read_text()[:200]
    with pytest.raises(ValueError, match="allowed: .png, .svg"):
        dash.save_chart(tmp_path / "pareto.jpg")


def test_dashboard_rejects_bad_input(tiny, space):
    with pytest.raises(ValueError, match="allowed: gp, linas, local, morea, nsga2, random, tpe"):
        SearchDashboard(tiny, space, None, objectives=["params"], strategy="genetic")
    with pytest.raises(ValueError, match="SpaceEditor's setting is impossible"):
        SearchDashboard(tiny, None, None, objectives=["params"])
    with pytest.raises(ValueError, match="budget"):
        SearchDashboard(tiny, space, None, objectives=["params"], budget=0)
    dash = SearchDashboard(tiny, space, None, objectives=ObjectivePicker(objectives=("params",)), budget=3)
    dash.picker.selected = ()
    with pytest.raises(ValueError, match="no objectives given"):
        dash.run()
    assert "no objectives given" in dash.message and "no objectives given" in dash._message.value
    with pytest.raises(ValueError, match="no objectives given"):  # the library's check, at construction
        SearchDashboard(tiny, space, None, objectives=[])
    dash.picker.selected = ("params",)
    dash.model.budget = 0  # typed into the budget box: shown inline when the search starts
    with pytest.raises(ValueError, match="budget"):
        dash.run()
    assert "budget" in dash.message and dash.search is None


def test_a_failing_objective_shows_inline_and_keeps_what_was_evaluated(tiny, space):
    calls = []

    def flaky(arch):
        calls.append(arch)
        if len(calls) > 3:
            raise ValueError("the probe set is gone")
        return float(arch.layers)

    dash = dashboard(tiny, space, objectives=["params", flaky], strategy="random", budget=10)
    with pytest.raises(ValueError, match="probe set is gone"):
        dash.run()
    assert "probe set is gone" in dash.message and dash.model.state == "failed" and not dash.running
    assert len(dash.chart_data()) == 3 == len(dash.result.history)

    async def main():
        calls.clear()
        other = dashboard(tiny, space, objectives=["params", flaky], strategy="random", budget=10, seed=1)
        other.start()
        with pytest.raises(ValueError, match="probe set is gone"):
            await other.wait()
        return other

    other = asyncio.run(main())
    assert "probe set is gone" in other.message and len(other.chart_data()) == 3


# ---- library state shown by the views ----------------------------------------------------------------------------
def test_space_editor_reads_bounds_as_the_library_does(tiny):
    step = SearchSpace.for_model(tiny, "per-layer").ffn.step
    assert step > 1
    editor = SpaceEditor(tiny, ffn=(step, 128))  # (min, max): the default step, as in SearchSpace.for_model
    assert editor.space == SearchSpace.for_model(tiny, ffn=(step, 128)) and editor.ffn == (step, 128, step)
    with pytest.raises(ValueError, match=r"ffn bounds must be an int, \(min, max\) or \(min, max, step\)"):
        SpaceEditor(tiny, ffn=(1, 2, 3, 4))


def test_the_message_shows_infeasible_results_and_noisy_latencies(tiny, space):
    def latency(arch):  # stands in for the Latency objective's extras: every third measurement flagged noisy
        return {"value": float(arch.layers), "noisy": sum(arch.heads) % 3 == 0}

    dash = dashboard(tiny, space, objectives=["params", latency], strategy="random", budget=9,
                     constraints=["params <= 1"])
    result = dash.run()
    assert result.infeasible_message and result.infeasible_message in dash.message
    noisy = int(result.history["latency_noisy"].sum())
    assert noisy and dash.model.noisy == noisy and f"latency of {noisy} of 9 evaluated archs was noisy" in dash.message
    assert dash.model.state == "done" and "subnet-kit-error" in dash._message.value


def test_a_picker_change_starts_a_new_search_and_the_device_is_never_moved(tiny, space, monkeypatch):
    picker = ObjectivePicker(objectives=("params", "flops"))
    dash = SearchDashboard(tiny, space, None, objectives=picker, strategy="random", budget=4)
    first = dash.run()
    picker.seq_len = 32  # other settings: the next run is another search
    assert dash.search is None
    assert len(dash.run().history) == 4 and dash.search.objectives[1].seq_len == 32
    assert first.history["flops"].tolist() != dash.result.history["flops"].tolist()

    import subnet_kit_widgets._objectives as objectives_module

    monkeypatch.setattr(objectives_module, "available_devices", lambda: ["cpu", "cuda"])
    gpu = ObjectivePicker(objectives=("params",), device="cuda")
    dash = SearchDashboard(tiny, space, None, objectives=gpu, strategy="random", budget=2)
    with pytest.raises(ValueError, match=r"super-network is on 'cpu': move it first"):
        dash.run()
    assert str(next(tiny.parameters()).device) == "cpu" and "move it first" in dash.message

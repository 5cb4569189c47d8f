"""fine_tune and evaluate on a tiny BERT and a tiny learnable task."""

import numpy as np
import pytest
import torch

from conftest import tiny_supernet
from subnet_kit import Arch, SearchSpace
from subnet_kit.train import distill, evaluate, fine_tune


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fine_tune_learns_the_task(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    before = evaluate(sn, tiny_task)
    r = fine_tune(sn, tiny_task, epochs=4, lr=1e-3, batch_size=16, progress=False)
    assert r.history[-1]["full"] < r.history[0]["full"]
    assert r.eval["accuracy"] >= 0.8 > before["accuracy"] - 0.2
    assert r.eval["accuracy"] > before["accuracy"]
    assert r.steps == 4 * 20 and r.sentences_per_s > 0
    assert not sn.training


def test_same_seed_same_weights_and_caller_rng_untouched(tiny_tokenizer, tiny_task):
    runs = []
    for seed in (0, 0, 1):
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        state = torch.random.get_rng_state()
        fine_tune(sn, tiny_task, max_steps=6, lr=1e-3, batch_size=16, seed=seed, progress=False, eval_split=None)
        assert torch.equal(state, torch.random.get_rng_state())
        runs.append(weights(sn))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_interrupted_then_resumed_equals_uninterrupted(tiny_tokenizer, tiny_task, tmp_path):
    kw = dict(max_steps=10, lr=1e-3, batch_size=16, seed=3, progress=False, eval_split=None, checkpoint_every=3)

    def fresh():
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        return sn

    a = fresh()
    fine_tune(a, tiny_task, checkpoint_dir=tmp_path / "a", **kw)
    b = fresh()
    r = fine_tune(b, tiny_task, checkpoint_dir=tmp_path / "b", on_step=lambda step, losses: step == 5, **kw)
    assert r.steps == 5
    c = fresh()  # a new process would start from scratch weights too
    r = fine_tune(c, tiny_task, checkpoint_dir=tmp_path / "b", resume=True, **kw)
    assert r.history[-1]["step"] == 10
    wa, wc = weights(a), weights(c)
    assert all(torch.allclose(wa[k], wc[k], atol=1e-6) for k in wa)
    with pytest.raises(ValueError, match="another run"):
        fine_tune(fresh(), tiny_task, checkpoint_dir=tmp_path / "b", resume=True, **{**kw, "seed": 4})


def test_evaluate_a_subnetwork_equals_evaluating_its_extraction(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    arch = Arch(2, (2, 3), (64, 16), 32)
    on_super = evaluate(sn, tiny_task, "test", arch=arch, batch_size=7)
    assert sn.active_arch == sn.dims.full_arch()
    assert on_super == evaluate(sn.extract(arch), tiny_task, "test", batch_size=7)
    assert on_super["n"] == len(tiny_task["test"])
    assert evaluate(sn, tiny_task, "test", limit=10)["n"] == 10
    with pytest.raises(ValueError, match="selects a sub-network of a SuperNet"):
        evaluate(sn.extract(arch), tiny_task, arch=arch)


def test_fine_tune_errors(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    with pytest.raises(ValueError, match="allowed: standard, random, sandwich"):
        fine_tune(sn, tiny_task, strategy="bogus", progress=False)
    with pytest.raises(ValueError, match="resume=True needs the checkpoint_dir"):
        fine_tune(sn, tiny_task, resume=True, progress=False)
    with pytest.raises(ValueError, match="max_steps must be > 0"):
        fine_tune(sn, tiny_task, max_steps=0, progress=False)
    three = tiny_supernet(num_labels=3)
    three.tokenizer = sn.tokenizer
    with pytest.raises(ValueError, match="has 2 labels but the super-network's head has 3"):
        fine_tune(three, tiny_task, progress=False)


@pytest.mark.parametrize("strategy, kd", [("random", False), ("sandwich", False), ("sandwich", True)])
def test_weight_sharing_lowers_loss_of_smallest_and_largest(tiny_tokenizer, tiny_task, strategy, kd):
    sn = tiny_supernet(num_labels=2)
    sn.tokenizer = tiny_tokenizer
    space = SearchSpace.for_model(sn, "per-layer", hidden=(32, 64, 16))
    small, large = space.smallest(), space.largest()
    before = [evaluate(sn, tiny_task, "train", arch=a, limit=160)["loss"] for a in (small, large)]
    r = fine_tune(sn, tiny_task, strategy=strategy, space=space, kd=kd, epochs=4, lr=1e-3, batch_size=16,
                  progress=False, eval_split=None, log_every=20)
    after = [evaluate(sn, tiny_task, "train", arch=a, limit=160)["loss"] for a in (small, large)]
    assert after[0] < before[0] and after[1] < before[1]
    if kd:
        assert {"largest", "smallest", "random", "kd"} <= set(r.history[0])


def test_kd_term_decreases_once_the_teacher_knows_the_task(tiny_tokenizer, tiny_task):
    """From a fine-tuned full model (the teacher is competent), in-place distillation pulls the students to it."""
    sn = tiny_supernet(num_labels=2)
    sn.tokenizer = tiny_tokenizer
    fine_tune(sn, tiny_task, epochs=4, lr=1e-3, batch_size=16, progress=False, eval_split=None)
    space = SearchSpace.for_model(sn, "uniform", hidden=(32, 64, 16))
    r = fine_tune(sn, tiny_task, strategy="sandwich", space=space, kd=True, epochs=4, lr=1e-3, batch_size=16,
                  progress=False, eval_split=None, log_every=20)
    assert r.history[-1]["kd"] < 0.5 * r.history[0]["kd"]


def test_sandwich_kd_is_deterministic_and_resumes_exactly(tiny_tokenizer, tiny_task, tmp_path):
    def run(seed, **kw):
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        space = SearchSpace.for_model(sn, "uniform")
        fine_tune(sn, tiny_task, strategy="sandwich", space=space, kd=True, max_steps=8, lr=1e-3, batch_size=16,
                  seed=seed, progress=False, eval_split=None, checkpoint_every=3, **kw)
        return weights(sn)

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    run(0, checkpoint_dir=tmp_path, on_step=lambda step, losses: step == 4)
    d = run(0, checkpoint_dir=tmp_path, resume=True)
    assert all(torch.allclose(a[k], d[k], atol=1e-6) for k in a)


def test_cache_returns_the_trained_weights(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))

    def run():
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        r = fine_tune(sn, tiny_task, strategy="sandwich", space=SearchSpace.for_model(sn, "layer"), max_steps=5,
                      lr=1e-3, batch_size=16, progress=False, cache=True)
        return sn, r

    first, r1 = run()
    second, r2 = run()
    assert r1.from_cache is None and r2.from_cache is not None and "sandwich-layer-seed0" in r2.from_cache
    assert all(torch.equal(v, weights(second)[k]) for k, v in weights(first).items())
    assert r2.eval == r1.eval and r2.steps == 5


def test_distill_improves_an_extracted_student(tiny_tokenizer, tiny_task):
    teacher = tiny_supernet(num_labels=2)
    teacher.tokenizer = tiny_tokenizer
    fine_tune(teacher, tiny_task, epochs=4, lr=1e-3, batch_size=16, progress=False, eval_split=None)
    student = teacher.extract(Arch.uniform(1, 1, 32, 32))
    t_before = weights(teacher)
    r = distill(student, teacher, tiny_task, epochs=4, lr=1e-3, batch_size=16, progress=False)
    assert r.eval["loss"] < r.eval_before["loss"] and r.eval["accuracy"] >= r.eval_before["accuracy"]
    assert r.history[-1]["kd"] < r.history[0]["kd"]
    assert all(torch.equal(v, weights(teacher)[k]) for k, v in t_before.items())  # the teacher is untouched


def test_weight_sharing_errors(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    with pytest.raises(ValueError, match="samples sub-networks: pass space="):
        fine_tune(sn, tiny_task, strategy="sandwich", progress=False)
    with pytest.raises(ValueError, match="kd=True needs .*sandwich"):
        fine_tune(sn, tiny_task, strategy="random", space=SearchSpace.for_model(sn, "layer"), kd=True, progress=False)
    other = SearchSpace.for_model(tiny_supernet(num_labels=3), "layer")
    with pytest.raises(ValueError, match="built for another super-network"):
        fine_tune(sn, tiny_task, strategy="random", space=other, progress=False)
    with pytest.raises(ValueError, match="same model"):
        distill(sn, sn, tiny_task, progress=False)


def test_train_supernet_recipes(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    from subnet_kit.train import train_supernet

    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))
    sn = tiny_supernet(num_labels=2)
    sn.tokenizer = tiny_tokenizer
    space = SearchSpace.for_model(sn, "per-layer")
    stages = train_supernet(sn, tiny_task, space, recipe="two-stage+reorder", steps=6, lr=1e-3, batch_size=16,
                            importance_batches=2, progress=False)
    assert [r.strategy for r in stages] == ["standard", "sandwich+kd"] and [r.steps for r in stages] == [3, 3]
    again = tiny_supernet(num_labels=2)
    again.tokenizer = tiny_tokenizer
    monkeypatch.setattr(type(again), "reorder", lambda *a, **k: pytest.fail("a cached recipe reorders again"))
    cached = train_supernet(again, tiny_task, space, recipe="two-stage+reorder", steps=6, lr=1e-3, batch_size=16,
                            importance_batches=2, progress=False)
    assert all(r.from_cache for r in cached)  # both stages, the reordered start of the second included
    assert all(torch.equal(v, weights(again)[k]) for k, v in weights(sn).items())
    with pytest.raises(ValueError, match="allowed: standard, random, sandwich, sandwich\\+kd, two-stage"):
        train_supernet(sn, tiny_task, space, recipe="bogus")


def test_train_config_and_keyword_overrides_are_one_thing(tiny_tokenizer, tiny_task):
    from subnet_kit.train import TrainConfig

    cfg = TrainConfig(max_steps=4, lr=1e-3, batch_size=16, seed=2, eval_split=None)
    runs = []
    for kw in ({"config": cfg}, {"max_steps": 4, "lr": 1e-3, "batch_size": 16, "seed": 2, "eval_split": None}):
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        runs.append((fine_tune(sn, tiny_task, progress=False, **kw), weights(sn)))
    (r1, w1), (r2, w2) = runs
    assert r1.steps == r2.steps == 4 and r1.history == r2.history
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    sn = tiny_supernet(num_labels=2)
    sn.tokenizer = tiny_tokenizer
    assert fine_tune(sn, tiny_task, config=cfg, max_steps=2, progress=False).steps == 2  # a keyword beats the config
    assert cfg.max_steps == 4  # ... and leaves the config alone
    with pytest.raises(ValueError, match="unknown training setting\\(s\\) bogus, lr_rate; allowed: epochs, max_steps, lr"):
        fine_tune(sn, tiny_task, bogus=1, lr_rate=1e-3, progress=False)
    with pytest.raises(ValueError, match="k, the sandwich's .* is strategy=Sandwich"):
        fine_tune(sn, tiny_task, k=3, progress=False)
    with pytest.raises(ValueError, match="config must be a TrainConfig, got dict"):
        fine_tune(sn, tiny_task, config={"lr": 1e-3}, progress=False)
    with pytest.raises(ValueError, match="warmup must be in \\[0, 1\\], got 2"):
        TrainConfig(warmup=2)
    with pytest.raises(ValueError, match="distill takes temperature= and alpha=, not kd_alpha="):
        distill(sn.extract(Arch.uniform(1, 1, 32, 32)), sn, tiny_task, kd_alpha=0.5, progress=False)


def test_training_strategies_declare_roles_and_teacher(tiny_with_tokenizer, tiny_task):
    from subnet_kit.train import TRAINING_STRATEGIES, Sandwich, make_training_strategy

    space = SearchSpace.for_model(tiny_with_tokenizer, "layer")
    drawn = Sandwich(space, k=3).archs(0, np.random.default_rng(0))
    assert [role for role, _ in drawn] == ["largest", "smallest", "random", "random", "random"]
    assert drawn[0][1] == space.largest() and drawn[1][1] == space.smallest()
    assert [n for n, s in TRAINING_STRATEGIES.items() if s.teacher_first] == ["sandwich"]
    assert make_training_strategy("standard").archs(0, np.random.default_rng(0)) == [("full", None)]
    r = fine_tune(tiny_with_tokenizer, tiny_task, Sandwich(space, k=0), kd=True, max_steps=2, batch_size=16,
                  progress=False, eval_split=None, log_every=1)
    assert set(r.history[0]) == {"step", "lr", "largest", "smallest", "kd"}  # k=0: no random sub-network


def test_recipe_cache_key_includes_the_recipe_version(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    import dataclasses

    from subnet_kit.recipes import Recipe, Stage, train_supernet

    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))
    recipe = Recipe("tiny", (Stage("standard"),))

    def run(r):
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        return train_supernet(sn, tiny_task, recipe=r, steps=2, lr=1e-3, batch_size=16, progress=False)[0]

    first, again = run(recipe), run(recipe)
    assert first.from_cache is None and again.from_cache is not None and "tiny-full-seed0" in again.from_cache
    bumped = run(dataclasses.replace(recipe, version=2))
    assert bumped.from_cache is None  # trained again, not the version-1 weights
    assert run(dataclasses.replace(recipe, version=2)).from_cache not in (None, again.from_cache)
    with pytest.raises(ValueError, match="must sum to 1"):
        Recipe("x", (Stage("standard", fraction=0.5),))
    with pytest.raises(ValueError, match="kd=True needs a teacher_first strategy"):
        Stage("random", kd=True)
    with pytest.raises(ValueError, match="reorder_after_stage must be a stage index 0..0"):
        Recipe("x", (Stage("standard"),), reorder_after_stage=1)


def test_interrupted_recipe_continues_after_its_last_finished_stage(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    import subnet_kit.recipes as recipes

    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))
    real, calls = recipes.fine_tune, []

    def counting(*args, **kw):  # counts the steps each stage really trains; stage 2 of the first run crashes
        calls.append(0)
        if crash[0] and len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, on_step=lambda step, losses: calls.__setitem__(-1, calls[-1] + 1), **kw)

    monkeypatch.setattr(recipes, "fine_tune", counting)

    def run():
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        space = SearchSpace.for_model(sn, "layer")
        stages = recipes.train_supernet(sn, tiny_task, space, recipe="two-stage", steps=4, lr=1e-3, batch_size=16,
                                        progress=False)
        return stages, weights(sn)

    crash = [True]
    with pytest.raises(KeyboardInterrupt):
        run()
    assert calls == [2, 0]
    crash[0], calls[:] = False, []
    stages, resumed = run()
    assert calls == [0, 2]  # stage 1 came from its checkpoint
    monkeypatch.setattr(recipes, "fine_tune", real)
    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path / "fresh"))
    uninterrupted_stages, uninterrupted = run()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert [r.history for r in stages] == [r.history for r in uninterrupted_stages]
    assert not list(tmp_path.glob("supernets/*.stages"))  # the stages' checkpoints go once the entry is written


def test_a_damaged_cache_entry_is_one_clear_error(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))

    def run():
        sn = tiny_supernet(num_labels=2)
        sn.tokenizer = tiny_tokenizer
        return fine_tune(sn, tiny_task, max_steps=2, batch_size=16, progress=False, eval_split=None, cache=True)

    run()
    (weights_file,) = tmp_path.glob("supernets/*/model/model.safetensors")
    data = weights_file.read_bytes()
    weights_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cached weights in .* cannot be read .*truncated.*delete that folder"):
        run()
    assert weights_file.stat().st_size == len(data) // 2  # nothing was overwritten or deleted

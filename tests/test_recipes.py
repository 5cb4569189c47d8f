"""Issue 9's training pieces: the layer rule, the frozen teacher, sampling biased toward small sub-networks, the
reference fine-tuning (best epoch by validation) and recipes that start from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import random_batch, tiny_supernet
from subnet_kit import SearchSpace, SuperNet, fine_tune
from subnet_kit.modules import kept_layers
from subnet_kit.recipes import Recipe, Stage, fine_tune_reference, train_supernet
from subnet_kit.train import Sandwich


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _tiny(tok, **kw):
    sn = tiny_supernet(num_labels=2, **kw)
    sn.tokenizer = tok
    return sn


# ---- layer rule ------------------------------------------------------------------------------------------------
def test_kept_layers():
    assert kept_layers(3, 6, "first") == [0, 1, 2]
    assert kept_layers(3, 6, "spread") == [1, 3, 5]
    assert kept_layers(1, 6, "spread") == [5]
    assert kept_layers(6, 6, "spread") == list(range(6)) == kept_layers(6, 6, "first")
    for k in range(1, 13):
        ids = kept_layers(k, 12, "spread")
        assert len(ids) == k and ids == sorted(set(ids)) and ids[-1] == 11
    with pytest.raises(ValueError, match="allowed: first, spread"):
        kept_layers(2, 6, "every-other")
    with pytest.raises(ValueError, match="0..6"):
        kept_layers(7, 6, "first")


def test_spread_rule_runs_and_extracts_the_spread_layers(tmp_path):
    sn = tiny_supernet()  # 3 layers
    b = random_batch(sn.dims.vocab_size)
    arch = SearchSpace.for_model(sn, "uniform").largest()
    one = dataclasses.replace(arch, layers=1, heads=arch.heads[:1], ffn=arch.ffn[:1])
    with sn.activate(one):
        first = sn(b["input_ids"], b["attention_mask"])
    sn.layer_rule = "spread"
    with sn.activate(one):
        spread = sn(b["input_ids"], b["attention_mask"])
    assert not torch.allclose(first, spread)  # another layer ran
    sub = sn.extract(one).eval()
    assert torch.allclose(sub(b["input_ids"], b["attention_mask"]), spread, atol=1e-6)
    assert torch.equal(sub.encoder.layer[0].output.dense.weight, sn.encoder.layer[2].output.dense.weight)
    assert sub.shape.layer_rule == "first"
    rng = np.random.default_rng(0)
    space = SearchSpace.for_model(sn, "per-layer")
    for _ in range(5):  # per-layer archs: heads[i] / ffn[i] belong to the i-th kept layer
        a = space.sample(rng)
        with sn.activate(a):
            active = sn(b["input_ids"], b["attention_mask"])
        assert torch.allclose(sn.extract(a).eval()(b["input_ids"], b["attention_mask"]), active, atol=1e-5)
    sn.save(tmp_path / "sn")
    again = SuperNet.load(tmp_path / "sn")
    assert again.layer_rule == "spread"
    with again.activate(one):
        assert torch.allclose(again(b["input_ids"], b["attention_mask"]), spread, atol=1e-6)
    with pytest.raises(ValueError, match="allowed: first, spread"):
        sn.layer_rule = "last"


# ---- frozen teacher and small-biased sampling ------------------------------------------------------------------
def test_frozen_teacher_teaches_every_subnetwork_and_stays_frozen(tiny_tokenizer, tiny_task, tmp_path):
    import copy

    def run(seed=0):
        sn = _tiny(tiny_tokenizer)
        fine_tune(sn, tiny_task, epochs=2, lr=1e-3, batch_size=16, progress=False, eval_split=None)
        teacher = copy.deepcopy(sn).eval().requires_grad_(False)
        before = weights(teacher)
        space = SearchSpace.for_model(sn, "per-layer")
        r = fine_tune(sn, tiny_task, Sandwich(space, k=1), space=space, teacher=teacher, max_steps=6, lr=1e-3,
                      batch_size=16, seed=seed, progress=False, eval_split=None, log_every=1)
        assert all(torch.equal(v, weights(teacher)[k]) for k, v in before.items())
        return sn, r

    a, ra = run()
    b, rb = run()
    assert all(torch.equal(v, weights(b)[k]) for k, v in weights(a).items())  # deterministic by seed
    assert ra.strategy == "sandwich+teacher" and all("kd" in h for h in ra.history)
    sn = _tiny(tiny_tokenizer)
    space = SearchSpace.for_model(sn, "per-layer")
    with pytest.raises(ValueError, match="replaces kd=True"):
        fine_tune(sn, tiny_task, "sandwich", space=space, kd=True, teacher=copy.deepcopy(sn), progress=False)
    with pytest.raises(ValueError, match="cannot key a run by its teacher"):
        fine_tune(sn, tiny_task, "sandwich", space=space, teacher=copy.deepcopy(sn), cache=True, progress=False)


def test_sandwich_biased_toward_small_subnetworks():
    sn = tiny_supernet()
    space = SearchSpace.for_model(sn, "per-layer")
    full = space.params(space.largest(), "encoder")
    rng = np.random.default_rng(0)
    plain, biased = Sandwich(space, k=2), Sandwich(space, k=2, small_share=1.0, small_bound=0.3)
    drawn = [a for s in range(50) for role, a in biased.archs(s, rng) if role == "random"]
    assert all(space.params(a, "encoder") <= 0.3 * full for a in drawn)
    uniform = [a for s in range(50) for role, a in plain.archs(s, rng) if role == "random"]
    assert np.mean([space.params(a, "encoder") for a in uniform]) > np.mean([space.params(a, "encoder") for a in drawn])
    assert biased.options()["small_share"] == 1.0 and "small_share" not in plain.options()
    with pytest.raises(ValueError, match="small_share must be in"):
        Sandwich(space, small_share=1.5)
    with pytest.raises(ValueError, match="no sub-network of the space"):
        Sandwich(space, small_share=0.5, small_bound=0.0001)


# ---- the reference fine-tuning ---------------------------------------------------------------------------------
def test_reference_keeps_the_best_epoch_and_stops_after_patience(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    import subnet_kit.recipes as recipes

    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))
    accs = iter([0.6, 0.8, 0.7, 0.9])
    snapshots = []
    real = recipes.evaluate

    def fake(model, task, split="validation", **kw):
        snapshots.append(weights(model))
        return {"accuracy": next(accs)}

    monkeypatch.setattr(recipes, "evaluate", fake)
    sn = _tiny(tiny_tokenizer)
    r = fine_tune_reference(sn, tiny_task, max_epochs=4, patience=1, lr=1e-3, batch_size=16, progress=False)
    assert len(snapshots) == 3  # epoch 3 was worse than epoch 2: stopped there, the 4th epoch never ran
    assert r.eval["best_epoch"] == 2 and r.eval["epochs_run"] == 3 and r.eval["accuracy"] == 0.8
    assert all(torch.equal(v, snapshots[1][k]) for k, v in weights(sn).items())  # the best epoch's weights
    assert [h["validation_accuracy"] for h in r.history if "validation_accuracy" in h] == [0.6, 0.8, 0.7]
    monkeypatch.setattr(recipes, "evaluate", real)
    again = _tiny(tiny_tokenizer)
    cached = fine_tune_reference(again, tiny_task, max_epochs=4, patience=1, lr=1e-3, batch_size=16, progress=False)
    assert cached.from_cache is not None and cached.eval == r.eval
    assert all(torch.equal(v, weights(again)[k]) for k, v in weights(sn).items())
    with pytest.raises(ValueError, match="max_epochs and patience must be >= 1"):
        fine_tune_reference(sn, tiny_task, patience=0)


def test_recipe_from_the_reference_with_a_frozen_teacher(tiny_tokenizer, tiny_task, tmp_path, monkeypatch):
    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path))
    recipe = Recipe("t", (Stage("sandwich", frozen_teacher=True, options=(("k", 1),)),), reorder_after_stage=-1,
                    from_reference=True, steps_scale=2.0, layer_rule="spread")
    assert recipe.stage_steps(3) == [6]

    def run():
        sn = _tiny(tiny_tokenizer)
        space = SearchSpace.for_model(sn, "per-layer")
        rs = train_supernet(sn, tiny_task, space, recipe=recipe, steps=3, lr=1e-3, batch_size=16,
                            importance_batches=2, progress=False)
        return sn, rs

    sn, rs = run()
    assert [r.strategy for r in rs] == ["reference", "sandwich+teacher"] and rs[1].steps == 6
    assert sn.layer_rule == "spread"
    again, cached = run()
    assert all(r.from_cache for r in cached) and again.layer_rule == "spread"
    assert all(torch.equal(v, weights(again)[k]) for k, v in weights(sn).items())


def test_recipe_validation():
    with pytest.raises(ValueError, match="stage index 0..0 or None"):
        Recipe("x", (Stage("standard"),), reorder_after_stage=-1)
    with pytest.raises(ValueError, match="not both"):
        Stage("sandwich", kd=True, frozen_teacher=True)
    with pytest.raises(ValueError, match="unknown layer rule"):
        Recipe("x", (Stage("standard"),), layer_rule="middle")
    with pytest.raises(ValueError, match="steps_scale must be > 0"):
        Recipe("x", (Stage("standard"),), steps_scale=0)


def test_recipe_plan_says_what_runs():
    from subnet_kit.recipes import RECIPES, TRAIN_RECIPE

    default = RECIPES[TRAIN_RECIPE].plan(252)
    assert "reference fine-tuning (up to 3 x 252 steps" in default and "504 steps of sandwich with a frozen teacher" in default
    assert RECIPES["two-stage+reorder"].plan(10) == ("recipe two-stage+reorder: 5 steps of standard, then 5 steps of "
                                                     "sandwich with in-place distillation")

"""fine_tune and evaluate on a tiny BERT and a tiny learnable task."""

import pytest
import torch

from conftest import tiny_supernet
from subnet_kit import Arch
from subnet_kit.train import evaluate, fine_tune


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fine_tune_learns_the_task(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    before = evaluate(sn, tiny_task)
    r = fine_tune(sn, tiny_task, epochs=4, lr=1e-3, batch_size=16, progress=False)
    assert r.history[-1]["loss"] < r.history[0]["loss"]
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


def test_fine_tune_errors(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    with pytest.raises(ValueError, match="allowed: standard"):
        fine_tune(sn, tiny_task, strategy="bogus", progress=False)
    with pytest.raises(ValueError, match="resume=True needs the checkpoint_dir"):
        fine_tune(sn, tiny_task, resume=True, progress=False)
    with pytest.raises(ValueError, match="max_steps must be > 0"):
        fine_tune(sn, tiny_task, max_steps=0, progress=False)
    three = tiny_supernet(num_labels=3)
    three.tokenizer = sn.tokenizer
    with pytest.raises(ValueError, match="has 2 labels but the super-network's head has 3"):
        fine_tune(three, tiny_task, progress=False)

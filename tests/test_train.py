"""fine_tune and evaluate on a tiny BERT and a tiny learnable task."""

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

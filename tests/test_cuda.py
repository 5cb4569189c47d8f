"""The CUDA paths (skipped where no GPU is present, as in CI): sub-networks, training and evaluation on the GPU."""

import pytest
import torch

from conftest import TINY, random_batch, tiny_supernet
from subnet_kit import Arch, SearchSpace, load_subnet
from subnet_kit.train import evaluate, fine_tune

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_active_equals_extracted_on_cuda():
    sn = tiny_supernet().cuda()
    space = SearchSpace.for_model(sn, "per-layer")
    b = {k: v.cuda() for k, v in random_batch(TINY["vocab_size"]).items()}
    cpu = tiny_supernet()
    for arch in space.sample_many(10, rng=0):
        with sn.activate(arch), torch.inference_mode():
            active = sn(b["input_ids"], b["attention_mask"])
        sub = sn.extract(arch).eval()
        assert next(sub.parameters()).is_cuda
        with torch.inference_mode():
            assert (sub(b["input_ids"], b["attention_mask"]) - active).abs().max() <= 1e-4
            with cpu.activate(arch):
                ref = cpu(b["input_ids"].cpu(), b["attention_mask"].cpu())
        assert (active.cpu() - ref).abs().max() <= 1e-3  # same function on both devices (TF32 aside)


def test_fine_tune_and_evaluate_on_cuda(tiny_tokenizer, tiny_task, tmp_path):
    sn = tiny_supernet(num_labels=2).cuda()
    sn.tokenizer = tiny_tokenizer
    state = torch.cuda.get_rng_state()
    r = fine_tune(sn, tiny_task, epochs=4, lr=1e-3, batch_size=16, progress=False)
    assert torch.equal(state, torch.cuda.get_rng_state())
    assert r.eval["accuracy"] >= 0.8
    arch = Arch.uniform(2, 2, 64, 32)
    sub = sn.extract(arch)
    path = sub.save(tmp_path / "sub")
    again = load_subnet(path)  # loads on the CPU
    assert not next(again.parameters()).is_cuda
    assert abs(evaluate(again, tiny_task)["accuracy"] - evaluate(sn, tiny_task, arch=arch)["accuracy"]) <= 1 / 40

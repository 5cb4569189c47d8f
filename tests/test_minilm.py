"""The invariants on the real embedded MiniLM-L6-H384 (22.7 M parameters), where the real thing matters."""

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from subnet_kit import SearchSpace
from subnet_kit.export import onnx_max_abs_diff

pytestmark = pytest.mark.minilm


def test_embedded_minilm_loads_offline(minilm):
    d = minilm.dims
    assert (d.layers, d.heads, d.head_dim, d.hidden, d.ffn, d.vocab_size) == (6, 12, 32, 384, 1536, 30522)
    space = SearchSpace.for_model(minilm, "layer")
    assert sum(p.numel() for p in minilm.parameters()) == space.params(space.largest())
    assert minilm.tokenizer("hello world")["input_ids"][0] == minilm.tokenizer.cls_token_id


@pytest.mark.parametrize("granularity", ["layer", "uniform", "per-layer"])
def test_active_equals_extracted_on_minilm(minilm, minilm_batch, granularity):
    space = SearchSpace.for_model(minilm, granularity)
    ids, mask = minilm_batch["input_ids"], minilm_batch["attention_mask"]
    n = min(20, space.size())
    worst = 0.0
    for arch in space.sample_many(n, rng=0):
        with minilm.activate(arch), torch.inference_mode():
            active = minilm(ids, mask)
        sub = minilm.extract(arch).eval()
        with torch.inference_mode():
            worst = max(worst, float((sub(ids, mask) - active).abs().max()))
        assert sub.num_parameters() == space.params(arch)
    assert worst <= 1e-4


@pytest.mark.parametrize("granularity", ["layer", "uniform", "per-layer"])
def test_analytic_flops_match_torch_flop_counter(minilm, granularity):
    space = SearchSpace.for_model(minilm, granularity)
    ids = torch.randint(1000, 2000, (2, 40), generator=torch.Generator().manual_seed(0))
    for arch in space.sample_many(min(20, space.size()), rng=1):  # 'layer' holds 6: all of them
        sub = minilm.extract(arch).eval()
        with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            sub(ids)
        counted = fc.get_total_flops()
        assert abs(space.flops(arch, seq_len=40, batch_size=2) - counted) <= 0.02 * counted


def test_onnx_logits_match_on_minilm(minilm, minilm_batch, tmp_path):
    space = SearchSpace.for_model(minilm, "per-layer")
    arch = space.sample(5)
    sub = minilm.extract(arch).eval()
    path = sub.export_onnx(tmp_path / "sub.onnx")
    ids, mask = minilm_batch["input_ids"], minilm_batch["attention_mask"]
    assert onnx_max_abs_diff(sub, path, ids, mask, torch.zeros_like(ids)) <= 1e-4


def test_reordering_leaves_full_minilm_unchanged(minilm_batch):
    from subnet_kit import SuperNet

    sn = SuperNet.from_pretrained("minilm-l6", num_labels=2).eval()  # own copy: reorder mutates
    ids, mask = minilm_batch["input_ids"], minilm_batch["attention_mask"]
    with torch.inference_mode():
        before = sn(ids, mask)
    info = sn.reorder([minilm_batch], method="taylor")
    with torch.inference_mode():
        after = sn(ids, mask)
    assert float((after - before).abs().max()) <= 1e-4
    assert not np.array_equal(info["permutations"]["hidden"].numpy(), np.arange(384))

"""The invariants of the super-network on a tiny random BERT: active == extracted, real compute reduction,
reordering preserves the function, save/load and ONNX round trips, clear errors."""

import json

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel, DistilBertConfig

from conftest import TINY, random_batch, tiny_supernet
from subnet_kit import Arch, SearchSpace, SuperNet, load_subnet
from subnet_kit.export import onnx_max_abs_diff


def logits(model, batch):
    with torch.inference_mode():
        return model(batch["input_ids"], batch["attention_mask"])


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_full_supernet_computes_what_transformers_bert_computes(pooling):
    sn = tiny_supernet(pooling)
    torch.manual_seed(0)  # from_config seeds BertModel's init with seed 0, so this rebuilds the same weights
    hf = BertModel(BertConfig(**TINY), add_pooling_layer=pooling == "cls").eval()
    b = random_batch(TINY["vocab_size"])
    with torch.inference_mode():
        out = hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        if pooling == "cls":
            ref = out.pooler_output
        else:
            m = b["attention_mask"].unsqueeze(-1).float()
            ref = (out.last_hidden_state * m).sum(1) / m.sum(1)
        assert torch.allclose(sn.features(b["input_ids"], b["attention_mask"]), ref, atol=1e-6)


@pytest.mark.parametrize("granularity", ["layer", "uniform", "per-layer"])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_active_equals_extracted(granularity, pooling):
    sn = tiny_supernet(pooling)
    space = SearchSpace.for_model(sn, granularity)
    b = random_batch(TINY["vocab_size"])
    full_numel = sum(p.numel() for p in sn.parameters())
    for arch in space.sample_many(min(20, space.size()), rng=1):
        with sn.activate(arch):
            active = logits(sn, b)
        sub = sn.extract(arch).eval()
        assert sub.arch == arch
        assert (logits(sub, b) - active).abs().max() <= 1e-5
        assert sub.num_parameters() == space.params(arch)
        if arch != space.dims.full_arch():
            assert sub.num_parameters() < full_numel
    assert sn.active_arch == sn.dims.full_arch()  # activate() restored the full network


def test_active_subnetwork_really_computes_less():
    """FLOPs counted by torch while the sub-network runs == the analytic count, i.e. no masked full-size work."""
    sn = tiny_supernet()
    space = SearchSpace.for_model(sn, "per-layer")
    ids = torch.randint(1, 100, (2, 16))
    for arch in space.sample_many(10, rng=2) + [space.smallest(), space.largest()]:
        with sn.activate(arch), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            sn(ids)
        assert fc.get_total_flops() == space.flops(arch, seq_len=16, batch_size=2)


def test_activate_nests_and_restores_on_error():
    sn = tiny_supernet()
    a, b = Arch.uniform(2, 2, 64, 32), Arch.uniform(1, 1, 32, 16)
    with sn.activate(a):
        with sn.activate(b):
            assert sn.active_arch == b
        assert sn.active_arch == a
        with pytest.raises(RuntimeError), sn.activate(b):
            raise RuntimeError("boom")
        assert sn.active_arch == a
    assert sn.active_arch == sn.dims.full_arch()


@pytest.mark.parametrize(
    "arch, message",
    [
        (Arch(0, (), (), 64), "layers=0"),
        (Arch.uniform(4, 4, 128, 64), r"layers=4 is not allowed; allowed: 1..3"),
        (Arch.uniform(2, 5, 128, 64), r"heads\[0\]=5 is not allowed; allowed: 1..4.*heads\[1\]=5"),
        (Arch.uniform(2, 4, 129, 64), r"ffn\[0\]=129"),
        (Arch.uniform(2, 4, 128, 40), "must be a multiple of the head size 16"),
    ],
)
def test_arch_that_does_not_fit_is_a_clear_error(tiny, arch, message):
    with pytest.raises(ValueError, match=message):
        tiny.extract(arch)
    with pytest.raises(ValueError, match=message), tiny.activate(arch):
        pass
    assert tiny.active_arch == tiny.dims.full_arch()


@pytest.mark.parametrize("method", ["magnitude", "taylor"])
def test_reorder_keeps_full_model_and_sorts_importance(method):
    sn = tiny_supernet()
    b = random_batch(TINY["vocab_size"], batch=6)
    before = logits(sn, b)
    batches = [random_batch(TINY["vocab_size"], seed=s) for s in range(3)]
    info = sn.reorder(batches, method=method)
    assert (logits(sn, b) - before).abs().max() <= 1e-5
    assert any((p != torch.arange(len(p))).any() for p in info["permutations"]["heads"])  # something moved
    from subnet_kit.importance import importance_scores

    after = importance_scores(sn, batches, method)
    for scores in after["heads"] + after["ffn"] + [after["hidden"]]:
        s = scores.numpy()
        assert np.all(np.diff(s) <= 1e-6 * max(1.0, s.max()))  # most important first


def test_reorder_errors(tiny):
    with pytest.raises(ValueError, match="allowed: taylor, magnitude"):
        tiny.reorder(method="random")
    with pytest.raises(ValueError, match="needs batches"):
        tiny.reorder()
    with pytest.raises(ValueError, match="at least one batch"):
        tiny.reorder([])


def test_reorder_helps_prefix_subnetworks():
    """After Taylor reordering, keeping half the FFN units changes the loss less than keeping the first half."""
    sn = tiny_supernet(num_labels=3)
    batches = [random_batch(TINY["vocab_size"], seed=s, batch=8) for s in range(4)]
    half = Arch.uniform(3, 4, 64, 64)

    def loss():
        with sn.activate(half), torch.inference_mode():
            return sum(torch.nn.functional.cross_entropy(sn(**b), b["labels"]).item() for b in batches)

    full = sum(torch.nn.functional.cross_entropy(logits(sn, b), b["labels"]).item() for b in batches)
    naive = loss()
    sn.reorder(batches, method="taylor", heads=False, hidden=False)
    assert abs(loss() - full) < abs(naive - full)


def test_save_load_subnetwork(tmp_path, tiny):
    arch = Arch(2, (3, 1), (64, 32), 48)
    sub = tiny.extract(arch).eval()
    out = sub.save(tmp_path / "sub")
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "subnet_kit.json"]
    meta = json.loads((out / "subnet_kit.json").read_text())
    assert meta["kind"] == "subnetwork" and Arch.from_dict(meta["shape"]["arch"]) == arch
    again = load_subnet(out)
    b = random_batch(TINY["vocab_size"])
    assert torch.equal(logits(again, b), logits(sub, b))
    assert again.arch == arch and again.num_parameters() == sub.num_parameters()


def test_save_load_supernet(tmp_path, tiny):
    tiny.save(tmp_path / "sn")
    again = SuperNet.load(tmp_path / "sn")
    b = random_batch(TINY["vocab_size"])
    assert torch.equal(logits(again, b), logits(tiny, b))
    with pytest.raises(ValueError, match="super-network, not a sub-network"):
        load_subnet(tmp_path / "sn")
    with pytest.raises(ValueError, match="not a saved subnet-kit model"):
        load_subnet(tmp_path)


def test_onnx_export_matches(tmp_path, tiny):
    sub = tiny.extract(Arch(2, (4, 2), (128, 16), 32)).eval()
    path = sub.export_onnx(tmp_path / "sub.onnx")  # verifies on its own example
    b = random_batch(TINY["vocab_size"], batch=3, seq=20, seed=5)  # other batch and length: dynamic axes
    types = torch.zeros_like(b["input_ids"])
    assert onnx_max_abs_diff(sub, path, b["input_ids"], b["attention_mask"], types) <= 1e-4


def test_extract_keeps_caller_state(tiny):
    tiny.train()
    sub = tiny.extract(Arch.uniform(1, 1, 16, 16))
    assert sub.training and tiny.training
    assert sub.classifier.weight.data_ptr() != tiny.classifier.weight.data_ptr()  # a copy, not a view


def test_from_config_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    tiny_supernet()
    assert torch.equal(state, torch.random.get_rng_state())


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(ValueError, match="not an embedded model \\(minilm-l6\\)"):
        SuperNet.from_pretrained("no-such-model-anywhere", num_labels=2)
    DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'distilbert' checkpoint; SuperNet supports .*model_type 'bert'"):
        SuperNet.from_pretrained(str(tmp_path), num_labels=2)
    with pytest.raises(ValueError, match="num_labels must be an int >= 2"):
        SuperNet.from_pretrained("minilm-l6", num_labels=1)
    with pytest.raises(ValueError, match="allowed: mean, cls"):
        SuperNet.from_pretrained("minilm-l6", pooling="max")


def test_from_pretrained_local_directory(tmp_path):
    torch.manual_seed(0)
    BertModel(BertConfig(**TINY)).save_pretrained(tmp_path)
    sn = SuperNet.from_pretrained(str(tmp_path), num_labels=4, pooling="cls")
    assert sn.dims.layers == 3 and sn.dims.head_dim == 16 and sn.dims.num_labels == 4


def test_from_config_and_from_pretrained_build_the_same_shape(tmp_path):
    config = BertConfig(**TINY, classifier_dropout=0.3)
    BertModel(config).save_pretrained(tmp_path)
    from_config = SuperNet.from_config(config, num_labels=3)
    pretrained = SuperNet.from_pretrained(str(tmp_path), num_labels=3)
    assert from_config.shape.classifier_dropout == pretrained.shape.classifier_dropout == 0.3  # from_config read it too
    assert {**from_config.shape.to_dict(), "extra": None} == {**pretrained.shape.to_dict(), "extra": None}
    assert SuperNet.from_config(config, num_labels=3, classifier_dropout=0.0).dropout.p == 0.0

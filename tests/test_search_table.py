"""``benchmarks/search_table.py`` on the tiny BERT: its batched evaluation gives `subnet_kit.evaluate`'s numbers, a
bundle (the word embedding cut to the word pieces the splits use) gives the same ones again, and the table lists the
archs in the order of the space's genes (what ``bench_search.py`` relies on)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from conftest import tiny_supernet
from subnet_kit import SearchSpace
from subnet_kit.train import evaluate

ROOT = Path(__file__).resolve().parents[1]


def _search_table():
    spec = importlib.util.spec_from_file_location("search_table", ROOT / "benchmarks" / "search_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_evaluation_is_evaluate_and_a_bundle_changes_nothing(tiny_tokenizer, tiny_task, tmp_path):
    st = _search_table()
    sn = tiny_supernet(num_labels=2)
    sn.tokenizer = tiny_tokenizer
    space = SearchSpace.for_model(sn, "uniform")
    tokens = st.tokenize(tiny_task, tiny_tokenizer, 64)
    st.make_bundle(sn, tokens, tmp_path / "bundle", {"model": "tiny", "task": "tiny", "space": "uniform", "seed": 0,
                                                     "max_length": 64})
    small, tokens2, settings = st.load_bundle(tmp_path / "bundle", "cpu")
    used = len(np.unique(np.concatenate([tokens[s]["ids"] for s in st.SPLITS])))
    assert small.dims.vocab_size <= used + 1 < sn.dims.vocab_size  # the used word pieces (and the pad token) only
    assert settings["full_dims"] == sn.dims.to_dict()
    sets = {s: st.Batches(tokens[s], sn.shape.pad_token_id, "cpu", max_tokens=200) for s in st.SPLITS}
    sets2 = {s: st.Batches(tokens2[s], small.shape.pad_token_id, "cpu", max_tokens=10 ** 6) for s in st.SPLITS}
    assert all(len(sets[s].batches) > 1 and len(sets2[s].batches) == 1 for s in st.SPLITS)  # other batchings
    for arch in [*space.sample_many(5, rng=0), space.largest(), space.smallest()]:
        for split in st.SPLITS:
            with torch.inference_mode(), sn.activate(arch):
                correct, loss = sets[split].evaluate(sn)
            ref = evaluate(sn, tiny_task, split, arch=arch, batch_size=16, max_length=64)
            assert len(correct) == ref["n"]
            assert abs((1 - correct.mean()) - ref["error"]) <= 1 / ref["n"] + 1e-12  # float rounding may flip one
            assert abs(loss - ref["loss"]) < 1e-4
            with torch.inference_mode(), small.activate(arch):
                correct2, loss2 = sets2[split].evaluate(small)
            assert (correct2 != correct).sum() <= 1 and abs(loss2 - loss) < 1e-4


def test_all_archs_are_in_the_order_of_the_genes():
    st = _search_table()
    space = SearchSpace.for_model(tiny_supernet(), "uniform")
    archs = st.all_archs(space)
    assert len(archs) == space.size() == len(set(archs))
    shape = space.xu - space.xl + 1
    for i in (0, 1, len(archs) // 2, len(archs) - 1):
        assert space.decode(np.array(np.unravel_index(i, shape)) + space.xl) == archs[i]

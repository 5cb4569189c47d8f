import numpy as np
import pytest

from subnet_kit.space import GRANULARITIES, Arch, Choice, ModelDims, SearchSpace

MINILM = ModelDims(layers=6, heads=12, head_dim=32, ffn=1536, hidden=384, vocab_size=30522, max_position=512,
                   type_vocab_size=2, num_labels=2)


def test_arch_json_round_trip_and_hash():
    a = Arch(3, (4, 6, 12), (512, 1536, 64), 256)
    assert Arch.from_json(a.to_json()) == a
    assert len({a, Arch.from_dict(a.to_dict())}) == 1
    assert "L3 H256" in a.short()


def test_arch_needs_one_value_per_layer():
    with pytest.raises(ValueError, match="one heads and one ffn value per kept layer"):
        Arch(3, (4, 6), (512, 512, 512), 256)
    with pytest.raises(ValueError, match="missing"):
        Arch.from_dict({"layers": 1, "heads": [1]})


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_encode_decode_round_trip(granularity):
    space = SearchSpace.for_model(MINILM, granularity)
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = space.sample(rng)
        x = space.encode(arch)
        assert x.shape == (space.n_var,) and (x >= space.xl).all() and (x <= space.xu).all()
        assert space.decode(x) == arch
        assert arch in space
    assert space.decode(space.encode(space.largest())) == space.largest() == MINILM.full_arch() if granularity == "layer" else True


def test_presets():
    layer = SearchSpace.for_model(MINILM, "layer")
    assert layer.size() == 6 and layer.n_var == 1
    assert {a.hidden for a in layer.all_archs()} == {384}
    uni = SearchSpace.for_model(MINILM, "uniform")
    assert uni.variable_names == ["layers", "heads", "ffn", "hidden"]
    assert uni.ffn.values[:2] == (64, 128) and uni.ffn.high == 1536
    assert uni.hidden.values == tuple(range(96, 385, 32))
    assert uni.size() == len(list(uni.all_archs())) == 6 * 12 * 24 * 10
    per = SearchSpace.for_model(MINILM, "per-layer")
    assert per.n_var == 2 + 2 * 6
    assert not per.sample(1).is_uniform or per.sample(2).heads != per.sample(1).heads
    custom = SearchSpace.for_model(MINILM, "per-layer", layers=(2, 4), heads=(4, 12, 4), ffn=(512, 1536, 512), hidden=384)
    assert custom.size() == sum(9**k for k in (2, 3, 4))
    assert len(list(custom.all_archs())) == custom.size()


def test_sampling_is_seeded():
    space = SearchSpace.for_model(MINILM, "per-layer")
    assert space.sample_many(10, rng=3) == space.sample_many(10, rng=3)
    assert space.sample_many(10, rng=3) != space.sample_many(10, rng=4)
    assert len(set(space.sample_many(50, rng=0))) == 50


def test_decode_clips_and_checks_length():
    space = SearchSpace.for_model(MINILM, "uniform")
    assert space.decode([99, 99, 99, 99]) == space.largest()
    assert space.decode([-5, -1, 0, 0]) == space.smallest()
    with pytest.raises(ValueError, match="vector of 4 genes"):
        space.decode([1, 2])


@pytest.mark.parametrize(
    "arch, message",
    [
        (Arch(0, (), (), 384), r"layers=0 is not allowed; allowed: 1\.\.6"),
        (Arch.uniform(2, 13, 1536, 384), r"heads\[0\]=13 is not allowed; allowed: 1\.\.12"),
        (Arch.uniform(2, 12, 1000, 384), r"ffn\[0\]=1000 is not allowed; allowed: 64\.\.1536 step 64"),
        (Arch.uniform(2, 12, 1536, 200), r"hidden=200 .*multiple of the head size 32"),
        (Arch(2, (12, 6), (1536, 1536), 384), r"'uniform' space uses one heads .*per-layer"),
    ],
)
def test_arch_outside_space_is_a_clear_error(arch, message):
    space = SearchSpace.for_model(MINILM, "uniform")
    assert not space.contains(arch)
    with pytest.raises(ValueError, match=message):
        space.validate(arch)
    with pytest.raises(ValueError, match="outside the space"):
        space.encode(arch)


def test_bad_space_definitions():
    with pytest.raises(ValueError, match="allowed: layer, uniform, per-layer"):
        SearchSpace.for_model(MINILM, "blocks")
    with pytest.raises(ValueError, match="exceed the super-network's range 1..12"):
        SearchSpace.for_model(MINILM, "uniform", heads=(1, 16))
    with pytest.raises(ValueError, match="multiples of the head size 32"):
        SearchSpace.for_model(MINILM, "uniform", hidden=(100, 384, 4))
    with pytest.raises(ValueError, match="varies depth only"):
        SearchSpace.for_model(MINILM, "layer", heads=(4, 12))
    with pytest.raises(ValueError, match="not on the grid"):
        Choice("ffn", 64, 1000, 64)
    with pytest.raises(ValueError, match="at most 1 distinct|holds only"):
        SearchSpace.for_model(MINILM, "layer").sample_many(7)


def test_space_dict_round_trip_and_equality():
    space = SearchSpace.for_model(MINILM, "per-layer", layers=(2, 6))
    again = SearchSpace.from_dict(space.to_dict())
    assert again == space and hash(again) == hash(space)
    assert again != SearchSpace.for_model(MINILM, "uniform")


def test_params_and_flops_of_full_minilm():
    full = MINILM.full_arch()
    # BertModel of all-MiniLM-L6-v2 with its pooler: 22,713,216 parameters (transformers counts that). Mean pooling
    # drops the pooler (384*384 + 384); the 2-way classifier adds 384*2 + 2.
    assert SearchSpace.for_model(MINILM, "layer").params(full) == 22_713_216 - 147_840 + 770
    cls_dims = ModelDims(**{**MINILM.to_dict(), "pooling": "cls"})
    assert SearchSpace.for_model(cls_dims, "layer").params(full) == 22_713_216 + 770
    space = SearchSpace.for_model(MINILM, "uniform")
    half_ffn = Arch.uniform(6, 12, 768, 384)
    assert space.params(half_ffn, "encoder") < space.params(full, "encoder")
    assert space.flops(full, 64, 32) == 32 * space.flops(full, 64, 1)
    with pytest.raises(ValueError, match="part must be one of"):
        space.params(full, "pooler")


def test_check_names_every_problem_of_an_arch():
    space = SearchSpace.for_model(MINILM, "uniform")
    why = space.check(Arch(2, (13, 13), (100, 100), 200))
    for part in ("heads[0]=13", "heads[1]=13", "ffn[0]=100", "hidden=200", "multiple of the head size 32"):
        assert part in why
    assert space.check(space.largest()) is None

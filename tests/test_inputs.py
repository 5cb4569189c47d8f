"""Bad input gets one clear error that names what is wrong (and what is allowed), and leaves what is on disk alone:
arch text, training files, and checkpoint folders (truncated, foreign or edited)."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from conftest import TINY, random_batch
from subnet_kit import Arch, SuperNet, load_subnet, load_task
from subnet_kit.checkpoint import CheckpointError, load_model, load_weights_into
from subnet_kit.space import Choice, parse_bounds


def _snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha1 of every file under ``folder``: a folder is unchanged when its snapshot is."""
    return {str(f.relative_to(folder)): hashlib.sha1(f.read_bytes()).hexdigest() for f in sorted(folder.rglob("*"))
            if f.is_file()}


def _truncate(file: Path, keep: float = 0.6) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)])


# ---------------------------------------------------------------------------------------------------- Arch text
def test_arch_from_json_unknown_key_names_it_and_the_allowed_keys():
    text = '{"layers": 2, "heads": [4, 4], "ffn": [64, 64], "hidden": 64, "dropout": 0.1}'
    with pytest.raises(ValueError, match=r"unknown Arch key\(s\) \['dropout'\]; allowed keys: layers, heads, ffn, hidden"):
        Arch.from_json(text)


def test_arch_from_json_of_text_that_is_not_json():
    with pytest.raises(ValueError, match=r"not valid JSON \(.* at line 1, column 14, character 13\)") as error:
        Arch.from_json('{"layers": 2,, "heads": [4]}')
    assert not isinstance(error.value, json.JSONDecodeError)  # ours, not the parser's bare error


def test_arch_from_json_with_a_non_list_value():
    with pytest.raises(ValueError, match="lists of integer heads and ffn"):
        Arch.from_json('{"layers": 1, "heads": 4, "ffn": [64], "hidden": 64}')


def test_arch_slug_is_filesystem_safe_readable_and_distinct():
    archs = [Arch.uniform(2, 4, 64, 32), Arch(2, (4, 3), (64, 64), 32), Arch(2, (4, 4), (64, 32), 32),
             Arch.uniform(3, 4, 64, 32), Arch.uniform(2, 4, 64, 48)]
    slugs = [a.slug() for a in archs]
    assert slugs[0] == "L2-H32-heads4-ffn64" and slugs[1] == "L2-H32-heads4,3-ffn64,64"
    assert len(set(slugs)) == len(slugs)
    assert all(set(s) <= set("LHheadsffn0123456789,-") for s in slugs)


# ----------------------------------------------------------------------------------------------- space bounds
def test_parse_bounds_forms_and_errors():
    assert parse_bounds((256, 1536), 64, "ffn") == Choice("ffn", 256, 1536, 64)  # the default step fits the grid
    assert parse_bounds((256, 1500), 64, "ffn").step == 1  # it does not: step 1
    assert parse_bounds((2, 6, 2), 1, "layers") == Choice("layers", 2, 6, 2)
    assert parse_bounds(4, 1, "heads") == Choice("heads", 4, 4, 1)
    for bad in ["2..6", (1, 2, 3, 4), (1.5, 3), True, None]:
        with pytest.raises(ValueError, match=r"layers bounds must be an int, \(min, max\) or \(min, max, step\)"):
            parse_bounds(bad, 1, "layers")


# ------------------------------------------------------------------------------------------------- model inputs
def test_forward_refuses_unknown_inputs_but_accepts_labels(tiny):
    batch = random_batch(TINY["vocab_size"])
    tiny(**batch)  # labels ride along in a batch of data.batches: accepted, unused
    with pytest.raises(ValueError, match=r"unexpected input\(s\) position_ids; the model takes input_ids"):
        tiny(**batch, position_ids=torch.arange(12))


# ------------------------------------------------------------------------------------------------ training files
def test_empty_csv_file(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        load_task(str(path), cache_dir=tmp_path / "hf")
    assert path.read_bytes() == b""


def test_non_utf8_csv_file_gives_the_offset(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    data = "text,label\ngood film,pos\nbad caf\u00e9,neg\n".encode("latin-1")
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(ValueError, match=rf"is not UTF-8 \(first bad byte at offset {offset}"):
        load_task(str(path), cache_dir=tmp_path / "hf")
    assert path.read_bytes() == data


def test_non_utf8_byte_after_a_chunk_boundary(tmp_path: Path):
    from subnet_kit.data import _check_text_file

    path = tmp_path / "long.csv"
    data = b"text,label\n" + "caf\u00e9 ok,pos\n".encode() * 10 + b"x\xff,neg\n"
    path.write_bytes(data)
    bad = data.index(b"\xff")
    with pytest.raises(ValueError, match=rf"first bad byte at offset {bad}: b'\\xff'"):
        _check_text_file(path, chunk=7)  # small chunks split the two-byte characters across reads


def test_single_class_training_file(tmp_path: Path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\n" + "".join(f"sentence {i},pos\n" for i in range(20)))
    with pytest.raises(ValueError, match="needs at least 2 classes, but every training label in column 'label' is 'pos'"):
        load_task(str(path), cache_dir=tmp_path / "hf")


def test_blank_texts_are_refused_with_their_rows(tmp_path: Path):
    path = tmp_path / "blank.csv"
    rows = [f"sentence {i},{'ab'[i % 2]}" for i in range(20)]
    rows[3], rows[7] = '"   ",a', ",b"
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"2 rows have an empty or whitespace-only text in column 'text' \(data rows 4, 8"):
        load_task(str(path), cache_dir=tmp_path / "hf")


# ------------------------------------------------------------------------------------------- checkpoint folders
def test_truncated_weights_of_a_saved_subnetwork(tmp_path: Path, tiny):
    folder = tiny.extract(Arch(2, (3, 1), (64, 32), 48)).save(tmp_path / "sub")
    _truncate(folder / "model.safetensors")
    before = _snapshot(folder)
    for load in (load_subnet, load_model):
        with pytest.raises(CheckpointError, match=r"model.safetensors is truncated"):
            load(folder)
    assert _snapshot(folder) == before


def test_truncated_weights_into_an_existing_model(tmp_path: Path, tiny):
    folder = tiny.save(tmp_path / "sn")
    _truncate(folder / "model.safetensors", keep=0.999)
    before, state = _snapshot(folder), {k: v.clone() for k, v in tiny.state_dict().items()}
    with pytest.raises(ValueError, match=r"model.safetensors is truncated or corrupt"):
        load_weights_into(tiny, folder)
    assert _snapshot(folder) == before
    assert all(torch.equal(v, state[k]) for k, v in tiny.state_dict().items())  # the model is untouched too


def test_truncated_weights_in_a_pretrained_folder(tmp_path: Path):
    BertModel(BertConfig(**TINY)).save_pretrained(tmp_path)  # config.json + model.safetensors
    _truncate(tmp_path / "model.safetensors", keep=0.5)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"model.safetensors is truncated"):
        SuperNet.from_pretrained(str(tmp_path), num_labels=2)
    assert _snapshot(tmp_path) == before


class _Boom:
    """Unpickling this would run code: the test fails loudly if anything unpickles the file."""

    def __reduce__(self):
        return (pytest.fail, ("a pickle was unpickled",))


def test_pickle_renamed_to_model_safetensors_is_refused(tmp_path: Path, tiny):
    folder = tiny.extract(Arch.uniform(1, 2, 32, 32)).save(tmp_path / "sub")
    (folder / "model.safetensors").write_bytes(pickle.dumps({"weights": _Boom()}, protocol=4))
    before = _snapshot(folder)
    with pytest.raises(CheckpointError, match="model.safetensors is not a safetensors file"):
        load_subnet(folder)
    torch_zip = tmp_path / "zip"
    torch_zip.mkdir()
    torch.save({"w": torch.zeros(2)}, torch_zip / "model.safetensors")  # torch's zip format
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_weights_into(tiny, torch_zip)
    assert _snapshot(folder) == before


def test_config_widened_after_saving_disagrees_with_the_weights(tmp_path: Path, tiny):
    folder = tiny.extract(Arch(2, (3, 1), (64, 32), 48)).save(tmp_path / "sub")
    meta = json.loads((folder / "subnet_kit.json").read_text())
    meta["shape"]["arch"]["ffn"] = [96, 32]  # layer 0 widened by hand
    (folder / "subnet_kit.json").write_text(json.dumps(meta))
    before = _snapshot(folder)
    with pytest.raises(
        CheckpointError,
        match=r"the config and the weights disagree: encoder.layer.0.intermediate.dense.(weight|bias) has shape "
        r"\[64(, 48)?\] in the weights .*, \[96(, 48)?\] from the config",
    ):
        load_subnet(folder)
    assert _snapshot(folder) == before


def test_weights_of_another_model_do_not_load_into_this_one(tmp_path: Path, tiny):
    folder = tiny.extract(Arch.uniform(1, 2, 32, 32)).save(tmp_path / "sub")
    with pytest.raises(CheckpointError, match="the model and the weights in .* disagree: the weights lack"):
        load_weights_into(tiny, folder)


def test_save_refuses_a_folder_that_is_not_a_saved_model(tmp_path: Path, tiny):
    keep = tmp_path / "mine" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("my notes")
    with pytest.raises(ValueError, match="not a saved subnet-kit model; refusing to replace it"):
        tiny.save(keep.parent)
    assert keep.read_text() == "my notes"
    first = tiny.save(tmp_path / "sn")  # a saved model is replaced by the next save
    tiny.save(first)
    assert SuperNet.load(first).dims == tiny.dims


def test_pretrained_folder_with_pickled_weights_only_is_refused(tmp_path: Path):
    BertConfig(**TINY).save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": _Boom()}))
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"cannot load the weights of .* \(safetensors only\)"):
        SuperNet.from_pretrained(str(tmp_path), num_labels=2)
    assert _snapshot(tmp_path) == before

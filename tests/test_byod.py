"""Bring your own data: csv/tsv quoting decided per file, column and config options from the library and the CLI,
and the default training length (one epoch of the user's training split, capped). Small files the tests write;
no model is loaded."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import datasets
import pandas as pd
import pytest

from subnet_kit import data as data_module
from subnet_kit.cli import _load_task, build_parser, main
from subnet_kit.data import SPLITS, Task, load_task
from subnet_kit.recipes import MAX_DEFAULT_TRAIN_STEPS, TRAIN_BATCH_SIZE, TRAIN_STEPS, train_steps_for, trained_supernet

# texts that break a reader without quoting: the delimiters, quotes at both ends and inside, line breaks
TRICKY = [
    'he said "wow", then left',
    '"fully quoted"',
    "a tab\there and, a comma",
    "two\nlines",
    "windows\r\nline break",
    'ends with a quote"',
    "plain words",
    "",  # with its row number (below), a text of a space and a number
]


def _rows(n: int) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs cycling through the tricky texts, each made unique by its row number."""
    return [(f"{TRICKY[i % len(TRICKY)]} #{i}", "pos" if i % 2 else "neg") for i in range(n)]


def _all_texts(task: Task) -> list[str]:
    return sorted(t for s in SPLITS for t in task[s]["text"])


def _all_pairs(task: Task) -> list[tuple[str, str]]:
    return sorted((row["text"], task.label_names[row["label"]]) for s in SPLITS for row in task[s])


# ------------------------------------------------------------------------------------------------------- quoting


def test_csv_written_by_the_csv_module_round_trips(tmp_path: Path) -> None:
    rows = _rows(40)
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:  # the csv module's default: \r\n line ends
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    task = load_task(str(path))
    assert _all_pairs(task) == sorted(rows)  # quoted commas, quotes and line breaks survive exactly
    assert task.label_names == ["neg", "pos"] and sum(len(task[s]) for s in SPLITS) == 40


def test_csv_written_by_pandas_with_a_byte_order_mark(tmp_path: Path) -> None:
    rows = _rows(30)
    path = tmp_path / "frame.csv"
    pd.DataFrame(rows, columns=["review", "stars"]).to_csv(path, index=False, encoding="utf-8-sig")
    task = load_task(str(path), text_column="review", label_column="stars")
    assert _all_pairs(task) == sorted(rows)


def test_tsv_written_by_the_csv_module_with_quoted_tabs_and_line_breaks(tmp_path: Path) -> None:
    rows = _rows(40)
    path = tmp_path / "quoted.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["sentence", "label"])
        writer.writerows(rows)
    assert '"a tab\there and, a comma #2"' in path.read_text(encoding="utf-8")  # really quoted in the file
    task = load_task(str(path), text_column="sentence")
    assert _all_pairs(task) == sorted(rows)


def test_glue_style_tsv_keeps_bare_quotes_as_text(tmp_path: Path) -> None:
    # SST-2's style: no quoting, quotes are characters of the sentence; a field may even start or end with one
    texts = [f'the "best" film {i}' for i in range(10)] + [f'" mr. deeds " is sad {i}' for i in range(10)] + \
            [f'"wow" {i} she said "' for i in range(5)] + [f'"whole sentence {i}"' for i in range(5)]
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)), encoding="utf-8")
    task = load_task(str(path), text_column="sentence")
    assert _all_texts(task) == sorted(texts)  # every quote kept, one record per line
    assert task.label_names == ["0", "1"]


def test_glue_style_tsv_with_only_leading_quotes(tmp_path: Path) -> None:
    # no bare quote inside a field, but standard quoting fails (a closing quote not followed by the tab)
    texts = [f'" mr. deeds " is sad {i}' for i in range(10)] + [f"plain {i}" for i in range(10)]
    path = tmp_path / "sst.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)), encoding="utf-8")
    assert _all_texts(load_task(str(path), text_column="sentence")) == sorted(texts)


def test_csv_mixing_bare_quotes_and_quoted_commas_reads_with_quoting(tmp_path: Path) -> None:
    # a bare quote suggests no quoting, but without quoting the quoted comma breaks the field count: quoting wins
    body = "".join(f'he said "hi" {i},a\n"x, y {i}",b\n' for i in range(10))
    path = tmp_path / "mixed.csv"
    path.write_text("text,label\n" + body, encoding="utf-8")
    texts = _all_texts(load_task(str(path)))
    assert texts == sorted([f'he said "hi" {i}' for i in range(10)] + [f"x, y {i}" for i in range(10)])


def test_a_file_neither_rule_reads_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("text,label\n" + "".join(f"sentence {i},a\n" for i in range(10)) + "one, two, three,b\n")
    with pytest.raises(ValueError) as error:
        load_task(str(path))
    message = str(error.value)
    assert "with standard quoting line 12 has 4 fields, the header has 2" in message
    assert "without quoting" in message and "Quote every field" in message
    assert path.read_text().count("\n") == 12  # the user's file is untouched


def test_label_cells_are_typed_and_empty_ones_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "stars.csv"
    path.write_text("text,label\n" + "".join(f"review {i},{[1, 5, 10][i % 3]}\n" for i in range(30)))
    assert load_task(str(path)).label_names == ["1", "5", "10"]  # integers: numeric order, not text order
    path.write_text("text,label\n" + "".join(f"review {i},{'' if i == 4 else i % 2}\n" for i in range(30)))
    with pytest.raises(ValueError, match=r"1 rows have no label in column 'label' \(first at data row 5"):
        load_task(str(path))


def test_folder_of_tsv_files_with_different_quoting(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with open(folder / "train.tsv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["text", "label"])
        writer.writerows(_rows(30))
    (folder / "dev.tsv").write_text("text\tlabel\n" + "".join(f'a "bare" {i}\t{["neg", "pos"][i % 2]}\n'
                                                              for i in range(10)))
    task = load_task(str(folder))
    assert [len(task[s]) for s in SPLITS] == [30, 5, 5]
    assert all('"bare"' in t for s in ("validation", "test") for t in task[s]["text"])


# -------------------------------------------------------------------------------------------- columns and config


def _custom_tsv(tmp_path: Path, n: int = 40) -> Path:
    path = tmp_path / "custom.tsv"
    path.write_text("id\treview\tverdict\n" + "".join(f"{i}\treview {i}\t{'good' if i % 2 else 'bad'}\n"
                                                       for i in range(n)))
    return path


def test_custom_columns_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["search", "--task", str(_custom_tsv(tmp_path)), "--text-column", "review",
                                      "--label-column", "verdict"])
    task, steps = _load_task(args)
    assert task.label_names == ["bad", "good"] and task["train"].column_names == ["text", "label"]
    assert all(t.startswith("review ") for t in task["train"]["text"])
    assert steps.steps == 1  # one epoch of 32 training sentences at batch 32
    assert "training for 1 steps = one epoch of 32 training sentences at batch 32" in capsys.readouterr().out


def test_missing_column_from_the_cli_lists_the_files_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _custom_tsv(tmp_path)
    assert main(["search", "--task", str(path), "--text-column", "review", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("subnet-kit: error:")
    assert "no column 'label'" in err and "['id', 'review', 'verdict']" in err and "--label-column" in err


def test_config_is_passed_to_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name))
        split = datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(64)], "label": [i % 2 for i in range(64)]},
                                           features=features)
        return datasets.DatasetDict({"train": split})

    monkeypatch.setattr(data_module.datasets, "load_dataset", fake_load_dataset)
    args = build_parser().parse_args(["search", "--task", "glue", "--config", "sst2", "--text-column", "sentence"])
    task, _ = _load_task(args)
    assert calls == [("glue", "sst2")] and task.name == "glue-sst2"


def test_fingerprint_tells_columns_apart(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("a,b,label\n" + "".join(f"first {i},second {i},{i % 2}\n" for i in range(20)))
    by_a, by_b = load_task(str(path), text_column="a"), load_task(str(path), text_column="b")
    assert by_a.fingerprint() == load_task(str(path), text_column="a").fingerprint()
    assert by_a.fingerprint() != by_b.fingerprint()  # so the training cache never mixes them up


def test_trained_supernet_refuses_task_options_for_a_loaded_task(tmp_path: Path) -> None:
    task = load_task(str(_custom_tsv(tmp_path)), text_column="review", label_column="verdict")
    with pytest.raises(ValueError, match=r"task_options \['config'\] apply to a task name"):
        trained_supernet("minilm-l6", task, "layer", task_options={"config": "sst2"})


# ------------------------------------------------------------------------------------------------- training length


def test_default_training_length_is_one_epoch_capped() -> None:
    assert TRAIN_BATCH_SIZE == 32
    assert train_steps_for(8035).steps == TRAIN_STEPS == 252  # movie-snippets: the shared cache entry
    assert train_steps_for(100).steps == math.ceil(100 / 32) == 4
    assert train_steps_for(100, batch_size=10).steps == 10
    capped = train_steps_for(50_000)
    assert capped.steps == MAX_DEFAULT_TRAIN_STEPS == 1000
    assert "capped at 1,000" in capped.note and "1,563 steps" in capped.note and "50,000" in capped.note
    assert train_steps_for(50_000, cap=2000).steps == 1563
    asked = train_steps_for(8035, 504)
    assert asked.steps == 504 and "as asked = 2.00 epochs of 8,035" in asked.note
    assert train_steps_for(8035, 0).steps == 0 and "no training" in train_steps_for(8035, 0).note
    with pytest.raises(ValueError, match="train_steps must be >= 0"):
        train_steps_for(8035, -1)


def test_default_training_length_of_a_task(tmp_path: Path) -> None:
    task = load_task(str(_custom_tsv(tmp_path, n=400)), text_column="review", label_column="verdict")
    assert len(task["train"]) == 320
    assert train_steps_for(task).steps == 10
    assert build_parser().parse_args(["search"]).train_steps is None  # the CLI defers to the rule

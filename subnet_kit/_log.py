"""The append-only log of a search: a JSONL file with a header line (the search's settings) and then one line per
evaluation, each flushed and fsync'ed before the search moves on.

Scope: the file, not the search. `SearchLog` opens a log (refusing an existing one unless resuming), reads it back
(a torn last line — the evaluation in flight when the process was killed — is ignored and cut off, so appends start
on a fresh line), compares the logged settings with a search's (`first_difference` names the first one that
differs), and appends. How a resumed search replays the logged records is `search.py`'s business; reading a log
into a `Result` is `Result.from_log`. `json_default` is here because the log is the lowest place that writes numpy
values as JSON (`result.py`'s JSON files use it too).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "search.jsonl"
>>> log = SearchLog(path)
>>> log.start({"key": {"seed": 0}})
>>> log.append({"eval": 0, "arch": "..."})
>>> again = SearchLog(path, resume=True)
>>> again.header["key"], again.replay
({'seed': 0}, [{'eval': 0, 'arch': '...'}])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LOG_VERSION", "SearchLog", "read_log", "first_difference", "json_default"]

LOG_VERSION = 1


def json_default(o: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as plain numbers and lists."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_log(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """``(header, records, good_bytes)`` of the log at ``path``: a torn last line (a kill during the write) is
    ignored; ``good_bytes`` is where the complete lines end. A file that is not a log raises a ValueError."""
    raw = path.read_bytes()
    header, records, good = None, [], 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn write: the evaluation in flight
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            break
        good += len(line)
        if header is None:
            if not isinstance(entry, dict) or entry.get("kind") != "header":
                raise ValueError(f"{path} is not a subnet-kit search log (no header line)")
            header = entry
        else:
            entry.pop("kind", None)
            records.append(entry)
    if header is None:
        raise ValueError(f"{path} holds no complete header line; delete it or use another log path")
    if header.get("version") != LOG_VERSION:
        raise ValueError(f"{path} is a version {header.get('version')} log; this kit reads version {LOG_VERSION}")
    return header, records, good


def first_difference(a: Any, b: Any, where: str = "") -> str:
    """The first place where the settings ``a`` (logged) and ``b`` (this search's) differ, as readable text."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{where}[{i}]")
    return f"{where or 'settings'}: log has {a!r}, this search {b!r}"


def _anchors_hint(logged: dict[str, Any], key: dict[str, Any]) -> str:
    """When the strategy settings differ only in the ``anchors`` option and the log's strategy runs without it (a
    log written before the option existed, or with it off), how to resume that log."""
    a, b = logged.get("strategy"), key.get("strategy")
    if not (isinstance(a, dict) and isinstance(b, dict)) or a.get("anchors", False) or not b.get("anchors", False):
        return ""
    if {k: v for k, v in a.items() if k != "anchors"} != {k: v for k, v in b.items() if k != "anchors"}:
        return ""
    return ("; this log's strategy runs without the anchors option (the largest and the smallest arch first), "
            "which is now on by default: to resume it, pass strategy_options={'anchors': False} "
            "(CLI: --strategy-option anchors=false)")


class SearchLog:
    """The log at ``path``, opened for a search.

    A missing or empty file is a new log (its folder is created; `start` writes the header). An existing one is
    refused with a ValueError unless ``resume``; resumed, ``header`` is its header line and ``replay`` its records
    in order, and a torn last line has been cut off. Nothing is written before `start`, so a search that fails its
    checks leaves no file behind.
    """

    def __init__(self, path: str | os.PathLike, resume: bool = False) -> None:
        self.path = Path(path)
        self.header: dict[str, Any] | None = None  # the logged header when resuming, else set by `start`
        self.replay: list[dict[str, Any]] = []  # the logged evaluations when resuming, in order
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return
        if not resume:
            raise ValueError(f"the log {self.path} already exists; pass resume=True (CLI: --resume) to continue that "
                             f"search, or choose another log path")
        self.header, self.replay, good = read_log(self.path)
        if good < self.path.stat().st_size:  # drop the torn last line so that appends start on a fresh line
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def check(self, key: dict[str, Any]) -> None:
        """Raise a ValueError naming the first difference when the logged settings ``key`` differ from these."""
        if self.header is not None and self.header["key"] != key:
            raise ValueError(f"cannot resume from {self.path}: it was written by a search with other settings "
                             f"({first_difference(self.header['key'], key)}); use the same settings or a new log"
                             + _anchors_hint(self.header["key"], key))

    def start(self, header: dict[str, Any]) -> None:
        """Write the header line of a new log (a resumed log keeps the header it has)."""
        if self.header is None:
            self.header = {"kind": "header", "version": LOG_VERSION, **header}
            self._write(self.header)

    def append(self, record: dict[str, Any]) -> None:
        """Append one evaluation's record; it is on disk (flushed and fsync'ed) when this returns."""
        if self.header is None:
            raise ValueError("start the log (write its header) before appending evaluations")
        self._write({"kind": "eval", **record})

    def _write(self, entry: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def __repr__(self) -> str:
        return f"SearchLog({str(self.path)!r}, {len(self.replay)} logged evaluations to replay)"

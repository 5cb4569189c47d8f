"""Atomic writes: a reader never sees half a file or half a folder, and a failed write loses nothing already there.

`atomic_dir(target)` yields a fresh temporary sibling folder; when the block ends without an error the folder
replaces ``target`` in one rename (an existing ``target`` is removed first; if another process renamed its own
copy into place meanwhile, ours is dropped: both were written by the same deterministic code). When the block
raises, the temporary folder is removed and ``target`` is untouched. `atomic_write_bytes` / `atomic_write_text`
do the same for one file (write a sibling, fsync, rename).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_dir", "atomic_write_bytes", "atomic_write_text"]


def _sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Write a folder into the yielded temporary path; it becomes ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(tmp, target)
    except OSError:  # another process renamed its (identical) copy into place first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` through a fsync'ed temporary sibling and one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(target, text.encode("utf-8"))

"""Where the kit keeps what it downloads or trains: one cache directory, overridable for tests and air-gapped users."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The kit's cache directory (``$SUBNET_KIT_CACHE``, else ``~/.cache/subnet-kit``), joined with ``parts``.

    The directory is created on first use.
    """
    root = os.environ.get("SUBNET_KIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "subnet-kit")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path

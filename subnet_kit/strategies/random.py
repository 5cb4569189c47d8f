"""``random``: uniform random sampling of the space, ``batch`` archs per ask (the baseline of every comparison)."""

from __future__ import annotations

import numpy as np

from .base import Strategy


class RandomSearch(Strategy):
    """Every gene uniform on its grid, independently (the distribution of ``space.sample``).

    Options: ``batch`` (archs per ask; only changes how often ``on_generation`` fires).
    """

    name = "random"
    defaults = {"batch": 10}

    def _ask(self) -> np.ndarray:
        return self.random_genes(self.options["batch"])

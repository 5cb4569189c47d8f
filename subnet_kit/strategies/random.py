"""``random``: uniform random sampling of the space, ``batch`` archs per ask (the baseline of every comparison); with
the ``anchors`` option (default) the first batch starts with the largest and the smallest arch."""

from __future__ import annotations

import numpy as np

from .base import Strategy


class RandomSearch(Strategy):
    """Every gene uniform on its grid, independently (the distribution of ``space.sample``).

    Options: ``batch`` (archs per ask; only changes how often ``on_generation`` fires), ``anchors`` (default True:
    the first batch is `initial_design` — the largest and the smallest arch, then random ones; at least 2 archs even
    with ``batch=1``). ``anchors=False`` proposes exactly the random archs of before the option existed.
    """

    name = "random"
    defaults = {"batch": 10, "anchors": True}
    compat_defaults = {"anchors": False}  # logs written before the option resume with anchors=False

    def _ask(self) -> np.ndarray:
        n = self.options["batch"]
        if len(self.X) == 0:
            return self.initial_design(max(n, 2) if self.options["anchors"] else n)
        return self.random_genes(n)

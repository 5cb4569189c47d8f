"""`SpaceEditor`: choose a search space (granularity, bounds and steps) and see at once what it holds.

State: the traits ``granularity`` and ``layers`` / ``heads`` / ``ffn`` / ``hidden`` (each ``(min, max, step)``);
the space itself is whatever ``SearchSpace.for_model(supernet, granularity, **bounds)`` says, in ``space`` — or
None with the library's error text in ``message`` when the setting is impossible. Constructor bounds are read by
the library's `subnet_kit.space.parse_bounds`, so ``(min, max)`` gets the default step as in ``for_model``. The
controls are linked to the traits, so setting a trait moves the control and vice versa.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import traitlets as T

from subnet_kit.space import GRANULARITIES, SearchSpace, parse_bounds

from ._common import StaticRepr, box, esc, html_table, human, message_html

DIMENSIONS = ("layers", "heads", "ffn", "hidden")


class SpaceEditor(StaticRepr, W.VBox):
    """Edit a `SearchSpace` of ``supernet``: granularity, ``(min, max, step)`` per dimension.

    >>> editor = SpaceEditor(supernet, granularity="per-layer", ffn=(256, 1536, 256))   # doctest: +SKIP
    >>> editor.space, editor.message                                                    # doctest: +SKIP
    >>> editor.ffn = (100, 1536, 256)          # not on the grid: editor.space is None, editor.message says why
    """

    granularity = T.Unicode("per-layer")
    layers = T.Tuple(T.Int(), T.Int(), T.Int())
    heads = T.Tuple(T.Int(), T.Int(), T.Int())
    ffn = T.Tuple(T.Int(), T.Int(), T.Int())
    hidden = T.Tuple(T.Int(), T.Int(), T.Int())
    space = T.Instance(SearchSpace, allow_none=True)
    message = T.Unicode("")

    def __init__(self, supernet: Any, granularity: str = "per-layer", **bounds: Any) -> None:
        if granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity {granularity!r}; allowed: {', '.join(GRANULARITIES)}")
        unknown = set(bounds) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown bounds {sorted(unknown)}; allowed: {', '.join(DIMENSIONS)}")
        self.supernet = supernet
        self.dims = supernet if not hasattr(supernet, "dims") else supernet.dims
        self._updating = False
        self._controls: dict[str, dict[str, W.Widget]] = {}
        rows = []
        limits = {"layers": (1, self.dims.layers), "heads": (1, self.dims.heads), "ffn": (1, self.dims.ffn),
                  "hidden": (self.dims.head_dim, self.dims.hidden)}
        for name in DIMENSIONS:
            lo, hi = limits[name]
            rng = W.IntRangeSlider(value=(lo, hi), min=lo, max=hi, step=1, description=name,
                                   continuous_update=False, layout=W.Layout(width="420px"))
            step = W.BoundedIntText(value=1, min=1, max=max(1, hi), description="step",
                                    layout=W.Layout(width="150px"))
            rng.observe(self._from_controls, "value")
            step.observe(self._from_controls, "value")
            self._controls[name] = {"range": rng, "step": step}
            rows.append(box([rng, step], f"subnet-kit-space-{name}", vertical=False))
        self._granularity = W.ToggleButtons(options=list(GRANULARITIES), value=granularity, description="granularity")
        self._granularity.observe(self._on_granularity_control, "value")
        self._summary = W.HTML()
        self._summary.add_class("subnet-kit-space-summary")
        self._message = W.HTML()
        self._message.add_class("subnet-kit-message")
        super().__init__([self._granularity, *rows, self._summary, self._message])
        self.add_class("subnet-kit-space-editor")
        defaults = self._defaults(granularity)
        given = {k: parse_bounds(v, defaults[k][2], k) for k, v in bounds.items()}  # as SearchSpace.for_model does
        given = {k: (c.low, c.high, c.step) for k, c in given.items()}
        with self.hold_trait_notifications():
            self.granularity = granularity
            for name in DIMENSIONS:
                setattr(self, name, given.get(name, defaults[name]))
        self._rebuild()

    # ---- state ----------------------------------------------------------------------------------------------
    def _defaults(self, granularity: str) -> dict[str, tuple[int, int, int]]:
        space = SearchSpace.for_model(self.dims, granularity)
        return {n: (c.low, c.high, c.step) for n, c in
                (("layers", space.layers), ("heads", space.heads), ("ffn", space.ffn), ("hidden", space.hidden))}

    @T.observe("granularity")
    def _on_granularity(self, change: dict) -> None:
        if change["new"] not in GRANULARITIES:
            self.space, self.message = None, (f"unknown granularity {change['new']!r}; allowed: "
                                              f"{', '.join(GRANULARITIES)}")
            self._render()
            return
        if change["old"] == "layer" or change["new"] == "layer":  # the fixed dimensions change meaning
            defaults = self._defaults(change["new"])
            with self.hold_trait_notifications():
                for name in ("heads", "ffn", "hidden"):
                    setattr(self, name, defaults[name])
        self._rebuild()

    @T.observe("layers", "heads", "ffn", "hidden")
    def _on_bounds(self, change: dict) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        """The space of the current settings (or the library's reason why there is none)."""
        if self._updating or not self._controls:
            return
        try:
            self.space = SearchSpace.for_model(self.dims, self.granularity,
                                               **{n: getattr(self, n) for n in DIMENSIONS})
            self.message = ""
        except ValueError as e:
            self.space, self.message = None, str(e)
        self._render()

    # ---- view -----------------------------------------------------------------------------------------------
    def _to_controls(self) -> None:
        self._updating = True
        try:
            if self._granularity.value != self.granularity and self.granularity in GRANULARITIES:
                self._granularity.value = self.granularity
            fixed = self.granularity == "layer"
            for name in DIMENSIONS:
                lo, hi, step = getattr(self, name)
                c = self._controls[name]
                rmin, rmax = c["range"].min, c["range"].max
                c["range"].value = (min(max(lo, rmin), rmax), min(max(hi, rmin), rmax))
                c["step"].value = max(1, min(step, c["step"].max))
                disabled = fixed and name != "layers"
                c["range"].disabled = c["step"].disabled = disabled
        finally:
            self._updating = False

    def _from_controls(self, change: dict) -> None:
        if self._updating:
            return
        with self.hold_trait_notifications():
            for name in DIMENSIONS:
                c = self._controls[name]
                value = (*c["range"].value, c["step"].value)
                if value != getattr(self, name):
                    setattr(self, name, value)

    def _on_granularity_control(self, change: dict) -> None:
        if not self._updating:
            self.granularity = change["new"]

    def summary(self) -> dict[str, Any]:
        """Size and parameter range of the current space (empty when the setting is impossible)."""
        s = self.space
        if s is None:
            return {}
        return {"archs": s.size(), "params_min": s.params(s.smallest()), "params_max": s.params(s.largest()),
                "granularity": s.granularity,
                **{n: c.describe() for n, c in (("layers", s.layers), ("heads", s.heads), ("ffn", s.ffn),
                                                ("hidden", s.hidden))}}

    def _summary_text(self) -> str:
        d = self.summary()
        if not d:
            return "no space: fix the setting below"
        return (f"<b>{d['archs']:,}</b> architectures · parameters <b>{human(d['params_min'])}</b> – "
                f"<b>{human(d['params_max'])}</b>")

    def _render(self) -> None:
        self._to_controls()
        self._summary.value = self._summary_text()
        self._message.value = message_html(self.message)

    def static_html(self) -> str:
        d = self.summary()
        rows = [{"dimension": n, "min": getattr(self, n)[0], "max": getattr(self, n)[1], "step": getattr(self, n)[2]}
                for n in DIMENSIONS]
        return (f'<div class="subnet-kit-space-editor"><b>search space</b> ({esc(self.granularity)}): '
                f"{self._summary_text()}{message_html(self.message)}{html_table(rows)}</div>")

    def __repr__(self) -> str:
        return f"SpaceEditor({self.space!r})" if self.space is not None else f"SpaceEditor(no space: {self.message})"

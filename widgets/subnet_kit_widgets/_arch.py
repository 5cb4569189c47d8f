"""`ArchView`: one sub-network at a glance — heads and FFN units kept in each layer (bars over the super-network's
full width), parameters and FLOPs (analytic, from the `SearchSpace`) and, when known, measured latency.

State: the traits ``arch`` and ``latency`` (ms); the chart and the summary follow them.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import traitlets as T

from subnet_kit.space import Arch, SearchSpace

from ._charts import arch_chart, arch_rows
from ._common import LiveChart, StaticRepr, chart_svg, esc, html_table, human, message_html


class ArchView(StaticRepr, W.VBox):
    """Show ``arch``: per-layer heads and FFN units, parameters, FLOPs and (optional) latency in ms.

    ``space`` gives parameters and FLOPs (at ``seq_len`` tokens, batch 1); ``supernet`` enables `measure_latency`.

    >>> view = ArchView(space.sample(rng=0), space, latency=12.5)        # doctest: +SKIP
    >>> view.arch = space.largest()                                       # the view follows
    """

    arch = T.Instance(Arch, allow_none=True)
    latency = T.Float(None, allow_none=True)  # ms, measured (None: not measured)
    message = T.Unicode("")

    def __init__(self, arch: Arch | None, space: SearchSpace, supernet: Any = None, latency: float | None = None,
                 *, seq_len: int = 64, live: str = "spec") -> None:
        if not isinstance(space, SearchSpace):
            raise ValueError(f"space must be a SearchSpace (SearchSpace.for_model(supernet, ...)), got "
                             f"{type(space).__name__}")
        if arch is not None and not isinstance(arch, Arch):
            raise ValueError(f"arch must be an Arch or None, got {type(arch).__name__}")
        self.space, self.supernet, self.seq_len = space, supernet, seq_len
        self._chart = LiveChart(lambda rows: arch_chart(rows, self._title()), "arch", "subnet-kit-arch-chart",
                                mode=live, min_interval_s=0.0)
        self._summary = W.HTML()
        self._summary.add_class("subnet-kit-arch-summary")
        self._message = W.HTML()
        self._measure = W.Button(description="measure latency", disabled=supernet is None,
                                 tooltip="time a forward pass of this sub-network on this device")
        self._measure.on_click(lambda _: self._measure_clicked())
        children = [self._summary, self._chart.widget, self._message]
        if supernet is not None:
            children.insert(1, self._measure)
        super().__init__(children)
        self.add_class("subnet-kit-arch")
        with self.hold_trait_notifications():
            self.arch, self.latency = arch, latency
        self._render()

    def _title(self) -> str:
        return self.arch.short() if self.arch is not None else "no architecture selected"

    @T.observe("arch", "latency", "message")
    def _on_change(self, change: dict) -> None:
        self._render()

    def info(self) -> dict[str, Any]:
        """What the view shows: ``arch`` (short form), ``params``, ``flops``, ``latency_ms``, ``layers``, ``heads``,
        ``ffn``, ``hidden`` (empty without an arch)."""
        a = self.arch
        if a is None:
            return {}
        return {"arch": a.short(), "layers": a.layers, "hidden": a.hidden, "heads": list(a.heads),
                "ffn": list(a.ffn), "params": self.space.params(a),
                "flops": self.space.flops(a, seq_len=self.seq_len), "latency_ms": self.latency}

    def chart(self) -> Any:
        """The per-layer chart as a static Altair chart (``.save("arch.png")``)."""
        return arch_chart(arch_rows(self.arch, self.space.dims), self._title())

    def chart_data(self) -> Any:
        import pandas as pd

        return pd.DataFrame(arch_rows(self.arch, self.space.dims))

    def _summary_html(self) -> str:
        d = self.info()
        if not d:
            return "<i>no architecture selected</i>"
        lat = f" · latency <b>{d['latency_ms']:.3g} ms</b>" if d["latency_ms"] is not None else ""
        return (f"<b>{esc(d['arch'])}</b><br>parameters <b>{human(d['params'])}</b> · FLOPs "
                f"<b>{human(d['flops'])}</b> (batch 1 x {self.seq_len} tokens){lat}")

    def _render(self) -> None:
        self._summary.value = self._summary_html()
        self._message.value = message_html(self.message)
        self._chart.rows = arch_rows(self.arch, self.space.dims)
        self._chart.flush()

    def measure_latency(self, **kwargs: Any) -> float:
        """Measure the arch's latency on the super-network's device (`subnet_kit.objectives.measure_latency`;
        ``kwargs`` go there) and show it."""
        from subnet_kit.objectives import measure_latency

        if self.supernet is None:
            raise ValueError("ArchView has no supernet to time: ArchView(arch, space, supernet=supernet)")
        if self.arch is None:
            raise ValueError("no architecture to time: set view.arch first")
        kwargs.setdefault("seq_len", self.seq_len)
        self.latency = measure_latency(self.supernet, self.arch, **kwargs)["median_ms"]
        return self.latency

    def _measure_clicked(self) -> None:
        try:
            self.measure_latency()
            self.message = ""
        except ValueError as e:
            self.message = str(e)

    def static_html(self) -> str:
        d = self.info()
        table = html_table([{k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in d.items()
                             if v is not None}]) if d else ""
        return (f'<div class="subnet-kit-arch">{self._summary_html()}{message_html(self.message)}'
                f"{chart_svg(self.chart()) if d else ''}{table}</div>")

    def __repr__(self) -> str:
        return f"ArchView({self.arch.short() if self.arch else None})"

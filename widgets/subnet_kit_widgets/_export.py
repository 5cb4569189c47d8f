"""`ExportPanel`: turn the selected sub-network into a real model with `subnet_kit.deploy.deploy` (extract, save,
reload and compare logits, time against the full super-network) and show its `DeployReport`.

The arch comes from ``arch=`` or follows a `SearchDashboard`'s selection (``dashboard=``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as W
import traitlets as T

from subnet_kit.deploy import DeployReport, Timing, deploy
from subnet_kit.space import Arch

from ._common import StaticRepr, box, esc, html_table, message_html


class ExportPanel(StaticRepr, W.VBox):
    """Export ``arch`` (or the ``dashboard``'s selected arch) to ``out_dir/<arch.slug()>``; `export` returns what
    it measured. Latency: ``batch_size`` x ``seq_len`` tokens, ``threads`` CPU threads (default torch's setting),
    ``repeats`` timed runs (a `subnet_kit.deploy.Timing`, which checks them).

    >>> panel = ExportPanel(supernet, dashboard=dash, out_dir="exported")       # doctest: +SKIP
    >>> info = panel.export()   # path, params, latency_ms, full_latency_ms, reload_max_abs_diff, ...
    """

    arch = T.Instance(Arch, allow_none=True)
    info = T.Dict()  # the last export's results
    message = T.Unicode("")

    def __init__(self, supernet: Any, arch: Arch | None = None, out_dir: str = "exported", *,
                 dashboard: Any = None, batch_size: int = 1, seq_len: int = 64, threads: int | None = None,
                 repeats: int = 15) -> None:
        if supernet is None or not hasattr(supernet, "extract"):
            raise ValueError(f"ExportPanel needs a SuperNet (it extracts from it), got {type(supernet).__name__}")
        if arch is not None and not isinstance(arch, Arch):
            raise ValueError(f"arch must be an Arch or None, got {type(arch).__name__}")
        self.timing = Timing(batch_size=batch_size, seq_len=seq_len, threads=threads, repeats=repeats)
        self.supernet, self.out_dir, self.dashboard = supernet, Path(out_dir), dashboard
        self.report: DeployReport | None = None  # the last export's report
        self._arch_label = W.HTML()
        self._button = W.Button(description="Extract, save, reload, time", icon="download",
                                layout=W.Layout(width="260px"))
        self._button.add_class("subnet-kit-export-button")
        self._button.on_click(lambda _: self._clicked())
        self._out = W.HTML()
        self._out.add_class("subnet-kit-export-result")
        self._message = W.HTML()
        self._message.add_class("subnet-kit-message")
        super().__init__([box([self._button, self._arch_label], "subnet-kit-export-row", vertical=False),
                          self._message, self._out])
        self.add_class("subnet-kit-export")
        if dashboard is not None:
            dashboard.model.observe(self._follow, names=["selected"])
            arch = arch or dashboard.selected
        self.arch = arch
        self._render()

    def _follow(self, change: dict) -> None:
        self.arch = change["new"]

    @T.observe("arch", "info", "message")
    def _on_change(self, change: dict) -> None:
        self._render()

    def export(self, arch: Arch | None = None) -> dict[str, Any]:
        """Deploy ``arch`` (default: the panel's) with `subnet_kit.deploy.deploy` and show the report; returns
        ``report.to_dict()`` (``path``, ``params``, ``full_params``, ``latency_ms``, ``full_latency_ms``,
        ``speedup``, ``reload_max_abs_diff``, ``active_max_abs_diff``, ``threads``, ``device``, ...); ``panel.report`` holds
        the `DeployReport`."""
        arch = arch or self.arch
        if arch is None:
            raise ValueError("nothing to export: pass arch=..., or select a point in the dashboard's Pareto chart "
                             "(or dash.select(arch))")
        self.arch = arch
        self.report = deploy(self.supernet, arch, self.out_dir, timing=self.timing)
        self.info = self.report.to_dict()
        self.refresh_static()
        return self.info

    def _clicked(self) -> None:
        self._button.disabled = True
        try:
            self.export()
            self.message = ""
        except (ValueError, OSError, RuntimeError) as e:
            self.message = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
        finally:
            self._button.disabled = False

    def _info_html(self) -> str:
        d = self.info
        if not d:
            return ""
        rows = [
            {"": "sub-network", "parameters": d["params"], "latency (ms)": d["latency_ms"],
             "saved to": d["path"]},
            {"": "full super-network", "parameters": d["full_params"], "latency (ms)": d["full_latency_ms"],
             "saved to": ""},
        ]
        return (html_table(rows) + f"<div>speed-up <b>{d['speedup']:.2f}x</b> (batch {d['batch_size']} x "
                f"{d['seq_len']} tokens, {d['threads']} threads, {esc(d['device'])}) · reloaded vs extracted logits: "
                f"max |diff| {d['reload_max_abs_diff']:.2g} · vs the active super-network "
                f"{d['active_max_abs_diff']:.2g}"
                + (" · <b>noisy timing</b> (other load on the machine): measure again" if d.get("noisy") else "")
                + "</div>")

    def _render(self) -> None:
        self._arch_label.value = (f"<b>{esc(self.arch.short())}</b>" if self.arch is not None
                                  else "<i>no architecture selected</i>")
        self._button.disabled = self.arch is None
        self._message.value = message_html(self.message)
        self._out.value = self._info_html()

    def static_html(self) -> str:
        head = f"<b>export</b> {esc(self.arch.short()) if self.arch is not None else '(no architecture selected)'}"
        return f'<div class="subnet-kit-export">{head}{message_html(self.message)}{self._info_html()}</div>'

    def __repr__(self) -> str:
        return f"ExportPanel({self.arch.short() if self.arch else None}, out_dir={str(self.out_dir)!r})"

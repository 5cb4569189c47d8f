"""`ExportPanel`: turn the selected sub-network into a real model — extract it (``supernet.extract``), save it
(safetensors + JSON, `SubNetwork.save`), load it back (`load_subnet`) and check its logits on a probe batch, and
time it against the full super-network on this device (`subnet_kit.objectives.measure_latency`).

The arch comes from ``arch=`` or follows a `SearchDashboard`'s selection (``dashboard=``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as W
import traitlets as T

from subnet_kit.space import Arch

from ._common import StaticRepr, box, esc, html_table, message_html


def probe_batch(dims: Any, batch_size: int = 4, seq_len: int = 16, seed: int = 0) -> tuple[Any, Any]:
    """Seeded random token ids ``(B, T)`` and an attention mask with one padded row (a private generator: the
    caller's random state is untouched)."""
    import torch

    seq_len = min(seq_len, dims.max_position)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, dims.vocab_size, (batch_size, seq_len), generator=g)  # (B, T)
    mask = torch.ones_like(ids)
    if batch_size > 1 and seq_len > 2:
        mask[1, seq_len // 2:] = 0
    return ids, mask


def arch_slug(arch: Arch) -> str:
    """A directory name for ``arch``, e.g. ``L4-H256-heads8,8,6,4-ffn1024,768,512,512``."""
    return (f"L{arch.layers}-H{arch.hidden}-heads{','.join(map(str, arch.heads))}-"
            f"ffn{','.join(map(str, arch.ffn))}")


class ExportPanel(StaticRepr, W.VBox):
    """Export ``arch`` (or the ``dashboard``'s selected arch) to ``out_dir/<arch>``; `export` returns what it
    measured. Latency: ``batch_size`` x ``seq_len`` tokens, ``threads`` CPU threads (default torch's setting).

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
        for name, v in (("batch_size", batch_size), ("seq_len", seq_len), ("repeats", repeats)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self.supernet, self.out_dir, self.dashboard = supernet, Path(out_dir), dashboard
        self.batch_size, self.seq_len, self.threads, self.repeats = batch_size, seq_len, threads, repeats
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
            dashboard.observe(self._follow, names=["selected"])
            arch = arch or dashboard.selected
        self.arch = arch
        self._render()

    def _follow(self, change: dict) -> None:
        self.arch = change["new"]

    @T.observe("arch", "info", "message")
    def _on_change(self, change: dict) -> None:
        self._render()

    def export(self, arch: Arch | None = None) -> dict[str, Any]:
        """Extract, save, reload, compare logits, time. Returns ``path``, ``arch`` (JSON), ``params`` (of the
        saved model), ``full_params``, ``latency_ms`` / ``latency_iqr_ms`` (the reloaded model),
        ``full_latency_ms`` (the full super-network), ``speedup``, ``reload_max_abs_diff`` (reloaded vs extracted
        logits), ``active_max_abs_diff`` (reloaded vs the super-network running the arch), ``threads``."""
        import torch

        from subnet_kit.objectives import measure_latency
        from subnet_kit.supernet import load_subnet

        arch = arch or self.arch
        if arch is None:
            raise ValueError("nothing to export: pass arch=..., or select a point in the dashboard's Pareto chart "
                             "(or dash.select(arch))")
        self.arch = arch
        sn = self.supernet
        small = sn.extract(arch).eval()
        path = Path(small.save(self.out_dir / arch_slug(arch)))
        reloaded = load_subnet(path).eval()
        device = next(sn.parameters()).device
        reloaded = reloaded.to(device)
        ids, mask = (t.to(device) for t in probe_batch(sn.dims))
        was_training = sn.training
        sn.eval()
        try:
            with torch.inference_mode():
                a = small(ids, mask)
                b = reloaded(ids, mask)
                with sn.activate(arch):
                    c = sn(ids, mask)
        finally:
            sn.train(was_training)
        timing = dict(batch_size=self.batch_size, seq_len=self.seq_len, threads=self.threads, repeats=self.repeats)
        sub = measure_latency(reloaded, **timing)
        full = measure_latency(sn, sn.dims.full_arch(), **timing)
        info = {
            "path": str(path), "arch": arch.to_json(), "params": sum(p.numel() for p in reloaded.parameters()),
            "full_params": sum(p.numel() for p in sn.parameters()),
            "latency_ms": sub["median_ms"], "latency_iqr_ms": sub["iqr_ms"], "full_latency_ms": full["median_ms"],
            "speedup": full["median_ms"] / sub["median_ms"] if sub["median_ms"] > 0 else float("nan"),
            "reload_max_abs_diff": float((a - b).abs().max()), "active_max_abs_diff": float((c - b).abs().max()),
            "threads": sub["threads"], "device": sub["device"], "batch_size": self.batch_size,
            "seq_len": self.seq_len,
        }
        self.info = info
        self.refresh_static()
        return info

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
                f"{d['active_max_abs_diff']:.2g}</div>")

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

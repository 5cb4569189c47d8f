"""What every view shares: the static (headless) representation, live Altair charts, small HTML helpers.

Every view is an ipywidgets box. Displayed in JupyterLab it is a live widget; displayed where no widget front end
exists (papermill, nbconvert, GitHub) the same output carries a static ``text/html`` part next to the widget-view
mimetype: an SVG of the view's Altair chart rendered by vl-convert, and a table. `StaticRepr.refresh_static` updates
every output the view was displayed in (IPython display handles), so a saved notebook holds the final state.
"""

from __future__ import annotations

import html
import os
import time
import uuid
import warnings
from typing import Any, Callable

import ipywidgets as W

__all__ = ["StaticRepr", "LiveChart", "css", "human", "html_table", "chart_svg", "ensure_offline_js",
           "data_channel_supported"]

_CSS = """
<style>
.subnet-kit-error { color: #b00020; font-family: monospace; white-space: pre-wrap; }
.subnet-kit-info { color: #333; }
.subnet-kit-table { border-collapse: collapse; font-size: 12px; }
.subnet-kit-table td, .subnet-kit-table th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
.subnet-kit-table td:last-child, .subnet-kit-table th:last-child { text-align: left; }
</style>
"""


def css() -> str:
    return _CSS


def human(n: float) -> str:
    """``22_713_216 -> '22.7M'``, ``4491 -> '4.49k'``."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.3g}"


def esc(s: Any) -> str:
    return html.escape(str(s))


def html_table(rows: list[dict[str, Any]], columns: list[str] | None = None, cls: str = "subnet-kit-table") -> str:
    """A small HTML table (numbers formatted with 4 significant digits)."""
    if not rows:
        return f'<table class="{cls}"><tr><td>(empty)</td></tr></table>'
    columns = columns or list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, int):
            return f"{v:,}"
        return esc(v)

    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def chart_svg(chart: Any) -> str:
    """The chart as an inline SVG string (vl-convert, no browser); a readable note if rendering fails."""
    try:
        import vl_convert as vlc

        return vlc.vegalite_to_svg(chart.to_dict(validate=False))
    except Exception as e:  # a static preview must never break the notebook run
        return f'<div class="subnet-kit-error">could not render the chart: {esc(type(e).__name__)}: {esc(e)}</div>'


# ----------------------------------------------------------------------------------------------------------------
# Altair, in one place: JupyterChart's JavaScript without network access, and its data channel (see LiveChart)
# ----------------------------------------------------------------------------------------------------------------
JS_ENV = "SUBNET_KIT_WIDGETS_JS"  # "offline" (default) or "cdn"
# Altair versions whose JupyterChart data channel (`_py_to_js_updates`) LiveChart was checked on: [low, high)
DATA_CHANNEL_ALTAIR = ((5, 4), (7, 0))


def ensure_offline_js() -> None:
    """Make `altair.JupyterChart` load Vega from a bundle instead of a CDN (works with no network, as on this
    kit's CI machines and in the browser test), through Altair's public ``JupyterChart.enable_offline()`` (vl-convert
    builds the ~0.9 MB bundle once per process, ~2 s). Every chart widget's state carries the bundle, so a notebook
    saved *with widget state* grows by ~0.9 MB per chart; set the environment variable ``SUBNET_KIT_WIDGETS_JS=cdn``
    to keep Altair's default (Vega from a CDN) instead."""
    import altair as alt

    mode = os.environ.get(JS_ENV, "offline").strip().lower()
    if mode not in ("offline", "cdn"):
        raise ValueError(f"{JS_ENV}={mode!r}; allowed: offline, cdn")
    if mode == "offline":
        try:
            alt.JupyterChart.enable_offline(True)
        except Exception as e:  # noqa: BLE001 - a chart from the CDN beats no chart
            warnings.warn(f"Altair could not bundle Vega for offline use ({type(e).__name__}: {e}); charts load "
                          f"Vega from the CDN", stacklevel=2)


def data_channel_supported() -> bool:
    """Whether this Altair's JupyterChart has the Python-to-JavaScript data channel LiveChart writes to (a private
    trait, labelled "for VegaFusion support"): only on the checked versions, `DATA_CHANNEL_ALTAIR`."""
    import altair as alt

    try:
        version = tuple(int(part) for part in alt.__version__.split(".")[:2])
    except ValueError:  # a development version string: unknown
        return False
    low, high = DATA_CHANNEL_ALTAIR
    return low <= version < high and "_py_to_js_updates" in alt.JupyterChart.class_trait_names()


# ----------------------------------------------------------------------------------------------------------------
# Static representation
# ----------------------------------------------------------------------------------------------------------------
class StaticRepr:
    """Mixin for ipywidgets boxes: adds ``text/html`` (`static_html`) to the widget's mimebundle and keeps the
    display ids it was shown under, so `refresh_static` can update those outputs later."""

    def static_html(self) -> str:  # subclasses render their current state
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}  # type: ignore[misc]
        data["text/html"] = css() + self.static_html()
        return data

    def _ipython_display_(self) -> None:
        from IPython.display import display

        ids = self.__dict__.setdefault("_display_ids", [])
        did = uuid.uuid4().hex
        ids.append(did)
        display(self._repr_mimebundle_(), raw=True, display_id=did)

    def refresh_static(self) -> None:
        """Update every output this view was displayed in (its static part shows the current state)."""
        ids = self.__dict__.get("_display_ids", [])
        if not ids:
            return
        from IPython.display import update_display

        bundle = self._repr_mimebundle_()
        for did in ids:
            update_display(bundle, raw=True, display_id=did)


# ----------------------------------------------------------------------------------------------------------------
# A live Altair chart whose data changes often
# ----------------------------------------------------------------------------------------------------------------
class LiveChart:
    """An `altair.JupyterChart` over one named data set, rebuilt from rows by ``build(rows) -> chart``.

    `update(rows)` shows new rows. ``mode="data"`` sends only the rows to the Vega view already on screen (through
    the JupyterChart's Python-to-JavaScript data channel, the one its VegaFusion support uses): no re-embed, no spec
    validation. That channel is private to Altair, so on an Altair version it was not checked on
    (`data_channel_supported`) the chart falls back to ``mode="spec"``: set a new chart (full re-embed).

    Throttling: with ``min_interval_s > 0`` at most one update goes out per ``max(min_interval_s, 10 * cost)``
    seconds (adaptive: never more than a tenth of the time goes into updates), so a live chart may skip
    intermediate states, never the last: `flush` shows the final rows and sets the chart itself, so that a
    reconnecting front end and the Python side hold every row. ``min_interval_s=0`` turns throttling off: every
    `update` goes to the front end.
    """

    def __init__(self, build: Callable[[list[dict[str, Any]]], Any], data_name: str, css_class: str,
                 mode: str = "data", min_interval_s: float = 0.2) -> None:
        import altair as alt

        if mode not in ("data", "spec"):
            raise ValueError(f"unknown live update mode {mode!r}; allowed: data, spec")
        if isinstance(min_interval_s, bool) or not isinstance(min_interval_s, (int, float)) or not min_interval_s >= 0:
            raise ValueError(f"min_interval_s must be a number of seconds >= 0, got {min_interval_s!r}")
        ensure_offline_js()
        self.build, self.data_name, self.min_interval_s = build, data_name, float(min_interval_s)
        self.mode = mode if mode == "spec" or data_channel_supported() else "spec"  # what updates really do
        self.rows: list[dict[str, Any]] = []  # what the chart shows (after the last update)
        self.sent: list[dict[str, Any]] = []
        self._last = 0.0
        self._cost = 0.0
        self.updates = 0  # how many updates went to the front end
        self.widget = alt.JupyterChart(self.build([]), embed_options={"renderer": "svg", "actions": False})
        self.widget.add_class(css_class)
        self._on_new_chart: list[Callable[[], None]] = []

    def chart(self) -> Any:
        return self.build(self.rows)

    def on_new_chart(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` every time the chart object is replaced (JupyterChart then has new ``selections``)."""
        self._on_new_chart.append(fn)
        fn()

    def _set_chart(self) -> None:
        with self.widget.hold_sync():  # spec, selections and params reach the front end as one message
            self.widget.chart = self.build(self.rows)
        self.sent = list(self.rows)
        for fn in self._on_new_chart:
            fn()

    def _send_data(self) -> None:
        """The one write to Altair's private data channel (guarded by `data_channel_supported`)."""
        self.widget._py_to_js_updates = [
            {"namespace": "data", "name": self.data_name, "scope": [], "value": _jsonable(self.rows)}
        ]
        self.sent = list(self.rows)

    def update(self, rows: list[dict[str, Any]], force: bool = False) -> bool:
        """Show ``rows`` (the full data set); returns whether the front end got them now (throttling)."""
        self.rows = list(rows)
        now = time.perf_counter()
        if not force and self.min_interval_s > 0 and now - self._last < max(self.min_interval_s, 10 * self._cost):
            return False
        t0 = time.perf_counter()
        if self.mode == "data":
            self._send_data()
        else:
            self._set_chart()
        self.updates += 1
        self._last = time.perf_counter()
        self._cost = self._last - t0
        return True

    def flush(self) -> None:
        """Show the final rows and make them the chart's own data (one re-embed)."""
        self._set_chart()
        self.updates += 1
        self._last = time.perf_counter()


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import numpy as np

    def conv(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        return v

    return [{k: conv(v) for k, v in r.items()} for r in rows]


def message_html(text: str, error: bool = True) -> str:
    cls = "subnet-kit-error" if error else "subnet-kit-info"
    return f'<div class="{cls}">{esc(text)}</div>' if text else ""


def box(children: list[W.Widget], css_class: str, vertical: bool = True, **layout: Any) -> W.Box:
    kw = {"layout": W.Layout(**layout)} if layout else {}
    b = (W.VBox if vertical else W.HBox)(children, **kw)
    b.add_class(css_class)
    return b

"""The course as a static site: executed notebooks exported to HTML pages that need no kernel, no widget JavaScript
and no network, plus an ``index.html`` with the lessons' titles and links.

    python -m subnet_kit_widgets.site --out site/                                   # every lesson, its defaults
    python -m subnet_kit_widgets.site --out site/ --params-dir tests/notebook_params  # the small CI parameters
    python -m subnet_kit_widgets.site --out site/ notebooks/00_quickstart.ipynb notebooks/05_evolutionary_search.ipynb
    python -m subnet_kit_widgets.site --out site/ --no-execute executed/*.ipynb     # notebooks run elsewhere

Each notebook is executed with papermill (working directory: the notebook's folder, as in ``tests/test_notebooks.py``;
``out_dir`` set to ``<out>/runs/<stem>``) unless ``--no-execute`` says they already were, then exported with
nbconvert's ``lab`` template. What a browser would otherwise need a kernel or the network for is replaced first:

* **widget outputs** (``application/vnd.jupyter.widget-view+json``, which nbconvert ranks above every other mimetype
  and renders as an empty ``<div>`` plus a script that fetches the widget manager from a CDN): the widget mimetype is
  dropped, so the static fallback the kit's views carry (``text/html`` with an inline SVG chart and a table, see
  ``_common.StaticRepr``) is what the page shows; a widget without a fallback (tqdm's progress bar, a bare
  ``ipywidgets`` control) is drawn from the widget state saved in the notebook (a progress bar as an HTML
  ``<progress>`` with its final text), or as its ``text/plain`` line;
* **Altair charts** (Altair's HTML renderer: a ``<script>`` that loads Vega from a CDN; or a
  ``application/vnd.vegalite.v*+json`` / ``application/vnd.vega.v*+json`` bundle): the spec is taken out and rendered
  to an SVG by vl-convert, offline;
* **hidden cells** (cell metadata ``{"jupyter": {"source_hidden": true}}``, the course's collapsed solutions) are
  folded into a ``<details>`` element: the page shows a "click to show" line instead of the solution;
* **page scaffolding**: RequireJS, MathJax, Mermaid and the widget manager's ``<script src="https://…">`` tags are
  left out of the template (formulas show as their TeX source), and the widget state is not embedded.

Every page is checked at the end: an external ``<script src>``, ``<link href>``, ``<img src>`` or a CDN URL left in a
page is an error. Links between lessons (``05_evolutionary_search.ipynb``) point to the pages; each page gets a bar
with links to the index and to the previous and next lesson.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["build_site", "static_notebook", "export_html", "external_references", "lesson_title", "PageRecord"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
VEGALITE = re.compile(r"^application/vnd\.vegalite\.v(\d+)(?:\.\d+)*\+json$")
VEGA = re.compile(r"^application/vnd\.vega\.v\d+(?:\.\d+)*\+json$")
STATIC_MIMES = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/latex")

# nbconvert's lab template without anything fetched from the network (the blocks hold <script src=...> tags)
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block codecell %}
{%- if cell.metadata.get("jupyter", {}).get("source_hidden") -%}
<details class="subnet-kit-hidden-cell"><summary>Hidden cell (a solution): click to show its code and output</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock codecell %}
"""

_NAV_CSS = """<style>
.subnet-kit-site-nav { font-family: system-ui, sans-serif; font-size: 14px; padding: 8px 16px; margin-bottom: 8px;
  border-bottom: 1px solid #ddd; display: flex; gap: 24px; }
.subnet-kit-site-nav a { text-decoration: none; }
.subnet-kit-widget-static { font-family: monospace; font-size: 12px; white-space: pre-wrap; }
.subnet-kit-widget-static progress { vertical-align: middle; width: 240px; margin: 0 6px; }
details.subnet-kit-hidden-cell > summary { cursor: pointer; color: #555; font-family: system-ui, sans-serif;
  font-size: 13px; margin: 4px 0 4px 64px; }
</style>"""


# ------------------------------------------------------------------------------------------------------------------
# Outputs made static
# ------------------------------------------------------------------------------------------------------------------
def _altair_html_spec(text: str) -> dict | None:
    """The Vega-Lite spec inside an Altair HTML output, or None: the notebook renderer's
    ``…})(SPEC, EMBED_OPTIONS);</script>`` or the standalone templates' ``var spec = SPEC;``."""
    if "vegaEmbed" not in text and "vega-embed" not in text:
        return None
    starts = [m.end() for m in re.finditer(r"\bvar\s+spec\s*=\s*", text)]
    at = text.rfind("})(")
    if at >= 0:
        starts.append(at + 3)
    for start in starts:
        try:
            spec, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(spec, dict) and ("mark" in spec or "layer" in spec or "$schema" in spec or "vconcat" in spec
                                       or "hconcat" in spec or "concat" in spec or "facet" in spec or "repeat" in spec):
            return spec
    return None


def _svg(spec: dict, vega: bool = False) -> str:
    import vl_convert as vlc

    return vlc.vega_to_svg(spec) if vega else vlc.vegalite_to_svg(spec)


def _widget_html(model_id: str, state: dict[str, Any], depth: int = 0) -> str | None:
    """A static picture of one saved widget: boxes of their children, HTML/Label/Text values, progress bars."""
    entry = state.get(model_id)
    if entry is None or depth > 20:
        return None
    name = entry.get("model_name", "")
    s = entry.get("state", {})
    if name in ("HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel"):
        parts = []
        for child in s.get("children", []):
            cid = child.split("IPY_MODEL_", 1)[-1] if isinstance(child, str) else None
            part = _widget_html(cid, state, depth + 1) if cid else None
            if part:
                parts.append(part)
        if not parts:
            return None
        sep = " " if name == "HBoxModel" else "<br>"
        return sep.join(parts)
    if name in ("HTMLModel", "HTMLMathModel"):
        return str(s.get("value", "")) or None
    if name in ("LabelModel", "TextModel", "TextareaModel"):
        value = s.get("value", "")
        return html.escape(str(value)) if value != "" else None
    if name in ("FloatProgressModel", "IntProgressModel"):
        desc = html.escape(str(s.get("description", "")))
        value, high = s.get("value", 0), s.get("max", 100)
        return f'{desc}<progress value="{value}" max="{high}"></progress>'
    return None


def static_notebook(nb: Any) -> Any:
    """A copy of an executed notebook (nbformat node) whose outputs need no kernel, widget JS or network."""
    nb = copy.deepcopy(nb)
    widget_state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            # Altair charts -> SVG rendered here
            for mime in list(data):
                if VEGALITE.match(mime) or VEGA.match(mime):
                    spec = data[mime]
                    spec = json.loads(spec) if isinstance(spec, str) else spec
                    data["image/svg+xml"] = _svg(spec, vega=bool(VEGA.match(mime)))
                    for m in list(data):
                        if m not in ("image/svg+xml", "text/plain"):
                            del data[m]
                    break
            if "text/html" in data:
                spec = _altair_html_spec("".join(data["text/html"]))
                if spec is not None:
                    data["image/svg+xml"] = _svg(spec)
                    del data["text/html"]
            # widgets -> their static fallback, or a picture from the saved widget state
            if WIDGET_VIEW in data:
                view = data.pop(WIDGET_VIEW)
                view = json.loads(view) if isinstance(view, str) else view
                if not any(m in data for m in STATIC_MIMES):
                    picture = _widget_html(view.get("model_id", ""), widget_state)
                    if picture:
                        data["text/html"] = f'<div class="subnet-kit-widget-static">{picture}</div>'
                    elif "text/plain" not in data:
                        data["text/plain"] = "(an interactive widget: run the notebook in JupyterLab to use it)"
    nb.metadata.pop("widgets", None)
    return nb


def export_html(nb: Any) -> str:
    """The notebook (already made static) as one self-contained HTML page (CSS inlined, no external scripts)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_loaders=[DictLoader({"subnet_kit_site.html.j2": _TEMPLATE})],
                            template_file="subnet_kit_site.html.j2")
    body, _ = exporter.from_notebook_node(nb)
    return body


_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|source|video|audio)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|unpkg\.com""",
    re.IGNORECASE,
)


def external_references(page: str) -> list[str]:
    """Every place in an HTML page that would make a browser fetch something from another machine."""
    return [page[max(0, m.start() - 40): m.end() + 60].replace("\n", " ") for m in _EXTERNAL.finditer(page)]


def lesson_title(nb: Any, fallback: str) -> str:
    """The first Markdown heading of the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


# ------------------------------------------------------------------------------------------------------------------
# The site
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class PageRecord:
    stem: str
    title: str
    page: str                      # file name of the HTML page, relative to the site's folder
    executed: bool                 # executed here (False: taken as already executed)
    seconds: float | None = None   # execution time here
    error: str | None = None       # the execution error, if any (the page then shows the notebook up to it)
    parameters: dict[str, Any] = field(default_factory=dict)


def _execute(path: Path, dest: Path, params: dict[str, Any], kernel: str) -> tuple[float, str | None]:
    import papermill as pm

    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(dest), parameters=params, cwd=str(path.parent), kernel_name=kernel,
                            progress_bar=False, request_save_on_cell_execute=False)
        error = None
    except pm.PapermillExecutionError as e:
        error = f"{e.ename}: {e.evalue} (cell {e.exec_count})"
    return time.perf_counter() - t0, error


def _nav(records: list[PageRecord], i: int) -> str:
    links = ['<a href="index.html">&#8962; course index</a>']
    if i > 0:
        links.append(f'<a href="{records[i - 1].page}">&larr; {html.escape(records[i - 1].title)}</a>')
    if i + 1 < len(records):
        links.append(f'<a href="{records[i + 1].page}">{html.escape(records[i + 1].title)} &rarr;</a>')
    return f'{_NAV_CSS}<nav class="subnet-kit-site-nav">{" ".join(links)}</nav>'


def _index(records: list[PageRecord], title: str) -> str:
    rows = []
    for r in records:
        how = (f"executed here in {r.seconds:.0f} s" if r.executed and r.seconds is not None else "as given")
        if r.parameters:
            how += " with " + ", ".join(f"{k}={v}" for k, v in r.parameters.items() if k != "out_dir")
        err = f' <span class="err">failed: {html.escape(r.error)}</span>' if r.error else ""
        rows.append(f'<li><a href="{r.page}">{html.escape(r.title)}</a> <span class="how">({html.escape(how)})</span>'
                    f'{err}</li>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 860px; margin: 32px auto; padding: 0 16px; line-height: 1.5; }}
li {{ margin: 6px 0; }} .how {{ color: #666; font-size: 13px; }} .err {{ color: #b00020; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p>The executed lessons of the subnet-kit course, readable without a kernel or a network connection (charts are
static SVG pictures; to run the code, open the notebooks in JupyterLab).</p>
<ol start="0">
{chr(10).join(rows)}
</ol></body></html>
"""


def build_site(out: str | Path, notebooks: list[str | Path] | None = None, params_dir: str | Path | None = None,
               execute: bool = True, kernel: str = "python3", title: str = "subnet-kit: the course",
               log: Any = print) -> list[PageRecord]:
    """Execute (unless ``execute=False``) and export ``notebooks`` (default: ``notebooks/NN_*.ipynb`` under the
    current directory, i.e. run it from the repository's root) to ``out``:
    ``<stem>.html`` per lesson, ``index.html``, the executed notebooks in ``out/executed/`` and the lessons'
    ``out_dir`` folders under ``out/runs/``. Parameters come from ``params_dir/<stem>.json`` when given (a missing
    file: the lesson's defaults). Raises ``RuntimeError`` if a page would reach the network; returns the records
    (a failed execution is recorded in ``error`` and the page shows the notebook up to the error)."""
    import nbformat

    out = Path(out).resolve()
    if notebooks:
        paths = [Path(p).resolve() for p in notebooks]
    else:
        paths = sorted((Path.cwd() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError("no notebooks to build")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
    (out / "executed").mkdir(parents=True, exist_ok=True)
    records: list[PageRecord] = []
    static: list[Any] = []
    for path in paths:
        stem = path.stem
        params: dict[str, Any] = {}
        seconds = error = None
        if execute:
            if params_dir is not None and (Path(params_dir) / f"{stem}.json").is_file():
                params = json.loads((Path(params_dir) / f"{stem}.json").read_text())
            params["out_dir"] = str(out / "runs" / stem)
            dest = out / "executed" / path.name
            shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "out_dir") or "lesson defaults"
            log(f"[site] executing {path.name} ({shown})")
            seconds, error = _execute(path, dest, params, kernel)
            log(f"[site]   {seconds:.1f} s" + (f", FAILED: {error}" if error else ""))
            nb = nbformat.read(str(dest), as_version=4)
        else:
            nb = nbformat.read(str(path), as_version=4)
        records.append(PageRecord(stem=stem, title=lesson_title(nb, stem), page=f"{stem}.html", executed=execute,
                                  seconds=seconds, error=error,
                                  parameters={k: v for k, v in params.items() if k != "out_dir"}))
        static.append(static_notebook(nb))

    stems = {r.stem for r in records}
    bad: dict[str, list[str]] = {}
    for i, (rec, nb) in enumerate(zip(records, static)):
        page = export_html(nb)
        # links between lessons point to their pages
        page = re.sub(r'href="(?:\./)?(?:notebooks/)?([0-9][0-9]_[A-Za-z0-9_]+)\.ipynb(#[^"]*)?"',
                      lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"' if m.group(1) in stems else m.group(0),
                      page)
        page = re.sub(r"(<main>)", lambda m: m.group(1) + _nav(records, i), page, count=1)
        refs = external_references(page)
        if refs:
            bad[rec.page] = refs
        (out / rec.page).write_text(page, encoding="utf-8")
        log(f"[site] wrote {out / rec.page} ({len(page) / 1e6:.2f} MB)")
    (out / "index.html").write_text(_index(records, title), encoding="utf-8")
    log(f"[site] wrote {out / 'index.html'}")
    if bad:
        raise RuntimeError("pages that would reach the network: " + "; ".join(f"{p}: {r[:3]}" for p, r in bad.items()))
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m subnet_kit_widgets.site", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*",
                    help="notebooks to include, in order (default: notebooks/NN_*.ipynb under the current directory)")
    ap.add_argument("--out", required=True, help="folder for the site (index.html, one page per lesson)")
    ap.add_argument("--params-dir", help="folder of <stem>.json parameters (e.g. tests/notebook_params); "
                                         "default: each lesson's own defaults")
    ap.add_argument("--no-execute", action="store_true", help="the notebooks are already executed: export only")
    ap.add_argument("--kernel", default="python3")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    records = build_site(args.out, args.notebooks or None, params_dir=args.params_dir, execute=not args.no_execute,
                         kernel=args.kernel)
    failed = [r for r in records if r.error]
    print(f"[site] {len(records)} pages in {time.perf_counter() - t0:.0f} s: {Path(args.out).resolve() / 'index.html'}"
          + (f"; {len(failed)} notebook(s) failed: {', '.join(r.stem for r in failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

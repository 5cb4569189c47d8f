"""The course as a static site (``python -m subnet_kit_widgets.site``): pages that show every chart with no kernel,
no widget JavaScript and no network.

* Fast checks on a hand-made executed notebook (no kernel): Altair's HTML output and a Vega-Lite bundle become SVG
  pictures, a widget keeps its static fallback, a tqdm bar is drawn from the saved widget state, and an external
  script is caught.
* The real thing: the site is built for two lessons with their CI parameters (``tests/notebook_params/``) —
  ``00_quickstart`` (the kit's widgets: the dashboard's static SVG fallback) and ``02_search_spaces`` (plain Altair
  charts) — and every page is opened from ``file://`` in headless Chromium (Debian's ``chromium`` through Playwright,
  launched as in ``tests/test_browser.py``) with every request that is not ``file:`` or ``data:`` aborted and
  recorded. Each lesson page must show at least one chart (an ``<svg>`` or a decoded ``<img>`` of nonzero size in an
  output area), and no request may have left the machine. Skipped when Playwright or Chromium is missing, unless
  ``SUBNET_KIT_BROWSER_TEST=1`` (what ``.ci/run`` sets), where that fails instead. Run it alone with::

      SUBNET_KIT_BROWSER_TEST=1 OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_site.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "tests" / "notebook_params"
LESSONS = ["00_quickstart", "02_search_spaces"]
CHROMIUM = os.environ.get("SUBNET_KIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRED = os.environ.get("SUBNET_KIT_BROWSER_TEST") == "1"
ARTIFACTS = ROOT / "artifacts" / "site"


def _missing_or_skip(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"SUBNET_KIT_BROWSER_TEST=1 but {reason}")
    pytest.skip(reason)


# ----------------------------------------------------------------------------------------------------------------
# without a kernel
# ----------------------------------------------------------------------------------------------------------------
def _altair_chart():
    import altair as alt
    import pandas as pd

    return alt.Chart(pd.DataFrame({"a": [1, 2, 3], "b": [3, 1, 2]})).mark_point().encode(x="a:Q", y="b:Q")


def _executed_notebook():
    """An executed notebook as Jupyter would save it: one output of each kind the site has to make static."""
    import nbformat

    chart = _altair_chart()
    spec = chart.to_dict()
    bundle = chart._repr_mimebundle_()  # what Altair's default renderer puts in a notebook (a script, Vega from a CDN)
    altair_html = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/html"]
    from altair.utils.html import spec_to_html  # Altair's standalone template (chart.save("x.html"), "html" renderer)

    standalone = spec_to_html(spec, mode="vega-lite", vega_version="6", vegaembed_version="7",
                              vegalite_version="6.4.1", fullhtml=False)
    widget_view = {"version_major": 2, "version_minor": 0, "model_id": "box"}
    state = {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_pre", "IPY_MODEL_bar", "IPY_MODEL_post"]}},
        "pre": {"model_name": "HTMLModel", "state": {"value": "training:"}},
        "bar": {"model_name": "FloatProgressModel", "state": {"value": 16.0, "max": 16.0}},
        "post": {"model_name": "HTMLModel", "state": {"value": " 16/16 [00:03&lt;00:00]"}},
    }
    cells = [
        nbformat.v4.new_markdown_cell("# 99 · A made-up lesson\n\nSee [lesson 00](00_quickstart.ipynb)."),
        nbformat.v4.new_code_cell("chart", outputs=[nbformat.v4.new_output(
            "execute_result", {"text/html": altair_html, "text/plain": "alt.Chart(...)"}, execution_count=1)]),
        nbformat.v4.new_code_cell("standalone", outputs=[nbformat.v4.new_output(
            "display_data", {"text/html": standalone, "text/plain": "<IPython.core.display.HTML object>"})]),
        nbformat.v4.new_code_cell("bundle", outputs=[nbformat.v4.new_output(
            "display_data", {"application/vnd.vegalite.v6+json": spec, "text/plain": "<VegaLite 6 object>"})]),
        nbformat.v4.new_code_cell("dash", outputs=[nbformat.v4.new_output(
            "display_data", {"application/vnd.jupyter.widget-view+json": {**widget_view, "model_id": "dash"},
                             "text/html": '<div class="subnet-kit-dashboard"><svg width="10" height="10"></svg></div>',
                             "text/plain": "SearchDashboard(...)"})]),
        nbformat.v4.new_code_cell("tqdm", outputs=[nbformat.v4.new_output(
            "display_data", {"application/vnd.jupyter.widget-view+json": widget_view,
                             "text/plain": "training:   0%|          | 0/16"})]),
    ]
    cells.append(nbformat.v4.new_code_cell("answer = 42", metadata={"jupyter": {"source_hidden": True}}))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0,
                                                                             "state": state}}
    return nb


def test_outputs_made_static_without_a_kernel():
    from subnet_kit_widgets.site import export_html, external_references, lesson_title, static_notebook

    nb = _executed_notebook()
    assert external_references("".join(nb.cells[1].outputs[0].data["text/html"])), \
        "Altair's HTML output loads Vega from a CDN: the check must see it"
    static = static_notebook(nb)
    altair_out, standalone_out, bundle_out, dash_out, tqdm_out = (c.outputs[0].data for c in static.cells[1:6])
    for data in (altair_out, standalone_out, bundle_out):
        assert data["image/svg+xml"].lstrip().startswith("<svg"), sorted(data)
        assert "text/html" not in data and not any(m.startswith("application/vnd.vega") for m in data)
    assert "application/vnd.jupyter.widget-view+json" not in dash_out
    assert dash_out["text/html"].startswith('<div class="subnet-kit-dashboard">'), "the widget's own fallback stays"
    assert "<progress" in tqdm_out["text/html"] and 'value="16.0"' in tqdm_out["text/html"], tqdm_out
    assert "widgets" not in static.metadata
    assert "widgets" in nb.metadata and "text/html" in nb.cells[1].outputs[0].data, "the input is left as it was"
    assert lesson_title(static, "x") == "99 · A made-up lesson"

    page = export_html(static)
    assert external_references(page) == [], external_references(page)
    assert page.count('data-mime-type="image/svg+xml"') == 3
    assert "<progress" in page
    assert page.count('<details class="subnet-kit-hidden-cell">') == 1, "a collapsed solution stays folded"


def test_external_references_are_found():
    from subnet_kit_widgets.site import external_references

    assert external_references('<script src="https://cdn.example.org/x.js"></script>')
    assert external_references("<link rel=stylesheet href='//fonts.example.org/a.css'>")
    assert external_references('<img src="http://example.org/a.png">')
    assert external_references("<style>@import url('https://example.org/a.css');</style>")
    assert not external_references('<a href="https://arxiv.org/abs/1908.09355">a paper</a>'), "a link is not a fetch"
    assert not external_references('<img src="data:image/png;base64,AAAA"> <svg xmlns="http://www.w3.org/2000/svg">')


def test_cli_exports_executed_notebooks(tmp_path):
    import nbformat

    from subnet_kit_widgets.site import external_references, main

    with pytest.raises(FileNotFoundError, match="no such notebook"):
        main(["--out", str(tmp_path / "site"), str(tmp_path / "nope.ipynb")])
    executed = tmp_path / "99_made_up.ipynb"
    nbformat.write(_executed_notebook(), str(executed))
    assert main(["--out", str(tmp_path / "site"), "--no-execute", str(executed)]) == 0
    page = (tmp_path / "site" / "99_made_up.html").read_text()
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'href="99_made_up.html"' in index and "A made-up lesson" in index
    assert 'href="index.html"' in page, "each page links back to the index"
    assert not external_references(page) and not external_references(index)


# ----------------------------------------------------------------------------------------------------------------
# two real lessons, executed, opened offline in Chromium
# ----------------------------------------------------------------------------------------------------------------
CHARTS_JS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output svg, .jp-OutputArea-output img'))
  .filter(e => !e.parentElement.closest('svg'))
  .map(e => { const r = e.getBoundingClientRect();
              return {tag: e.tagName.toLowerCase(), w: r.width, h: r.height,
                      decoded: e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0)}; })"""


def test_site_renders_offline_in_chromium(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_or_skip("the playwright Python package is not installed (pip install -e '.[dev]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing_or_skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SUBNET_KIT_CHROMIUM)")
    notebooks = [ROOT / "notebooks" / f"{stem}.ipynb" for stem in LESSONS]
    from subnet_kit_widgets.site import build_site

    site = tmp_path / "site"
    records = build_site(site, notebooks, params_dir=PARAMS, log=lambda *a: None)
    index = (site / "index.html").read_text()
    for r in records:
        assert f'href="{r.page}"' in index and r.title.split("·")[-1].strip()[:20] in index, r

    blocked: list[str] = []
    seen: list[str] = []

    def route(r):
        url = r.request.url
        seen.append(url)
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    found = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.route("**/*", route)
            page = context.new_page()
            page.on("request", lambda req: None if req.url.startswith(("file:", "data:")) else blocked.append(req.url))
            for name in ["index.html"] + [r.page for r in records]:
                page.goto((site / name).as_uri(), wait_until="load")
                page.wait_for_timeout(300)
                found[name] = page.evaluate(CHARTS_JS)
                if name != "index.html":
                    page.screenshot(path=str(tmp_path / f"{Path(name).stem}.png"), full_page=True)
            links = page.evaluate("() => Array.from(document.querySelectorAll('nav a'))"
                                  ".map(a => a.getAttribute('href'))")
        finally:
            browser.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for shot in tmp_path.glob("*.png"):
        shutil.copy(shot, ARTIFACTS / shot.name)
    (ARTIFACTS / "charts.json").write_text(json.dumps(found, indent=1))

    assert not blocked, f"requests left the machine: {sorted(set(blocked))[:10]}"
    assert any(u.startswith("file:") for u in seen), "the route saw no request at all: the check checked nothing"
    for r in records:
        charts = found[r.page]
        visible = [c for c in charts if c["w"] > 0 and c["h"] > 0 and c["decoded"]]
        assert visible, f"{r.page}: no visible chart in the outputs ({charts})"
        broken = [c for c in charts if c["tag"] == "img" and not c["decoded"]]
        assert not broken, f"{r.page}: images that did not load: {broken}"
    assert "index.html" in links and records[0].page in links, f"the last page's navigation bar: {links}"
    # last, because a lesson being broken is tests/test_notebooks.py's news too: the pages above render regardless
    assert [r.error for r in records] == [None] * len(LESSONS), \
        f"a lesson failed to execute: {[(r.stem, r.error) for r in records if r.error]}"
    for stem in LESSONS:
        assert (site / "runs" / stem / "summary.json").is_file(), f"{stem} ran with its out_dir under the site"

"""The tuning notebook in a real JupyterLab, run by a headless Chromium: the panel's
widgets and its plotly figure render, and its stats line shows the setting's cost.
A screenshot is left in out/ for people to look at."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from browser import distinct_colours
from lab_driver import chromium_page, jupyter_lab, wait_until
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_tune_by_hand.ipynb"
SCREENSHOT = ROOT / "out" / "jupyterlab-tuning.png"

NOTEBOOK_PANEL = "[...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext)"
KERNEL_IDLE = """(() => {
  const panel = NOTEBOOK_PANEL;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
})()""".replace("NOTEBOOK_PANEL", NOTEBOOK_PANEL)
RUN_ALL = """(() => {
  const app = window.jupyterapp;
  app.shell.activateById(NOTEBOOK_PANEL.id);
  return app.commands.execute('notebook:run-all-cells').then(() => true);
})()""".replace("NOTEBOOK_PANEL", NOTEBOOK_PANEL)
ALL_RAN = """(() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
})()"""
PANEL = """(() => {
  const q = s => document.querySelectorAll(s).length;
  const html = [...document.querySelectorAll('.widget-html')].map(e => e.textContent);
  return {dropdowns: q('.widget-dropdown select'), sliders: q('.widget-slider'),
          buttons: q('.jupyter-widgets button'), plots: q('.jupyter-widgets .js-plotly-plot'),
          traces: q('.jupyter-widgets .js-plotly-plot .scatterlayer .trace')
                  + q('.jupyter-widgets .js-plotly-plot .gl-container canvas'),
          stats: html.find(t => t.includes('false pages/week')) || '',
          errors: [...document.querySelectorAll('.jp-OutputArea-output')]
                  .map(e => e.textContent).filter(t => t.includes('Traceback')).length};
})()"""
PICK_STATIC = """(() => {
  const select = [...document.querySelectorAll('.widget-dropdown select')]
    .find(s => [...s.options].some(o => o.textContent === 'static'));
  select.value = [...select.options].find(o => o.textContent === 'static').value;
  select.dispatchEvent(new Event('change', {bubbles: true}));
  return true;
})()"""
STATS = """[...document.querySelectorAll('.widget-html')].map(e => e.textContent)
  .find(t => t.includes('false pages/week')) || ''"""
SHOW_PANEL = """(() => {
  const plot = document.querySelector('.jupyter-widgets .js-plotly-plot');
  plot.closest('.jp-Cell').scrollIntoView({block: 'start'});
  return true;
})()"""


def test_tuning_panel_renders_in_jupyterlab(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    with jupyter_lab(tmp_path) as (url, token), chromium_page() as page:
        page.call("Page.enable")
        page.call("Page.navigate", url=f"{url}/lab/tree/{NOTEBOOK.name}?token={token}")
        wait_until(lambda: page.evaluate("!!window.jupyterapp && !!document.querySelector("
                                         "'.jp-NotebookPanel .jp-CodeCell')"),
                   120, "JupyterLab to open the notebook")
        wait_until(lambda: page.evaluate(KERNEL_IDLE), 120, "the kernel to start")
        page.evaluate(RUN_ALL, timeout=300)
        wait_until(lambda: page.evaluate(ALL_RAN), 300, "every cell to run", every=2)
        shown = wait_until(lambda: _rendered(page.evaluate(PANEL)), 60,
                           "the panel and its figure to render")
        # A choice made in the page reaches the kernel and comes back as a new stats line.
        page.evaluate(PICK_STATIC)
        picked = wait_until(lambda: _starting(page.evaluate(STATS), "static"), 60,
                            "the panel to follow a choice made in the page")
        page.evaluate(SHOW_PANEL)
        wait_until(lambda: True, 1, "")  # let the scroll settle
        page.screenshot(SCREENSHOT)
    assert shown["errors"] == 0
    assert shown["dropdowns"] >= 3 and shown["sliders"] >= 2 and shown["buttons"] >= 1
    assert shown["plots"] >= 1 and shown["traces"] >= 4
    assert "recall" in shown["stats"] and "time to detect" in shown["stats"]
    assert shown["stats"].startswith("adaptive_band") and picked.startswith("static >")
    pixels = np.asarray(Image.open(SCREENSHOT).convert("RGB"))
    assert distinct_colours(pixels) > 200  # a drawn chart, not a blank page


def _rendered(panel: dict) -> dict | None:
    return panel if panel["plots"] and panel["traces"] and panel["stats"] else None


def _starting(text: str, prefix: str) -> str | None:
    return text if text.startswith(prefix) else None

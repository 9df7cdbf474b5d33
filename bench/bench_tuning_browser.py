"""Time per change of the tuning panel as a person sees it: in a real JupyterLab, from a
choice made in the page to the new stats line on screen (browser → kernel → redraw →
browser), 14 days × 3 instances of the simulated fleet at 1 m.

The page flips the panel's strategy between two banded strategies (bands fitted once,
before timing) and waits for the stats line to change, and flips the series whose band is
drawn and waits for the chart to change; times are measured in the page
(``performance.now()``). Medians of `--changes` changes. Uses the
test suite's JupyterLab and Chromium drivers. Run:
``.venv/bin/python bench/bench_tuning_browser.py``. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from lab_driver import chromium_page, jupyter_lab, wait_until  # noqa: E402

SETUP = """from imanalytics import widgets
from imanalytics.sandbox.workload import simulate
from imanalytics.widgets import tune

widgets.DRAW_POINTS = POINTS

panel = tune(simulate(instances=3, days=14, seed=0), "14d", sli="processing_latency_p99",
             strategy="adaptive_band")
panel.strategy.value = "seasonal"
panel.strategy.value = "adaptive_band"  # both strategies fitted before timing
panel"""

PANEL_READY = """document.querySelectorAll('.jupyter-widgets .js-plotly-plot .scatterlayer .trace')
  .length > 0 && [...document.querySelectorAll('.widget-html')]
  .some(e => e.textContent.includes('false pages/week'))"""

STATS = """[...document.querySelectorAll('.widget-html')]
  .find(e => e.textContent.includes('false pages/week'))"""
CHART = "document.querySelector('.jupyter-widgets .js-plotly-plot .scatterlayer')"
# Pick VALUE in the <select> that offers it; resolve with the ms until TARGET changes.
CHANGE = """new Promise(resolve => {
  const target = TARGET;
  const select = [...document.querySelectorAll('.widget-dropdown select')]
    .find(s => [...s.options].some(o => o.textContent === VALUE));
  const began = performance.now();
  const observer = new MutationObserver(() => { observer.disconnect();
    requestAnimationFrame(() => resolve(performance.now() - began)); });
  observer.observe(target, {subtree: true, childList: true, characterData: true,
                            attributes: true});
  select.value = [...select.options].find(o => o.textContent === VALUE).value;
  select.dispatchEvent(new Event('change', {bubbles: true}));
})"""


def _notebook(folder: Path, points: int) -> str:
    setup = SETUP.replace("POINTS", str(points))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "bench.ipynb")
    return "bench.ipynb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--points", default="3000,1200",
                        help="points per drawn line to compare (default: %(default)s)")
    args = parser.parse_args()
    rows = []
    for points in map(int, args.points.split(",")):
        for what, values in _measure(points, args.changes).items():
            rows.append((points, what, values))
    print(f"14 days × 3 instances, p99 processing latency; {args.changes} changes each; "
          "machine loaded by other jobs")
    print("| points per line | change made in the page | median (ms) | slowest (ms) |")
    print("| ---: | --- | ---: | ---: |")
    for points, what, values in rows:
        print(f"| {points} | {what} | {statistics.median(values):.0f} | {max(values):.0f} |")


def _measure(points: int, changes: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        name = _notebook(Path(folder), points)
        with jupyter_lab(Path(folder)) as (url, token), chromium_page() as page:
            page.call("Page.navigate", url=f"{url}/lab/tree/{name}?token={token}")
            panel = "[...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext)"
            wait_until(lambda: page.evaluate(f"!!window.jupyterapp && !!({panel})"), 120,
                       "the notebook")
            wait_until(lambda: page.evaluate(
                f"(() => {{ const p = {panel}; const k = p.sessionContext.session && "
                "p.sessionContext.session.kernel; return !!k && k.status === 'idle'; })()"),
                120, "the kernel")
            page.evaluate(f"(() => {{ window.jupyterapp.shell.activateById({panel}.id); "
                          "return window.jupyterapp.commands.execute("
                          "'notebook:run-all-cells').then(() => true); })()")
            wait_until(lambda: page.evaluate(PANEL_READY), 300, "the panel", every=1)
            flips = {"strategy → stats line": (STATS, ("seasonal", "adaptive_band")),
                     "series → its band on the chart": (CHART, ("instance=im-1:9100",
                                                                "instance=im-0:9100"))}
            times = {what: [] for what in flips}
            for i in range(changes):
                for what, (target, values) in flips.items():
                    script = CHANGE.replace("TARGET", target).replace(
                        "VALUE", repr(values[i % 2]))
                    times[what].append(page.evaluate(script, timeout=60))
    return times


if __name__ == "__main__":
    main()

"""Figures and offline HTML pages, looked at in headless Chromium."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from browser import distinct_colours, rendered_dom, screenshot

from imanalytics.plots import html_page, series_figure, tradeoff_figure


def _page(tmp_path):
    index = pd.date_range("2026-03-01", periods=600, freq="1min", tz="UTC", name="timestamp")
    wave = 1 + 0.3 * np.sin(np.arange(600) / 60)
    frame = pd.DataFrame({'x{instance="a"}': wave, 'x{instance="b"}': wave * 1.1}, index=index)
    bands = pd.DataFrame({"lower": wave - 0.2, "upper": wave + 0.2}, index=index)
    windows = pd.DataFrame({"start": [index[100]], "end": [index[160]]})
    candidates = pd.DataFrame({"strategy": ["static", "seasonal"], "pages_per_week": [3.0, 1.0],
                               "recall": [0.5, 0.9], "candidate": ["a", "b"]})
    page = tmp_path / "page.html"
    page.write_text(html_page("SLI review", [
        series_figure(frame, "latency", "s", bands, windows, windows, threshold=1.2),
        "<p>between the figures</p>",
        tradeoff_figure(candidates, "pages vs recall")]))
    return page


def test_page_embeds_plotly_and_needs_no_network(tmp_path):
    text = _page(tmp_path).read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?:', text)
    assert text.count("plotly.js v") <= 2  # the library is embedded once


def test_chromium_draws_the_plots_offline(tmp_path):
    page = _page(tmp_path)
    dom = rendered_dom(page)
    assert dom.count('class="main-svg"') >= 2  # plotly drew both figures
    pixels = screenshot(page, tmp_path / "page.png")
    assert pixels.shape[0] > 500 and distinct_colours(pixels) > 50


def test_one_band_per_series_is_chosen_from_a_menu(tmp_path):
    index = pd.date_range("2026-03-01", periods=300, freq="1min", tz="UTC")
    frame = pd.DataFrame({'x{instance="a"}': np.ones(300), 'x{instance="b"}': 2 * np.ones(300)},
                         index=index)
    bands = {c: pd.DataFrame({"lower": frame[c] - 0.1, "upper": frame[c] + 0.1})
             for c in frame.columns}
    fig = series_figure(frame, "connections", bands=bands)
    visible = [trace.visible for trace in fig.data[:4]]
    assert visible == [True, True, False, False]  # the first series' band only
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["band: instance=a", "band: instance=b"]
    assert list(buttons[1].args[0]["visible"]) == [False, False, True, True]
    page = tmp_path / "bands.html"
    page.write_text(html_page("bands", [fig]))
    assert "updatemenu-container" in rendered_dom(page)  # Chromium drew the menu

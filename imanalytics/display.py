"""How the package's objects show themselves in a notebook: a title, a few facts and a
compact table — never thousands of rows. Each class's ``_repr_html_`` calls one function
here, so the look stays the same everywhere and the classes stay small."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

MAX_ROWS = 12
_STYLE = ("font-size:12px;border-collapse:collapse;margin:4px 0",
          "border:1px solid #ddd;padding:2px 6px;text-align:left;white-space:normal")


def card(title: str, facts: Iterable[tuple[str, object]] = (), *parts: str) -> str:
    """A small block: a bold title, `facts` as "name: value" lines, then HTML `parts`."""
    lines = "".join(f"<div><span style='color:#666'>{_e(name)}:</span> {_e(value)}</div>"
                    for name, value in facts)
    return (f"<div class='imanalytics'><div style='font-weight:600'>{_e(title)}</div>"
            f"{lines}{''.join(parts)}</div>")


def table(frame: pd.DataFrame, columns: Sequence[str] | None = None,
          max_rows: int = MAX_ROWS) -> str:
    """The first `max_rows` rows as an HTML table, with a line saying how many were left."""
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if frame.empty:
        return "<div><i>(none)</i></div>"
    shown = frame.head(max_rows)
    head = "".join(f"<th style='{_STYLE[1]};background:#f4f4f4'>{_e(c)}</th>"
                   for c in shown.columns)
    rows = "".join("<tr>" + "".join(f"<td style='{_STYLE[1]}'>{_e(cell(v))}</td>" for v in row)
                   + "</tr>" for row in shown.itertuples(index=False))
    more = len(frame) - len(shown)
    note = f"<div style='color:#666'>… {more} more rows</div>" if more > 0 else ""
    return f"<table style='{_STYLE[0]}'><tr>{head}</tr>{rows}</table>{note}"


def cell(value) -> str:
    """One value as people read it: 3 significant digits, durations in words, '–' for none."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "–"
    if isinstance(value, pd.Timedelta):
        return duration(value.total_seconds() / 60)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.3g}"
    return str(value)


def duration(minutes: float) -> str:
    """Minutes as people say them: '45 s', '5 min 44 s', '1 h 05 min', '–' when none."""
    if minutes is None or minutes != minutes:
        return "–"
    seconds = int(round(minutes * 60))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _e(value) -> str:
    return html.escape(str(value))


# --- the package's objects ---------------------------------------------------------------


def review_html(review) -> str:
    recs = review.recommendations.rename(columns={"pages_per_week": "pages/week"})
    if "mean_ttd_min" in recs:
        recs["time to detect"] = recs["mean_ttd_min"].map(duration)
    facts = [("history", f"{review.start:%Y-%m-%d %H:%M} to {review.end:%Y-%m-%d %H:%M} UTC"),
             ("labelled incidents", len(review.incidents)),
             ("page budget", f"{review.page_budget:g} pages/week per SLI"),
             ("candidates", f"{len(review.candidates)} in {review.seconds:.1f} s")]
    return card("Threshold tuning review", facts, table(
        recs, ["sli", "candidate", "pages/week", "precision", "recall", "f1",
               "time to detect", "why"], max_rows=50))


def baseline_html(estimator) -> str:
    params = estimator.get_params(deep=False)
    learned = {k: v for k, v in vars(estimator).items()
               if k.endswith("_") and not k.startswith("_")}
    state = "fitted" if learned else "not fitted"
    rows = pd.DataFrame({"parameter": list(params), "value": [repr(v) for v in params.values()]})
    parts = [table(rows, max_rows=30)]
    if learned:
        parts.append(table(pd.DataFrame({"learned": list(learned),
                                         "value": [_summary(v) for v in learned.values()]}),
                           max_rows=30))
    return card(f"{type(estimator).__name__} ({state})", (), *parts)


def _summary(value) -> str:
    """A learned attribute in a few characters: its value, or its type and shape."""
    if isinstance(value, pd.DataFrame | pd.Series | np.ndarray):
        return f"{type(value).__name__} {'×'.join(map(str, value.shape))}"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def inventory_html(inv) -> str:
    metrics = inv.metrics
    found = int(metrics["present"].sum())
    by_layer = metrics.groupby("layer", sort=False).agg(
        names=("series", "size"), found=("present", "sum"), series=("count", "sum")
    ).reset_index()
    missing = metrics.loc[~metrics["present"], ["series", "candidates"]]
    flagged = inv.high_cardinality[["metric", "label", "values", "why"]]
    facts = [("catalog series found", f"{found} of {len(metrics)}"),
             ("high-cardinality labels", len(flagged))]
    parts = [table(by_layer)]
    if len(missing):
        parts += ["<div>missing (closest names on the server):</div>", table(missing)]
    if len(flagged):
        parts += ["<div>high-cardinality labels:</div>", table(flagged)]
    return card("Inventory", facts, *parts)


def source_html(source) -> str:
    facts = [("url", source.url)]
    if getattr(source, "_version", None):  # never a request just to show itself
        facts.append(("Prometheus", source._version))
    shown = getattr(source, "_shown", {})  # which credentials were given, never their values
    auth = [name for name in ("basic_auth", "bearer_token") if shown.get(name)]
    auth += [f"header {h}" for h in shown.get("headers", ())]
    facts.append(("credentials", ", ".join(auth) + " (hidden)" if auth else "none"))
    facts.append(("cache", repr(source.cache) if source.cache is not None else "none"))
    facts.append(("limits", f"{source.max_workers} workers, {source.max_points} points per "
                            f"request, {source.max_series} series"))
    if source.offline:
        facts.append(("offline", "cache only"))
    return card("PromSource", facts)


def catalog_html(catalog) -> str:
    rows = pd.DataFrame([{"key": s.key, "name": s.name, "type": s.type, "unit": s.unit,
                          "layer": s.layer, "labels": ", ".join(s.mapped_labels())}
                         for s in catalog])
    facts = [("source", catalog.source), ("metrics", len(catalog))]
    if catalog.selectors:
        facts.append(("selectors", ", ".join(catalog.selectors)))
    if catalog.label_map:
        facts.append(("labels", ", ".join(f"{k} → {v}" for k, v in catalog.label_map.items())))
    return card("Catalog", facts, table(rows, max_rows=40))

"""The demo job (`make demo`) and the interactive sandbox command."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from prometheus_api_client import PrometheusConnect

from .catalog import Catalog, load_catalog
from .sandbox import PrometheusSandbox
from .sandbox.incidents import write_incidents
from .sandbox.workload import Workload, simulate


def run_demo(instances: int = 3, days: int = 7, seed: int = 0, out: str | Path = "out/demo",
             catalog: str | Path | None = None) -> pd.DataFrame:
    """Simulate, serve, pull the catalog metrics back, print and return the summary."""
    cat = load_catalog(catalog)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wl = _simulate(instances, days, seed)
    incidents_file = out / "incidents.yaml"
    write_incidents(wl.incidents, incidents_file)
    with _serving(wl) as prom:
        _say(f"engine: {_engine(prom.url)}")
        summary = pull_summary(prom.url, cat, wl)
        summary.to_csv(out / "summary.csv", index=False)
        _print_summary(wl, summary, prom_samples=prom.samples)
        mismatched = summary[summary["samples_server"] != summary["samples_simulated"]]
        if len(mismatched):
            raise RuntimeError(f"server disagrees with the simulator on {list(mismatched.metric)}")
        rules_step(prom.url, wl, cat, out / "rules")
        review_step(prom.url, wl, cat, out / "review")
    _say(f"files: {incidents_file} (incident ground truth), {out / 'summary.csv'}, "
         f"{out / 'rules'}/, {out / 'review'}/")
    return summary


def review_step(url: str, wl: Workload, cat: Catalog, out: Path) -> None:
    """A threshold tuning review of the sandbox's history against its incidents."""
    from .review import review_thresholds
    from .review.cli import report

    _say("threshold tuning review (SLIs pulled from the sandbox, evaluated locally) ...")
    days = (wl.end - wl.start).days
    review = review_thresholds(url, f"{days}d", wl.end, incidents=wl.incidents, catalog=cat)
    print()
    report(review, out)


def rules_step(url: str, wl: Workload, cat: Catalog, out: Path) -> pd.DataFrame:
    """Write and promtool-check the recording rules; compare the SLI rules local vs server."""
    from .rules import artifacts as generate
    from .rules import check_rules, run_rule_tests

    artifacts = generate.recording_artifacts(out, cat)
    generate.write(artifacts)
    check_rules(artifacts[0].path)
    run_rule_tests(artifacts[1].path)
    _say(f"recording rules: {artifacts[0].path} passed promtool check and test")
    table = compare_slis(url, wl, cat)
    print()
    print(table.to_string(index=False))
    return table


def compare_slis(url: str, wl: Workload, cat: Catalog) -> pd.DataFrame:
    """Each SLI over the last day at 5 m, by the server and by the local evaluator.

    The local evaluator follows Prometheus' semantics; the ``semantics`` column says when the
    server follows another engine's (VictoriaMetrics'), and ``max_rel_diff`` then measures
    how far its rate/increase/delta are from Prometheus'.
    """
    import numpy as np
    import requests

    from .frames import parse_series
    from .promql import evaluate
    from .samples import label_key
    from .slis import slis

    server = _engine(url)
    semantics = ("Prometheus" if server.semantics == "Prometheus"
                 else f"local Prometheus vs server {server.semantics}")
    end = wl.end.floor("5min")
    start = end - pd.Timedelta("1D")
    rows = []
    for sli in slis(cat):
        began = time.perf_counter()
        local = evaluate(sli.expr, wl.series, start, end, "5m")
        local_s = time.perf_counter() - began
        began = time.perf_counter()
        reply = requests.get(f"{url}/api/v1/query_range", timeout=60, params={
            "query": sli.expr, "start": start.timestamp(), "end": end.timestamp(),
            "step": 300}).json()["data"]["result"]
        server_s = time.perf_counter() - began
        columns = {label_key(parse_series(c)): local[c].to_numpy() for c in local.columns}
        worst = 0.0
        for item in reply:
            mine = columns[label_key(item["metric"])]
            theirs = np.full(len(local), np.nan)
            for ts, v in item["values"]:
                theirs[local.index.get_loc(pd.Timestamp(float(ts), unit="s", tz="UTC"))] = float(v)
            both = ~np.isnan(theirs)
            rel = np.abs(mine[both] - theirs[both]) / np.maximum(np.abs(theirs[both]), 1e-300)
            worst = max(worst, float(np.nanmax(rel, initial=0.0)))
        rows.append({"sli": sli.key, "series": len(reply), "points": len(local),
                     "max_rel_diff": worst, "semantics": semantics, "local_s": round(local_s, 3),
                     "server_s": round(server_s, 3)})
    return pd.DataFrame(rows)


def _engine(url: str):
    from .source import PromSource

    with PromSource(url) as source:
        return source.engine


def serve_sandbox(instances: int = 3, days: int = 14, seed: int = 0,
                  incidents: str | Path | None = None, port: int | None = None) -> None:
    """Serve a simulated workload until Ctrl-C (the CLI's `sandbox` command)."""
    wl = _simulate(instances, days, seed)
    if incidents:
        write_incidents(wl.incidents, incidents)
        _say(f"incidents written to {incidents}")
    with _serving(wl, port) as prom:
        print(f"Prometheus sandbox at {prom.url}", flush=True)
        print(f"data from {wl.start.isoformat()} to {wl.end.isoformat()}; Ctrl-C stops it",
              flush=True)
        while prom.process is not None and prom.process.poll() is None:
            time.sleep(0.5)


def pull_summary(url: str, cat: Catalog, wl: Workload) -> pd.DataFrame:
    """Series and sample counts per catalog metric, from the server and from the simulator."""
    prom = PrometheusConnect(url=url, disable_ssl=True)
    window = int((wl.end - wl.start).total_seconds()) + 3600
    at = wl.end + pd.Timedelta(milliseconds=1)
    simulated = Counter()
    for s in wl.series:
        simulated[s.name] += len(s)
    rows = []
    for spec in cat:
        for name in spec.series_names():
            rows.append({
                "layer": spec.layer, "metric": name,
                "series": _scalar(prom, f"count(count_over_time({name}[{window}s]))", at),
                "samples_server": _scalar(prom, f"sum(count_over_time({name}[{window}s]))", at),
                "samples_simulated": simulated.get(name, 0),
            })
    return pd.DataFrame(rows)


def _scalar(prom: PrometheusConnect, expr: str, at: pd.Timestamp) -> int:
    result = prom.custom_query(f"({expr}) or vector(0)", params={"time": at.timestamp()})
    return int(float(result[0]["value"][1]))


def _simulate(instances: int, days: int, seed: int) -> Workload:
    began = time.monotonic()
    _say(f"simulating {instances} IM instances x {days} days at a 15 s scrape (seed {seed}) ...")
    wl = simulate(instances=instances, days=days, seed=seed)
    _say(f"  {len(wl.series)} series, {wl.n_samples:,} samples, {len(wl.incidents)} incidents "
         f"in {time.monotonic() - began:.1f}s")
    return wl


class _serving:
    """Start the sandbox with progress messages; stop it on exit."""

    def __init__(self, wl: Workload, port: int | None = None):
        self.sandbox = PrometheusSandbox(wl.series, port=port)

    def __enter__(self) -> PrometheusSandbox:
        began = time.monotonic()
        _say("backfilling with promtool and starting Prometheus ...")
        self.sandbox.start()
        _say(f"  Prometheus at {self.sandbox.url} in {time.monotonic() - began:.1f}s")
        return self.sandbox

    def __exit__(self, *exc) -> None:
        self.sandbox.stop()


def _print_summary(wl: Workload, summary: pd.DataFrame, prom_samples: int) -> None:
    table = summary.copy()
    same = table.samples_server == table.samples_simulated
    table["match"] = same.map({True: "yes", False: "NO"})
    print()
    print(table.to_string(index=False))
    print()
    print(f"window      {wl.start.isoformat()} .. {wl.end.isoformat()}")
    pulled = int(summary.samples_server.sum())
    print(f"backfilled  {prom_samples:,} samples; pulled back {pulled:,}")
    kinds = sorted(Counter(i.kind for i in wl.incidents).items())
    print("incidents   " + ", ".join(f"{k} x{n}" for k, n in kinds))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

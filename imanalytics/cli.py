"""Command line: ``python -m imanalytics <command>``. Thin wrappers over the package API."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import ImanalyticsError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ImanalyticsError, ValueError, OSError) as exc:
        print(f"imanalytics {args.command}: error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m imanalytics",
        description="Analyse instant-messaging services through their Prometheus data.",
    )
    parser.add_argument("--version", action="version", version=f"imanalytics {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_sandbox(commands)
    _add_rules(commands)
    _add_review(commands)
    _add_serve_baselines(commands)
    _add_build_dashboards(commands)
    _add_inventory(commands)
    _add_catalog(commands)
    return parser


def _add_demo(commands) -> None:
    p = _command(
        commands, "demo", _run_demo,
        help="simulate an IM fleet, serve it from a real Prometheus and pull it back",
        description="Simulate an IM fleet with labelled incidents, backfill it into a throwaway "
        "Prometheus on loopback, pull the catalog metrics back and print a summary.",
    )
    _workload_args(p, instances=3, days=7)
    p.add_argument("--out", default="out/demo",
                   help="where files are written (default: %(default)s)")
    _catalog_arg(p)


def _add_sandbox(commands) -> None:
    p = _command(
        commands, "sandbox", _run_sandbox,
        help="serve a simulated IM workload from a real Prometheus until Ctrl-C",
        description="Backfill a simulated IM workload into a throwaway Prometheus on loopback, "
        "print its URL and serve until Ctrl-C; the temporary TSDB is removed on exit.",
    )
    _workload_args(p, instances=3, days=14)
    p.add_argument("--incidents", help="also write the incident ground truth here (.yaml or .csv)")
    p.add_argument("--port", type=_port,
                   help="serve on this port of 127.0.0.1 (default: a free port)")


def _add_rules(commands) -> None:
    p = _command(
        commands, "rules", _run_rules,
        help="write the IM recording rules and their promtool unit tests",
        description="Generate Prometheus recording rules (level:metric:operations) from the "
        "catalog, with promtool unit tests for every rule, and check both with promtool. "
        "Output is deterministic: a rerun is byte-identical.",
    )
    _generated_args(p, "rules")
    _check_arg(p)


def _run_rules(args) -> int:
    from .catalog import load_catalog
    from .rules import artifacts as generate
    from .rules import check_rules, run_rule_tests

    artifacts = generate.recording_artifacts(_out(args, "rules"), load_catalog(args.catalog))
    if _check_or_write(args, artifacts, ", ".join(str(a.path) for a in artifacts)):
        return 0
    rule_file, test_file = (a.path for a in artifacts)
    check_rules(rule_file)
    run_rule_tests(test_file)
    print("promtool check rules and promtool test rules: passed")
    return 0


def _check_or_write(args, artifacts, described: str) -> bool:
    """With --check, fail on a stale artifact and return True; else write them, saying
    which changed, and return False."""
    from .rules import artifacts as generate

    if args.check:
        generate.check(artifacts, f"python -m imanalytics {args.command}")
        print(f"up to date: {described}")
        return True
    changed = generate.write(artifacts)
    for a in artifacts:
        print(f"{'wrote' if a.path in changed else 'unchanged'} {a.path}")
    return False


def _add_build_dashboards(commands) -> None:
    p = _command(
        commands, "build-dashboards", _run_build_dashboards,
        help="write the IM Grafana dashboards as JSON",
        description="Build the Grafana dashboards (overview, messaging, connections, queue, "
        "API, Go runtime, baselines) from the catalog, the SLIs and the rule files, lint "
        "them, and write deterministic JSON in the shape Grafana 12 saves, with Grafana "
        "file-provisioning YAML under provisioning/: a rerun is byte-identical.",
    )
    _generated_args(p, "dashboards")
    p.add_argument("--rules", default="rules",
                   help="directory of rule files with tuned alert thresholds and baseline "
                   "bands; it must exist (default: %(default)s)")
    p.add_argument("--uid-prefix",
                   help="put in front of every uid (default: from the catalog's name), so "
                   "builds for several services or environments import side by side")
    p.add_argument("--title-suffix",
                   help="append to every title (default: ' · <catalog name>' if named)")
    _check_arg(p)


def _run_build_dashboards(args) -> int:
    from .catalog import load_catalog
    from .dashboards.artifacts import dashboard_artifacts

    out = _out(args, "dashboards")
    artifacts = dashboard_artifacts(
        out, load_catalog(args.catalog), args.rules, uid_prefix=args.uid_prefix,
        title_suffix=args.title_suffix)
    _check_or_write(args, artifacts, f"{len(artifacts)} dashboard and provisioning files in {out}")
    return 0


def _add_catalog(commands) -> None:
    p = _command(
        commands, "catalog", _run_catalog,
        help="show the metric catalog, or dump it as a mapping file to edit",
        description="Print the metric catalog: the default one, or the effective one with a "
        "mapping file applied. --dump writes it as YAML in the mapping-file format, to edit "
        "and load back with --catalog.",
    )
    p.add_argument("--mapping", "--catalog", dest="catalog", metavar="FILE",
                   help="YAML file mapping the catalog to your service's names")
    p.add_argument("--dump", action="store_true",
                   help="print YAML a mapping file can start from, not the table")


def _run_catalog(args) -> int:
    from .catalog import load_catalog

    catalog = load_catalog(args.catalog)
    if args.dump:
        print(f"# imanalytics catalog from {catalog.source}, in mapping-file form: edit it and\n"
              "# load it back with --catalog FILE or load_catalog(FILE)")
        print(catalog.to_yaml(), end="")
    else:
        print(catalog)
    return 0


def _add_inventory(commands) -> None:
    p = _command(
        commands, "inventory", _run_inventory,
        help="which catalog metrics a Prometheus has, with series and label-value counts",
        description="List the catalog's metrics on a Prometheus server under their (mapped) "
        "names, with series counts and distinct values per label; flags high-cardinality "
        "labels. Credentials: $IMANALYTICS_BEARER_TOKEN or user:password@ in the URL.",
    )
    _url_arg(p)
    _catalog_arg(p)
    p.add_argument("--start", default="now-1h", help="look for series from (default: %(default)s)")
    p.add_argument("--end", default="now", help="look for series until (default: %(default)s)")
    p.add_argument("--max-label-values", type=_positive, default=100,
                   help="flag labels with more values than this (default: %(default)s)")


def _add_review(commands) -> None:
    p = _command(
        commands, "review-thresholds", _run_review,
        help="backtest candidate alerts per IM SLI and ship the winners as rules",
        description="For each IM SLI, backtest the static thresholds teams start with and "
        "each baseline strategy over a grid of sensitivities and for: durations; measure "
        "alerts, false pages per week, precision, recall, F1 and time to detect against the "
        "incidents; recommend the best F1 within the false-page budget (or keep the current "
        "rule); compare with the rules running today; write an HTML report, Markdown and "
        "CSV summaries, alert rules with promtool tests and an Alertmanager config.",
    )
    p.add_argument("--since", default="28d",
                   help="history to review: a duration back from --until, or a time "
                   "(default: %(default)s)")
    p.add_argument("--until", help="end of the history (default: now)")
    p.add_argument("--incidents", help="labelled incidents, YAML or CSV (start, end, kind, "
                   "labels); without it each SLI gets the quietest candidate that fires on "
                   "its worst excursion")
    _url_arg(p)
    _catalog_arg(p)
    p.add_argument("--out", default="out/review", help="output directory (default: %(default)s)")
    p.add_argument("--page-budget", type=_positive_number, default=2.0,
                   help="false pages (alerts matching no incident) per week one SLI may "
                   "send (default: %(default)s)")
    p.add_argument("--strategies", help="comma-separated baseline strategies "
                   "(default: all: week_over_week, adaptive_band, seasonal, auto)")
    p.add_argument("--slis", help="comma-separated SLI keys (default: all)")
    p.add_argument("--engine", choices=("local", "server"), default="local",
                   help="evaluate SLIs locally from raw samples, or on the server "
                   "(default: %(default)s)")
    p.add_argument("--current-rules", nargs="+", metavar="FILE",
                   help="Prometheus rule files running today (alert rules and the recording "
                   "rules they use); each alert on a reviewed SLI is backtested beside the "
                   "recommendation")
    p.add_argument("--server-rules", action="store_true",
                   help="also backtest the alert rules the server runs (/api/v1/rules)")
    p.add_argument("--pushgateway", help="push the run's own metrics to this Pushgateway")


def _run_review(args) -> int:
    from .review.cli import run_review_command

    return run_review_command(args)


def _add_serve_baselines(commands) -> None:
    p = _command(
        commands, "serve-baselines", _run_serve_baselines,
        help="serve fitted baseline bands to Prometheus as gauges",
        description="Load the fitted baselines of a directory (index.json plus one model file "
        "per SLI series, as review-thresholds writes to <out>/baselines) and serve their bands "
        "at each scrape as the gauges imanalytics_baseline_lower, _centre and _upper, with the "
        "SLI series' labels plus sli and strategy; multi-SLI isolation forests also get "
        "imanalytics_baseline_anomaly_threshold and, with --prometheus, "
        "imanalytics_baseline_anomaly_score. The directory is read at start and again "
        "on SIGHUP (a failed reload keeps the previous bands served); a missing directory, an "
        "empty one, a bad index or model file, or a model that predicts no band now is an "
        "error at start. Scrape it "
        "with honor_labels: true (<out>/exporter-scrape.yml). Stops on SIGTERM or Ctrl-C.",
    )
    p.add_argument("--baselines", required=True, metavar="DIR",
                   help="directory of fitted baselines with its index.json")
    p.add_argument("--port", type=_port, default=9468,
                   help="port to serve /metrics on (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s; 0.0.0.0 for all)")
    p.add_argument("--prometheus", metavar="URL",
                   help="Prometheus to read each SLI's recent day (its adapt window) from at "
                   "every scrape, so bands follow a lasting level shift as in the backtest "
                   "(credentials: $IMANALYTICS_BEARER_TOKEN or user:password@ in the URL); "
                   "without it, or while it does not answer, bands come from the fitted "
                   "state alone; multi-SLI forests' anomaly scores are served only with it")
    p.add_argument("--trusted", action="store_true",
                   help="also load QuantileGBM and MultiSLIIsolationForest models, whose "
                   "scikit-learn parts are pickles: unpickling runs code, so only for a "
                   "directory you wrote")


def _run_serve_baselines(args) -> int:
    from .exporter import serve

    serve(args.baselines, port=args.port, host=args.host, prometheus=args.prometheus,
          trusted=args.trusted)
    return 0


def _workload_args(p: argparse.ArgumentParser, instances: int, days: int) -> None:
    p.add_argument("--instances", type=_positive, default=instances,
                   help="IM server instances (default: %(default)s)")
    p.add_argument("--days", type=_positive, default=days,
                   help="days of history at a 15 s scrape (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")


def _command(commands, name: str, run, **texts) -> argparse.ArgumentParser:
    """Subcommand `name` running `run(args)`; `texts` are its help and description."""
    p = commands.add_parser(name, **texts)
    p.set_defaults(run=run)
    return p


def _catalog_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", help="YAML file mapping the catalog to your service's names")


def _url_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="Prometheus base URL (default: $PROMETHEUS_URL)")


def _generated_args(p: argparse.ArgumentParser, folder: str) -> None:
    """--out and --catalog of a command that generates the repository's committed `folder`."""
    p.add_argument("--out", help=f"output directory (default: {folder}{_OUT_NOTE})")
    _catalog_arg(p)


def _check_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit non-zero naming the files that are out of date")


def _run_demo(args) -> int:
    from .demo import run_demo

    run_demo(instances=args.instances, days=args.days, seed=args.seed, out=args.out,
             catalog=args.catalog)
    return 0


def _run_sandbox(args) -> int:
    from .demo import serve_sandbox

    serve_sandbox(instances=args.instances, days=args.days, seed=args.seed,
                  incidents=args.incidents, port=args.port)
    return 0


def _run_inventory(args) -> int:
    import os

    from .catalog import load_catalog
    from .inventory import inventory, window_hint
    from .source import PromSource

    url = args.url or os.environ.get("PROMETHEUS_URL")
    if not url:
        raise ImanalyticsError("no Prometheus URL: pass --url or set PROMETHEUS_URL")
    catalog = load_catalog(args.catalog)
    with PromSource(url) as source:
        found = inventory(source, catalog, start=args.start, end=args.end,
                          max_label_values=args.max_label_values)
        hint = None if found.metrics["present"].any() else window_hint(source, catalog,
                                                                        args.end)
    print(found)
    if hint:
        print(f"\nhint: {hint}")
    return 0


_OUT_NOTE = (" in the current directory; in this repository's own checkout, a --catalog "
             "run needs --out, so the committed files stay those of the built-in catalog")


def _out(args, folder: str) -> Path:
    """--out, or `folder` in the working directory. A mapped catalog never overwrites the
    repository's committed `folder` (generated from the built-in catalog, checked by CI)."""
    if args.out:
        return Path(args.out)
    if args.catalog and not args.check and _is_repository_folder(Path(folder)):
        raise ImanalyticsError(
            f"{folder}/ here holds the files generated from the built-in catalog; with "
            f"--catalog {args.catalog} pass --out (for example --out {folder}-mapped)")
    return Path(folder)


def _is_repository_folder(path: Path) -> bool:
    checkout = Path(__file__).resolve().parent.parent
    return path.resolve() == checkout / path.name and (checkout / "pyproject.toml").exists()


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text})")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a port number, 1 to 65535 (got {text})")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text})")
    return value


def _interrupt(signum, frame):
    raise KeyboardInterrupt

"""How long the catalog takes to get: the cached default against reading it afresh.

`default_catalog()` parses the packaged `default.yaml` once per process and then hands out
copies. The rows compare that copy with what each call would cost without the cache
(strict YAML parse plus validation of every field), with building the specs from plain
data (what a list of Python constructor calls costs), with applying a small mapping file,
and with `slis()` over the default catalog.

Run: ``.venv/bin/python bench/bench_catalog.py [--number 200]``. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.catalog import Catalog, MetricSpec, default_catalog, load_catalog  # noqa: E402
from imanalytics.catalog.loader import DEFAULT_FILE, _default, read_packaged  # noqa: E402
from imanalytics.slis import slis  # noqa: E402

MAPPING = """\
selectors: ['job="im-server"']
labels: {tenant: app_id, instance: pod}
metrics:
  messages_sent: {name: msg_publish_total, labels: {user_type: client_kind}}
  gc_pause: null
"""


def _constructors(data: dict) -> Catalog:
    return Catalog([MetricSpec(key=key, **entry) for key, entry in data["metrics"].items()])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200, help="calls per row (default: 200)")
    args = parser.parse_args(argv)
    data = read_packaged("imanalytics.catalog", DEFAULT_FILE)[0]
    with tempfile.TemporaryDirectory() as tmp:
        mapping = Path(tmp) / "map.yaml"
        mapping.write_text(MAPPING)
        rows = {
            "default_catalog() (cached, a copy)": default_catalog,
            "default.yaml parsed and validated (uncached)": _default.__wrapped__,
            "specs built from plain data (constructor calls)": lambda: _constructors(data),
            "load_catalog(small mapping file)": lambda: load_catalog(mapping),
            "slis() over the default catalog": slis,
        }
        print(f"| what | µs per call (best of 5 × {args.number}) |\n| --- | ---: |")
        for name, call in rows.items():
            best = min(timeit.repeat(call, number=args.number, repeat=5)) / args.number
            print(f"| {name} | {best * 1e6:,.0f} |")


if __name__ == "__main__":
    main()

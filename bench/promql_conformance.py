"""Prometheus' own PromQL test files through the local evaluator: outcomes per release tag.

Prints the table README shows: float cases passed, wrong, errors and refused (with the refused
constructs tallied) for the v2.42.0, v2.53.0 and v3.0.0 files; native-histogram cases are
counted apart and excluded. The files are read from ../shared/promql-testdata beside the
repository or from $IMANALYTICS_PROMQL_TESTDATA. Run:
``.venv/bin/python bench/promql_conformance.py [--list wrong,error,refused]``. Not a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import promqltest  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", default="", help="also list the cases of these outcomes "
                        "(comma-separated: wrong, error, refused, histogram)")
    args = parser.parse_args()
    root = promqltest.testdata_dir()
    missing = promqltest.missing_tags(root)
    if missing:
        print(f"error: Prometheus test files missing: {root}/{{{','.join(missing)}}}",
              file=sys.stderr)
        return 1
    outcomes = [o for tag in promqltest.TAGS for o in promqltest.run_tag(root, tag)]
    print(promqltest.table(outcomes))
    wanted = {k.strip() for k in args.list.split(",") if k.strip()}
    for o in outcomes:
        if o.kind in wanted:
            print(f"{o.tag} {o.file}:{o.line} {o.kind}: {o.expr} -- {o.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

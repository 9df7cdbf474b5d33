"""Type-check dashboard JSON against Grafana's own published types (npm ``@grafana/schema``).

`scripts/ensure-grafana-types` installs the package and TypeScript into a cache folder
once; `typecheck` writes each dashboard as ``const board = {...} satisfies Dashboard``
and runs ``tsc --noEmit --strict``. The schema's string enums (``"dashboards"``,
``"thresholds"``...) are accepted as their values, as Grafana reads them from JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENSURE = ROOT / "scripts" / "ensure-grafana-types"

# A string enum member's type becomes its value: `${E}` is the union of E's strings.
_HEADER = """import type { Dashboard } from "@grafana/schema";
type Loose<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T
  : T extends (infer U)[] ? Loose<U>[] : T extends object ? { [K in keyof T]: Loose<T[K]> } : T;
export const board = """
_TSCONFIG = {"compilerOptions": {
    "strict": True, "noEmit": True, "module": "esnext", "moduleResolution": "bundler",
    "target": "es2022", "skipLibCheck": True, "types": []}, "include": ["*.ts"]}
_ERROR = re.compile(r"^(?P<file>[^(\s]+\.ts)\(\d+,\d+\): error TS\d+: ", re.M)


def types_dir() -> Path:
    """The cache folder holding ``@grafana/schema`` and ``typescript``, installed if needed."""
    done = subprocess.run([str(ENSURE)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{ENSURE} failed: {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def typecheck(boards: dict[str, dict], types: Path, work: Path) -> dict[str, list[str]]:
    """tsc's errors per dashboard name (an empty list where it type-checks)."""
    work.mkdir(parents=True, exist_ok=True)
    link = work / "node_modules"
    if not link.exists():
        os.symlink(types / "node_modules", link)
    (work / "tsconfig.json").write_text(json.dumps(_TSCONFIG))
    files = {}
    for i, (name, board) in enumerate(sorted(boards.items())):
        path = work / f"board{i}.ts"
        path.write_text(_HEADER + json.dumps(board, indent=1) + " satisfies Loose<Dashboard>;\n")
        files[path.name] = name
    tsc = types / "node_modules" / "typescript" / "bin" / "tsc"
    done = subprocess.run(["node", str(tsc), "-p", str(work), "--pretty", "false"],
                          capture_output=True, text=True, cwd=work, timeout=600)
    found: dict[str, list[str]] = {name: [] for name in boards}
    for line in done.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            found[files[Path(match["file"]).name]].append(line)
    if done.returncode != 0 and not any(found.values()):
        raise RuntimeError(f"tsc failed without a type error: {done.stdout}{done.stderr}")
    return found

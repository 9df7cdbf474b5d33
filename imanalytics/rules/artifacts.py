"""Generated artifacts (rule files and their unit tests here; the dashboards' in
`dashboards.artifacts`): write them or check them.

Every artifact is text built deterministically from the catalog, so a rerun is
byte-identical and `check` can tell a stale committed file from a fresh one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog import Catalog
from ..errors import ImanalyticsError
from .files import dump_rules, write_text_atomic
from .promtool_tests import recording_test_file
from .recording import recording_rules, rule_groups

RECORDING_FILE = "im-recording.rules.yml"
RECORDING_TEST_FILE = "im-recording.rules.test.yml"


class StaleArtifacts(ImanalyticsError):
    """Committed generated files differ from what the generator makes now."""


@dataclass(frozen=True)
class Artifact:
    path: Path
    text: str


def recording_artifacts(out: str | Path, catalog: Catalog | None = None) -> list[Artifact]:
    """The recording-rule file and its promtool unit tests."""
    out = Path(out)
    rules = recording_rules(catalog)
    return [
        Artifact(out / RECORDING_FILE, dump_rules(rule_groups(catalog))),
        Artifact(out / RECORDING_TEST_FILE, recording_test_file(rules, RECORDING_FILE, catalog)),
    ]


def write(artifacts: Sequence[Artifact]) -> list[Path]:
    """Write the artifacts atomically; return the paths whose content changed."""
    return [a.path for a in artifacts if write_text_atomic(a.path, a.text)]


def stale(artifacts: Sequence[Artifact]) -> list[Path]:
    """Paths whose file is missing or differs from the artifact."""
    return [a.path for a in artifacts
            if not a.path.exists() or a.path.read_text(encoding="utf-8") != a.text]


def check(artifacts: Sequence[Artifact], command: str) -> None:
    """Raise `StaleArtifacts` naming every stale file and the command that refreshes it."""
    paths = stale(artifacts)
    if paths:
        names = ", ".join(str(p) for p in paths)
        raise StaleArtifacts(f"out of date: {names}; run `{command}` and commit the result")

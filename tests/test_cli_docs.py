"""README and `--help` agree: every default README's table documents is argparse's, every
option with a default is documented, and every help text shows its default."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from imanalytics.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
# Options whose default is decided at run time; README and --help describe it in words.
WORDS = {("sandbox", "--port"): "a free port", ("rules", "--out"): "rules",
         ("build-dashboards", "--out"): "dashboards"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _defaults() -> dict[tuple[str, str], str]:
    found = {}
    for name, command in _commands().items():
        for action in command._actions:
            if action.option_strings and not any(
                    action.default is nothing for nothing in (None, False, argparse.SUPPRESS)):
                found[(name, action.option_strings[-1])] = str(action.default)
    return {**found, **WORDS}


def _documented() -> dict[tuple[str, str], str]:
    rows = re.findall(r"^\| `([\w-]+)` \| `(--[\w-]+)` \| ([^|]+) \|$", README.read_text(),
                      re.MULTILINE)
    return {(command, option): value.strip() for command, option, value in rows}


def test_readme_documents_argparse_defaults():
    documented, actual = _documented(), _defaults()
    assert documented, "README has no table of defaults"
    assert documented == actual


def test_every_help_shows_its_default():
    for (name, option), value in _defaults().items():
        command = _commands()[name]
        action = next(a for a in command._actions if option in a.option_strings)
        text = command._get_formatter()._expand_help(action)
        assert f"default: {value}" in text, (name, option, text)


@pytest.mark.parametrize("paragraph", ["make demo` simulates"])
def test_demo_paragraph_matches_demo_defaults(paragraph):
    text = README.read_text()
    said = re.search(r"\((\d+) instances, (\d+) days", text[text.index(paragraph):])
    defaults = _defaults()
    assert said.groups() == (defaults[("demo", "--instances")], defaults[("demo", "--days")])

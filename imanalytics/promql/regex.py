"""Label-matcher regexes: RE2 syntax, fully anchored, run with Python's `re`.

Python's engine agrees with RE2 on the common subset. Constructs where the two differ (or that
RE2 rejects) are refused rather than silently matched differently.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import PromQLSyntaxError, UnsupportedError

# (pattern fragment, why it is refused)
_REFUSED = [
    (re.compile(r"\\[pP]"), "Unicode class \\p"),
    (re.compile(r"\[\[:"), "POSIX class [[:...:]]"),
    (re.compile(r"\\[zCQE]"), "escape \\z, \\C, \\Q or \\E"),
    (re.compile(r"\\[1-9]"), "back-reference"),
    (re.compile(r"\(\?(?:[=!]|<[=!]|P=|>|#)"), "look-around, atomic group or back-reference"),
    (re.compile(r"[*+?}]\+"), "possessive quantifier"),
    (re.compile(r"\(\?[a-zA-Z]*U"), "ungreedy flag U"),
]


@lru_cache(maxsize=4096)
def compile_matcher_regex(pattern: str, expr: str, dotall: bool) -> re.Pattern:
    """Compile `pattern` for `fullmatch` (Prometheus anchors it as ^(?:pattern)$)."""
    scan = _strip_escaped_backslashes(pattern)
    for fragment, why in _REFUSED:
        if fragment.search(scan):
            raise UnsupportedError(f"regex feature ({why}) in {pattern!r}", expr or pattern)
    if re.search(r"\(\?[a-zA-Z]+\)", scan[1:]):
        raise UnsupportedError(f"regex flags after the start in {pattern!r}", expr or pattern)
    flags = re.ASCII | (re.DOTALL if dotall else 0)
    try:
        return re.compile(pattern, flags)
    except re.error as err:
        raise PromQLSyntaxError(f"invalid regular expression {pattern!r}: {err}", expr or pattern,
                                0) from None


def _strip_escaped_backslashes(pattern: str) -> str:
    # "\\\\p" is a literal backslash then "p", not the escape \p.
    return pattern.replace("\\\\", "")

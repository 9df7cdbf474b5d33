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
    flags = re.ASCII | (re.DOTALL if dotall else 0)
    try:
        return re.compile(scope_inline_flags(pattern), flags)
    except re.error as err:
        raise PromQLSyntaxError(f"invalid regular expression {pattern!r}: {err}", expr or pattern,
                                0) from None


def _strip_escaped_backslashes(pattern: str) -> str:
    # "\\\\p" is a literal backslash then "p", not the escape \p.
    return pattern.replace("\\\\", "")


_FLAGS = re.compile(r"\(\?([imsU]*(?:-[imsU]*)?)\)")


def scope_inline_flags(pattern: str) -> str:
    """RE2's `(?i)` after the start applies to the rest of its group (across `|`); Python
    accepts flags only at the very start, so each is rewritten as a scoped `(?i:...)` that
    closes where the group or alternative ends."""
    out: list[str] = []
    pending = [0]  # scoped groups opened at each nesting level
    active: list[list[str]] = [[]]  # their flag texts, to reopen after "|"
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                out.append("[]")
                i += 2
                continue
        elif (m := _FLAGS.match(pattern, i)) and i > 0:
            out.append(f"(?{m.group(1)}:")
            pending[-1] += 1
            active[-1].append(m.group(1))
            i = m.end()
            continue
        elif char == "(":
            pending.append(0)
            active.append([])
        elif char == ")" and len(pending) > 1:
            out.append(")" * pending.pop())
            active.pop()
        elif char == "|" and pending[-1]:
            out.append(")" * pending[-1] + "|" + "".join(f"(?{f}:" for f in active[-1]))
            i += 1
            continue
        out.append(char)
        i += 1
    out.append(")" * pending[0])
    return "".join(out)

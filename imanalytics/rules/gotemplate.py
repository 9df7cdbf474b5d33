"""The part of Go's text/template that alert templates use, run in Python (no code from
the template runs: it is parsed into actions over a fixed function table).

Text and ``{{ }}`` actions (with ``{{-`` / ``-}}`` trimming and ``{{/* */}}`` comments);
pipelines of commands joined by ``|``, the piped value passed as the last argument;
operands: string and number literals, ``.``, ``.Field.Key``, ``$var.Key``, ``( ... )``;
``{{ $x := ... }}``; ``if``, ``with`` and ``range`` blocks with ``else``. Any other
construct, or a function not in the table, is `Unsupported` naming it; a template that
fails as Go's would (a function's error, a string parameter given another type) is an
`ExecError` holding where and what, as Go's text/template reports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .gotypes import arity_error, literal_error, value_error


class NoValue:
    """Go's nil interface (a missing key of a map of interfaces): printed ``<no value>``,
    false in conditions."""

    go_type = "<nil>"

    def __str__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE = NoValue()


class Unsupported(ValueError):
    """A construct or function outside the interpreted subset."""


class ExecError(ValueError):
    """A template failing as Go's would: `pos` (a character offset in the template) and
    `context` (the node's text) say where, as Go's ``template: NAME:LINE:COL: executing
    NAME at <CONTEXT>: MESSAGE``."""

    def __init__(self, message: str, pos: int, context: str):
        super().__init__(f"at <{context}>: {message}")
        self.message, self.pos, self.context = message, pos, context


class _Word(str):
    """A token with its offset in the template."""

    pos: int


class _Lit(tuple):
    """A string literal token ("str", value) with its offset and text as written."""

    pos: int
    raw: str


def _word(text: str, pos: int) -> _Word:
    word = _Word(text)
    word.pos = pos
    return word


def _raw(token) -> str:
    return token.raw if isinstance(token, _Lit) else str(token)


def _source(tokens: list) -> str:
    """Tokens as Go prints a node: separated by spaces, none inside parentheses."""
    out = ""
    for token in tokens:
        text = _raw(token)
        if out and not out.endswith("(") and text != ")" \
                and not (out.endswith(")") and text.startswith(".")):
            out += " "
        out += text
    return out


_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(`[^`]*`)|(:=|=|\||\(|\))|'
                    r'([$.]?[\w.$]*[\w$]|\.))')


@dataclass
class _Block:
    keyword: str  # "if", "with", "range"; "" for the whole template
    pipeline: list = field(default_factory=list)
    body: list = field(default_factory=list)
    otherwise: list = field(default_factory=list)


def execute(template: str, data, variables: dict, functions: dict[str, Callable],
            show: Callable[[object], str]) -> str:
    """`template` run with `data` as dot; `show` prints a value."""
    root = _parse(template)
    return _run(root.body, data, dict(variables, **{"$": data}), functions, show, template)


def _parse(template: str) -> _Block:
    stack = [_Block("")]
    targets = [stack[0].body]  # the branch each open block is being written into
    for kind, item, offset in _items(template):
        if kind == "text":
            targets[-1].append(item)
            continue
        tokens = _tokens(item, template, offset)
        head = tokens[0] if tokens else None
        if head in ("if", "with", "range"):
            stack.append(_Block(head, tokens[1:]))
            targets[-1].append(stack[-1])
            targets.append(stack[-1].body)
        elif head == "else" and len(tokens) == 1 and len(stack) > 1:
            targets[-1] = stack[-1].otherwise
        elif head == "end" and len(tokens) == 1 and len(stack) > 1:
            stack.pop()
            targets.pop()
        elif head in ("else", "end", "define", "template", "block", "break", "continue"):
            raise Unsupported(f"unsupported template construct {item.strip()!r} in {template!r}")
        elif tokens:
            targets[-1].append(tokens)
    if len(stack) > 1:
        raise Unsupported(f"unclosed {stack[-1].keyword!r} in {template!r}")
    return stack[0]


def _items(template: str):
    """("text", str, offset) and ("action", str, offset) pieces, trim markers applied."""
    pos, trim_next = 0, False
    while pos < len(template):
        start = template.find("{{", pos)
        text = template[pos:] if start < 0 else template[pos:start]
        if start < 0:
            yield "text", text.lstrip() if trim_next else text, pos
            return
        left = template.startswith("{{- ", start) or template.startswith("{{-\n", start)
        end = _action_end(template, start + 2)
        inner = template[start + (3 if left else 2):end]
        right = inner.endswith((" -", "\n-"))
        text = text.lstrip() if trim_next else text
        yield "text", text.rstrip() if left else text, pos
        if not inner.strip().startswith("/*"):
            yield "action", inner[:-1] if right else inner, start + (3 if left else 2)
        pos, trim_next = end + 2, right


def _action_end(template: str, pos: int) -> int:
    quote = None
    while pos < len(template) - 1:
        char = template[pos]
        if quote:
            if char == "\\" and quote == '"':
                pos += 1
            elif char == quote:
                quote = None
        elif char in "\"`":
            quote = char
        elif template.startswith("}}", pos):
            return pos
        pos += 1
    raise Unsupported(f"unclosed action in {template!r}")


def _tokens(action: str, template: str, offset: int) -> list:
    tokens, pos = [], 0
    action = action.rstrip()
    while pos < len(action):
        match = _TOKEN.match(action, pos)
        if not match or match.end() == pos:
            raise Unsupported(f"unsupported template syntax {action.strip()!r} in {template!r}")
        string, raw, symbol, word = match.groups()
        start = offset + match.start(match.lastindex)
        if string or raw:
            token = _Lit(("str", _unquote(string, template) if string else raw[1:-1]))
            token.pos, token.raw = start, string or raw
        else:
            token = _word(symbol or word, start)
        tokens.append(token)
        pos = match.end()
    return tokens


_ESCAPES = {"a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t",
            "v": b"\v", "\\": b"\\", '"': b'"'}
_ESCAPE = re.compile(r'\\(?:([abfnrtv\\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})'
                     r'|U([0-9a-fA-F]{8}))')


def _unquote(literal: str, template: str) -> str:
    """Go's strconv.Unquote of a double-quoted literal (``\\x`` and octal escapes are
    bytes, the rest characters)."""
    out, pos, body = bytearray(), 0, literal[1:-1]
    for match in _ESCAPE.finditer(body):
        if "\\" in body[pos:match.start()]:
            break
        out += body[pos:match.start()].encode()
        char, byte, octal, short, long = match.groups()
        if char:
            out += _ESCAPES[char]
        elif byte or octal:
            if int(byte or octal, 16 if byte else 8) > 255:
                break
            out.append(int(byte or octal, 16 if byte else 8))
        elif not _rune(int(short or long, 16)):
            break
        else:
            out += chr(int(short or long, 16)).encode()
        pos = match.end()
    else:
        if "\\" not in body[pos:]:
            return (out + body[pos:].encode()).decode(errors="replace")
    raise Unsupported(f"unsupported string literal {literal} in {template!r}")


def _rune(code: int) -> bool:
    return code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF


def _run(nodes: list, dot, variables: dict, functions, show, template: str) -> str:
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Block):
            out.append(_block(node, dot, variables, functions, show, template))
        elif len(node) > 2 and isinstance(node[0], str) and node[0].startswith("$") \
                and node[1] in (":=", "="):
            variables[node[0]] = _pipeline(node[2:], dot, variables, functions, template)
        else:
            out.append(show(_pipeline(node, dot, variables, functions, template)))
    return "".join(out)


def _block(block: _Block, dot, variables, functions, show, template) -> str:
    value = _pipeline(block.pipeline, dot, variables, functions, template)
    if not truth(value):
        return _run(block.otherwise, dot, variables, functions, show, template)
    if block.keyword == "if":
        return _run(block.body, dot, variables, functions, show, template)
    if block.keyword == "with":
        return _run(block.body, value, variables, functions, show, template)
    items = value.items() if isinstance(value, dict) else value
    return "".join(_run(block.body, item[1] if isinstance(value, dict) else item, variables,
                        functions, show, template) for item in items)


def truth(value) -> bool:
    if isinstance(value, NoValue) or value is None:
        return False
    if isinstance(value, bool | int | float | str | list | dict | tuple):
        return bool(value)
    return True


def _pipeline(tokens: list, dot, variables, functions, template: str):
    commands: list[list] = [[]]
    depth = 0
    for token in tokens:
        if token == "|" and depth == 0:
            commands.append([])
            continue
        depth += (token == "(") - (token == ")")
        commands[-1].append(token)
    value, piped = None, False
    for command in commands:
        if not command:
            raise Unsupported(f"empty command in {template!r}")
        value = _command(command, dot, variables, functions, template,
                         [value] if piped else [])
        piped = True
    return value


def _command(tokens: list, dot, variables, functions, template: str, piped: list):
    head = tokens[0]
    if not (isinstance(head, str) and _is_name(head)):
        operands = _operands(tokens, dot, variables, functions, template)
        if len(operands) != 1 or piped:
            raise Unsupported(f"can't give arguments to a non-function in {template!r}")
        return operands[0]
    if head not in functions:
        raise Unsupported(f"template function {head!r} is not supported in {template!r}")
    function = functions[head]
    operands = _operands(tokens[1:], dot, variables, functions, template)
    args = [*operands, *piped]
    _check_args(function, args, tokens, len(operands))
    try:
        return function(*args)
    except (Unsupported, ExecError):
        raise
    except (TypeError, AttributeError):
        raise Unsupported(f"calling {head!r} on these arguments is not supported "
                          f"in {template!r}") from None
    except ValueError as err:
        raise ExecError(f"error calling {head}: {err}", head.pos, _source(tokens)) from None


def _check_args(function, args: list, tokens: list, operands: int) -> None:
    """Go's checks of a call: the number of arguments, then each one's type (at the
    argument; a piped one at the function's name)."""
    params = getattr(function, "go_params", None)
    if params is None:
        return
    head = tokens[0]
    problem = arity_error(head, params, len(args), operands)
    if problem:
        raise ExecError(problem, head.pos, str(head))
    written = _argument_tokens(tokens[1:])
    for i, (value, want) in enumerate(zip(args, params, strict=False)):
        token = written[i] if i < len(written) else head
        literal = i < len(written) and (isinstance(token, _Lit) or token[:1] not in "$.(")
        problem = literal_error(_raw(token), value, want) if literal \
            else value_error(value, want)
        if problem:
            at = head if token == "(" else token  # Go's node inside parentheses: unknown
            raise ExecError(problem, at.pos, _raw(at))


def _argument_tokens(tokens: list) -> list:
    """The first token of each argument (a parenthesised one, with any ``.Field`` after
    it, as its "(")."""
    out, depth, closed = [], 0, False
    for token in tokens:
        field_after = closed and isinstance(token, str) and token.startswith(".")
        if depth == 0 and not field_after:
            out.append(token)
        depth += (token == "(") - (token == ")")
        closed = depth == 0 and token == ")"
    return out


def _is_name(token: str) -> bool:
    return token[:1].isalpha()


def _operands(tokens: list, dot, variables, functions, template: str) -> list:
    out, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        if token == "(":
            depth, j = 1, i + 1
            while depth:
                if j == len(tokens):
                    raise Unsupported(f"unclosed '(' in {template!r}")
                depth += (tokens[j] == "(") - (tokens[j] == ")")
                j += 1
            value = _pipeline(tokens[i + 1:j - 1], dot, variables, functions, template)
            if j < len(tokens) and isinstance(tokens[j], str) and tokens[j][:1] == "." \
                    and len(tokens[j]) > 1:  # (pipeline).Field
                value, j = _fields(value, tokens[j][1:], template), j + 1
            out.append(value)
            i = j
            continue
        out.append(_operand(token, dot, variables, template))
        i += 1
    return out


def _operand(token, dot, variables, template: str):
    if isinstance(token, tuple):
        return token[1]
    if re.fullmatch(r"[-+]?\d+", token):
        return int(token)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", token):
        return float(token)
    if token in ("true", "false"):
        return token == "true"
    if token.startswith("$"):
        name, _, path = token.partition(".")
        if name not in variables:
            raise Unsupported(f"undefined variable {name!r} in {template!r}")
        return _fields(variables[name], path, template)
    if token.startswith("."):
        return _fields(dot, token[1:], template)
    raise Unsupported(f"unsupported template operand {token!r} in {template!r}")


def _fields(value, path: str, template: str):
    for name in filter(None, path.split(".")):
        if isinstance(value, dict):
            value = value.get(name, getattr(value, "zero", ""))  # missingkey=zero
        elif hasattr(value, name) and name[:1].isupper():
            value = getattr(value, name)
        else:
            raise Unsupported(f"can't read field {name!r} in {template!r}")
    return value

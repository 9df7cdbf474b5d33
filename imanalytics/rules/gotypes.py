"""Go's view of the values a template handles: their type names in errors, a function's
parameter types checked as text/template checks them, and the builtins that compare,
measure and index values (text/template's funcs.go), with Go's errors."""

from __future__ import annotations

ANY = ""  # an interface{} parameter
VARIADIC = "..."  # last in a signature: any number more of interface{}
STRING = "string"

_BAD_COMPARISON = "incompatible types for comparison"
_BAD_TYPE = "invalid type for comparison"


def go_type(value) -> str:
    """A value's Go type, as text/template's errors name it."""
    named = getattr(value, "go_type", None)
    if named:
        return named
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "map[string]string"
    return {float: "float64", int: "int", str: "string"}.get(type(value),
                                                                type(value).__name__)


def signature(*params: str):
    """Marks a table function with its Go parameter types (`ANY`, `STRING`, a type name;
    `VARIADIC` last): its arguments are checked as Go checks them."""
    def mark(function):
        function.go_params = params
        return function
    return mark


def arity_error(name: str, params: tuple, given: int, operands: int) -> str | None:
    """Go's error for `given` arguments (`operands` of them written, not piped)."""
    fixed = len(params) - (params[-1:] == (VARIADIC,))
    if params[-1:] == (VARIADIC,):
        return None if given >= fixed else \
            f"wrong number of args for {name}: want at least {fixed} got {operands}"
    return None if given == fixed else f"wrong number of args for {name}: want {fixed} got {given}"


def value_error(value, want: str) -> str | None:
    """Go's error for a computed `value` (a variable, field, pipeline) given for a
    parameter of type `want`; None when it fits."""
    if want in (ANY, VARIADIC) or go_type(value) == want:
        return None
    if go_type(value) == "<nil>":
        return None if want != STRING else f"invalid value; expected {want}"
    return f"wrong type for value; expected {want}; got {go_type(value)}"


def literal_error(raw: str, value, want: str) -> str | None:
    """Go's error for a literal written `raw` given for a parameter of type `want`."""
    if want in (ANY, VARIADIC) or go_type(value) == want:
        return None
    if want == STRING:
        return f"expected string; found {raw}"
    return f"can't handle {raw} for arg of type {want}"


def _kind(value) -> str | None:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "string"}.get(type(value))


def eq(first, *others) -> bool:
    if isinstance(first, dict | list):
        raise ValueError(f"non-comparable type {_printed(first)}: {go_type(first)}")
    if not others:
        raise ValueError("missing argument for comparison")
    for other in others:
        if "<nil>" in (go_type(first), go_type(other)):  # a missing key: never equal
            continue
        if _kind(first) != _kind(other):
            raise ValueError(_BAD_COMPARISON)
        if isinstance(other, dict | list):
            raise ValueError(f"non-comparable type {_printed(other)}: {go_type(other)}")
        if first == other:
            return True
    return False


def lt(a, b) -> bool:
    kinds = _kind(a), _kind(b)
    if None in kinds:
        raise ValueError(_BAD_TYPE)
    if kinds[0] != kinds[1]:
        raise ValueError(_BAD_COMPARISON)
    if kinds[0] == "bool":
        raise ValueError(_BAD_TYPE)
    return a < b


BUILTINS = {
    "eq": eq, "ne": lambda a, b: not eq(a, b), "lt": lt,
    "le": lambda a, b: lt(a, b) or eq(a, b), "gt": lambda a, b: not (lt(a, b) or eq(a, b)),
    "ge": lambda a, b: not lt(a, b),
}


def go_len(value) -> int:
    """Go's len: a string's in bytes."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict | list):
        return len(value)
    raise ValueError(f"len of type {go_type(value)}")


def go_index(item, *keys):
    """Go's index: a map's missing key is its zero value (`missing(item)`), a string's
    index a byte."""
    for key in keys:
        if isinstance(item, dict):
            if not isinstance(key, str):
                raise ValueError(f"value has type {go_type(key)}; should be string")
            item = item.get(key, getattr(item, "zero", ""))
            continue
        if not isinstance(item, list | str):
            raise ValueError(f"can't index item of type {go_type(item)}")
        if isinstance(key, bool) or not isinstance(key, int):
            raise ValueError(f"cannot index slice/array with type {go_type(key)}")
        sequence = item.encode() if isinstance(item, str) else item
        if not 0 <= key < len(sequence):
            raise ValueError(f"index out of range: {key}" if not 0 <= key <= len(sequence)
                             else f"reflect: {'string' if isinstance(item, str) else 'slice'} "
                                  "index out of range")
        item = sequence[key]
    return item


def go_slice(item, *indexes):
    """Go's slice: ``slice x 1 2`` is ``x[1:2]``, a string's in bytes."""
    if go_type(item) == "<nil>":
        raise ValueError("slice of untyped nil")
    if len(indexes) > 3:
        raise ValueError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise ValueError("cannot 3-index slice a string")
        sequence = item.encode()
    elif isinstance(item, list):
        sequence = item
    else:
        raise ValueError(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(sequence)]
    for i, index in enumerate(indexes):
        bounds[i:i + 1] = [_slice_index(index, len(sequence))]
    if bounds[0] > bounds[1]:
        raise ValueError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(bounds) == 3 and bounds[1] > bounds[2]:
        raise ValueError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    part = sequence[bounds[0]:bounds[1]]
    return part.decode(errors="replace") if isinstance(item, str) else type(item)(part)


def _slice_index(index, length: int) -> int:
    # A query result's capacity is its length here; Go's may be larger, which only an
    # index past the end (an error here) could tell.
    if go_type(index) == "<nil>":
        raise ValueError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"cannot index slice/array with type {go_type(index)}")
    if not 0 <= index <= length:
        raise ValueError(f"index out of range: {index}")
    return index


def _printed(value) -> str:
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{value[k]}" for k in sorted(value)) + "]"
    return str(value)

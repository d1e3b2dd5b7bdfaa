"""A request body's bytes -> JSON values, refusing what protobuf and the service cannot take.

Beyond `json.loads`:
  - a key given twice in one object is refused (no silent last-one-wins);
  - NaN, Infinity and floats beyond a double's range are refused;
  - a lone UTF-16 surrogate (`"\\ud800"`, legal JSON but no Unicode text) is
    refused naming the field it is in, or `body` when it is in a key;
  - nesting deeper than MAX_DEPTH is refused: protobuf parses at most 100
    message levels and a Struct spends three of them per JSON object.
Every refusal is an InvalidJson, i.e. a 400 naming what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from common.errors import FieldViolation
from common.jsonout import JsonValue

from .reading import InvalidJson

__all__ = ["MAX_DEPTH", "parse_json"]

MAX_DEPTH = 32
# Only an escape can put a surrogate into decoded JSON (raw ones are not UTF-8).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NOT_UNICODE = "is not valid Unicode text (it holds a lone UTF-16 surrogate)"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_json(body: bytes) -> JsonValue:
    """The decoded body; raises InvalidJson naming the problem."""
    try:
        value = json.loads(body, object_pairs_hook=_object, parse_constant=_no_constant, parse_float=_finite_float)
    except _DuplicateKey as exc:
        key = exc.key if _is_text(exc.key) else None
        if key is None:
            raise _refuse("body", "has a key that " + _NOT_UNICODE) from None
        raise InvalidJson(
            [FieldViolation(key, "is given more than once")], f"the body gives the key {key!r} more than once"
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the hooks' refusals
        problem = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise InvalidJson(
            [FieldViolation("body", f"is not valid JSON: {problem}")], f"the body is not valid JSON: {problem}"
        ) from None
    # Both checks walk the whole value; the cheap scans skip them for almost every body.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH or _SURROGATE_ESCAPE.search(body):
        _check(value)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _check(value: JsonValue) -> None:
    """Depth and lone surrogates, named by the path the reader would name them by."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                raise _refuse(where or "body", _NOT_UNICODE)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(item, dict):
            for key, child in item.items():
                if not _is_text(key):
                    raise _refuse("body", "has a key that " + _NOT_UNICODE)
                stack.append((child, depth + 1, f"{where}.{key}" if where else key))
        else:
            stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(item))


def _is_text(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse(field: str, description: str) -> InvalidJson:
    return InvalidJson([FieldViolation(field, description)])


def _too_deep() -> InvalidJson:
    return InvalidJson(
        [FieldViolation("body", f"is nested more than {MAX_DEPTH} levels deep")],
        f"the body is nested more than {MAX_DEPTH} levels deep",
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value

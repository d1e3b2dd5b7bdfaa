"""A request field's `issues.v1.rules` as JSON Schema keywords.

The rules are declared once, on the field in the proto (see
`common.descriptors.field_rules`); this turns them into the constraints of
the OpenAPI document, so that the document is exactly as strict as the
server that enforces them.
"""

from __future__ import annotations

from typing import Any

from common.descriptors import Rules

__all__ = ["constrain", "constrain_list", "constrain_map", "integer_schema", "integer_text_pattern"]

Schema = dict[str, Any]


def constrain_list(array: Schema, rules: Rules) -> Schema:
    """`array` (a repeated field's schema) with its item count bounds; the items get the rest."""
    out = dict(array)
    if rules.min_items is not None:
        out["minItems"] = rules.min_items
    if rules.max_items is not None:
        out["maxItems"] = rules.max_items
    out["items"] = constrain(array["items"], rules)
    return out


def constrain_map(values: Schema, rules: Rules) -> Schema:
    """A map field's object schema: its key count, key pattern and the rules of its values."""
    out: Schema = {"type": "object", "additionalProperties": constrain(values, rules)}
    if rules.max_items is not None:
        out["maxProperties"] = rules.max_items
    if rules.key_pattern:
        out["propertyNames"] = {"pattern": rules.key_pattern}
    return out


def constrain(schema: Schema, rules: Rules) -> Schema:
    """A string's schema with the rules that bound it (integers get theirs in `integer_schema`)."""
    if schema.get("type") != "string":
        return schema
    out = dict(schema)
    if rules.min_length is not None:
        out["minLength"] = rules.min_length
    if rules.max_length is not None:
        out["maxLength"] = rules.max_length
    if rules.format:
        out["format"] = rules.format
        if rules.format == "emoji" and "minLength" not in out:
            out["minLength"] = 1  # exactly one emoji: never the empty string
    if rules.patterns:
        out["pattern"] = rules.patterns[0]
        if len(rules.patterns) > 1:
            # JSON Schema has one `pattern` per schema; further ones must hold as well.
            out["allOf"] = [{"pattern": p} for p in rules.patterns[1:]]
    return out


def integer_schema(low: int, high: int, rules: Rules, *, fmt: str, as_text: bool) -> Schema:
    """An integer field of range low..high, narrowed by the rules.

    `as_text`: the reader also takes the number as a string (64-bit integers,
    as proto3 JSON allows), whose pattern then spells the same range.
    """
    if rules.minimum is not None:
        low = max(low, rules.minimum)
    if rules.maximum is not None:
        high = min(high, rules.maximum)
    number: Schema = {"type": "integer", "format": fmt, "minimum": low, "maximum": high}
    if not as_text:
        return number
    return {"oneOf": [number, {"type": "string", "pattern": integer_text_pattern(low, high)}]}


def integer_text_pattern(low: int, high: int) -> str:
    """A regular expression matching the decimal text of exactly the integers low..high."""
    if low > high:
        raise ValueError(f"empty range {low}..{high}")
    parts: list[str] = []
    if low < 0:
        parts += ["-" + p for p in _naturals(max(1, -high), -low)]
    if high >= 0:
        parts += _naturals(max(0, low), high)
    return "^(?:" + "|".join(parts) + ")$"


def _naturals(low: int, high: int) -> list[str]:
    """Alternatives for low..high (0 <= low <= high), split where the digit count changes."""
    parts: list[str] = []
    while low <= high:
        end = min(high, 10 ** len(str(low)) - 1)
        parts += _same_width(str(low), str(end))
        low = end + 1
    return parts


def _same_width(low: str, high: str) -> list[str]:
    """Alternatives for the numbers low..high, both written with the same number of digits."""
    if low == high:
        return [low]
    common = 0
    while low[common] == high[common]:
        common += 1
    prefix, low, high = low[:common], low[common:], high[common:]
    rest = len(low) - 1
    if rest == 0:
        return [f"{prefix}[{low}-{high}]"]
    nines, zeros = "9" * rest, "0" * rest
    parts: list[str] = []
    first, last = int(low[0]), int(high[0])
    # The low end: low itself up to low[0] followed by nines.
    if low[1:] == zeros:
        start = first
    else:
        parts += [prefix + p for p in _same_width(low, low[0] + nines)]
        start = first + 1
    # The high end: high[0] followed by zeros up to high itself.
    if high[1:] == nines:
        stop = last
    else:
        stop = last - 1
    if start <= stop:
        digit = str(start) if start == stop else f"[{start}-{stop}]"
        parts.append(f"{prefix}{digit}[0-9]{{{rest}}}")
    if high[1:] != nines:
        parts += [prefix + p for p in _same_width(high[0] + zeros, high)]
    return parts

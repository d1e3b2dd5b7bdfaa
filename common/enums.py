"""The JSON names of proto enum values, by one rule for every enum.

`Issue.Status.STATUS_IN_PROGRESS` is `in_progress`: the value name without
the enum's prefix (the enum name in UPPER_SNAKE), lower-cased. Value 0 (the
`_UNSPECIFIED` one) has no name: it prints as null and is never accepted.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import EnumDescriptor

__all__ = ["enum_names", "enum_numbers"]

_names: dict[str, dict[int, str]] = {}
_numbers: dict[str, dict[str, int]] = {}


def _prefix(enum: EnumDescriptor) -> str:
    # ChartType -> CHART_TYPE_
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def enum_names(enum: EnumDescriptor) -> dict[int, str]:
    """Value number -> JSON name; value 0 and aliases are left out."""
    names = _names.get(enum.full_name)
    if names is None:
        prefix = _prefix(enum)
        names = {}
        for value in enum.values:
            if value.number == 0 or value.number in names:
                continue
            name = value.name[len(prefix) :] if value.name.startswith(prefix) else value.name
            names[value.number] = name.lower()
        _names[enum.full_name] = names
    return names


def enum_numbers(enum: EnumDescriptor) -> dict[str, int]:
    """JSON name -> value number (the inverse of `enum_names`)."""
    numbers = _numbers.get(enum.full_name)
    if numbers is None:
        numbers = _numbers[enum.full_name] = {name: number for number, name in enum_names(enum).items()}
    return numbers

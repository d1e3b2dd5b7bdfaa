"""OpenAPI links: from each create's 201 to the operations that take what it made.

By the same rule as `Location` (location.py): a create's item lives at its
item path, so every operation whose path is that item path or lies under it,
and whose path variables the create's request path and reply can fill, is
linked, with `$request.path.<variable>` for the variables the create was
given and `$response.body#/<id path>` for the new id. A stateful client (a
fuzzer, a generated SDK) can then follow an id from the create to a GET,
PATCH, DELETE or a list under it without guessing.
"""

from __future__ import annotations

from typing import Any, Mapping

from .location import ItemRoute
from .routing import Binding

__all__ = ["links"]

Schema = dict[str, Any]


def _under(b: Binding, item: ItemRoute) -> bool:
    literals = item.template.literals
    return b.template.literals[: len(literals)] == literals


def links(create: Binding, item: ItemRoute, operations: Mapping[str, Binding]) -> dict[str, Schema]:
    """Link name -> link object, for the operations (operationId -> binding) reachable from `create`."""
    given = {name for _, name in create.template.variables}
    pointer = "/" + "/".join(item.id_path)
    out: dict[str, Schema] = {}
    for operation_id, b in operations.items():
        if b is create or not _under(b, item):
            continue
        variables = [name for _, name in b.template.variables]
        if not set(variables) <= given | {item.id_variable}:
            continue  # it needs a value the create does not give (an emoji, say)
        out[operation_id] = {
            "operationId": operation_id,
            "parameters": {
                name: f"$response.body#{pointer}" if name == item.id_variable else f"$request.path.{name}"
                for name in variables
            },
            "description": f"The {item.id_variable} of what this created.",
        }
    return out

"""Where a created resource lives: the `Location` of a 201 Created, by rule.

Nothing here is per route. A method answering 201 creates an item of the
collection its path names (`POST /api/v1/issues/{issue_id}/comments`); the
item's path is the route table's template of one more variable segment under
that collection (`/api/v1/issues/{issue_id}/comments/{comment_id}`), and its
id is the reply's `uuid` (or `id`, as a webhook names it), or that of the
one message field of the reply that has one (CreateAttachmentResponse's
`attachment`). A create whose
collection has no item path (an issue's files) gets no Location.

The same rule gives the OpenAPI document its `Location` headers and the links
from each create to the operations on what it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from .routing import Binding, PathTemplate, RouteTable

__all__ = ["ID_FIELDS", "ItemRoute", "item_route"]

# The fields that may hold a resource's id (every resource message has one).
ID_FIELDS = ("uuid", "id")


@dataclass(frozen=True)
class ItemRoute:
    """The path of what a create made, and where its id is in the reply."""

    template: PathTemplate
    # Reply field names down to the id: ("uuid",) or ("attachment", "uuid").
    id_path: tuple[str, ...]
    # The item path's variable that the id fills (`comment_id`).
    id_variable: str

    def url(self, path_params: Mapping[str, str], reply: Message) -> str | None:
        """The created item's absolute path, or None if the reply carries no id."""
        value: object = reply
        for name in self.id_path:
            value = getattr(value, name)
        if not value:
            return None
        values = {**path_params, self.id_variable: str(value)}
        names = dict(self.template.variables)
        segments = [
            quote(values[names[i]], safe="") if lit is None else lit for i, lit in enumerate(self.template.literals)
        ]
        return "/" + "/".join(segments)


def _id_field(message: Descriptor) -> str | None:
    for name in ID_FIELDS:
        f = message.fields_by_name.get(name)
        if f is not None and f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated:
            return name
    return None


def _id_path(reply: Descriptor) -> tuple[str, ...] | None:
    own = _id_field(reply)
    if own is not None:
        return (own,)
    holders = [
        (f.name, held)
        for f in reply.fields
        if f.message_type is not None and not f.is_repeated and (held := _id_field(f.message_type))
    ]
    return holders[0] if len(holders) == 1 else None


def item_route(binding: Binding, table: RouteTable) -> ItemRoute | None:
    """Where `binding`'s created item lives, if it is a create (201) with an item path."""
    if binding.success_code != 201 or binding.template.verb is not None:
        return None
    id_path = _id_path(binding.method.output_type)
    if id_path is None:
        return None
    wanted = (*binding.template.literals, None)
    for template in table.templates():
        if (
            template.literals == wanted
            and template.verb is None
            and template.variables[:-1] == binding.template.variables
        ):
            return ItemRoute(template, id_path, template.variables[-1][1])
    return None

"""The contract as descriptors: the service, and the options declared on it.

Authorization (`required_role`, or `signed_url` for calls whose credential
is a URL signature), HTTP success codes (`http_success_code`),
required request fields (`google.api.field_behavior`) and what each request
field accepts (`rules`) are written beside each RPC and field in the protos;
everything that acts on them reads them here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

from common.patterns import DATE_TIME, IDENTIFIER, UUID
from issues.v1 import issue_service_pb2, options_pb2

__all__ = [
    "DATE_TIME_PATTERN",
    "ISSUE_ID_PATTERN",
    "NOT_BLANK_PATTERN",
    "SERVICE",
    "STREAM_TICKET_PARAMETER",
    "UUID_PATTERN",
    "Rules",
    "field_rules",
    "full_method_name",
    "http_success_code",
    "is_output_only",
    "is_required",
    "query_name",
    "required_role",
    "signed_url",
    "stream_ticket",
    "update_mask_field",
]

SERVICE: ServiceDescriptor = issue_service_pb2.DESCRIPTOR.services_by_name["IssueService"]


def full_method_name(method: MethodDescriptor) -> str:
    """`/issues.v1.IssueService/GetIssue`, as gRPC names a call."""
    return f"/{method.containing_service.full_name}/{method.name}"


def required_role(method: MethodDescriptor) -> int:
    """The `issues.v1.Role` number the method's `required_role` option names; 0 when unset."""
    return method.GetOptions().Extensions[options_pb2.required_role]


def signed_url(method: MethodDescriptor) -> bool:
    """Whether the method's credential is a signed URL's signature instead of a token."""
    return method.GetOptions().Extensions[options_pb2.signed_url]


# Where a stream ticket comes over HTTP: a browser's EventSource sends only a URL.
STREAM_TICKET_PARAMETER = "ticket"


def stream_ticket(method: MethodDescriptor) -> bool:
    """Whether a stream ticket may stand in for the method's token (`?ticket=` over HTTP)."""
    return method.GetOptions().Extensions[options_pb2.stream_ticket]


def http_success_code(method: MethodDescriptor) -> int:
    """The HTTP status of success the method declares; 0 when unset (the gateway's 200)."""
    return method.GetOptions().Extensions[options_pb2.http_success_code]


def update_mask_field(message: Descriptor) -> FieldDescriptor | None:
    """The message's `update_mask` FieldMask (AIP-134), if it has one: over
    JSON it is made from the keys the object carries."""
    f = message.fields_by_name.get("update_mask")
    if f is not None and f.message_type is not None and f.message_type.full_name == "google.protobuf.FieldMask":
        return f
    return None


def _behaviors(field: FieldDescriptor) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_required(field: FieldDescriptor) -> bool:
    return field_behavior_pb2.REQUIRED in _behaviors(field)


def is_output_only(field: FieldDescriptor) -> bool:
    return field_behavior_pb2.OUTPUT_ONLY in _behaviors(field)


# The canonical spelling the server accepts: 8-4-4-4-12 hex digits, either case.
UUID_PATTERN = f"^{UUID}$"
# An issue named by its uuid or by its identifier (`ACM-42`, prefix any case).
ISSUE_ID_PATTERN = f"^(?:{UUID}|{IDENTIFIER})$"
# RFC 3339, as the list filters take it (common/patterns.py); the format says
# the date must exist as well, which the server checks.
DATE_TIME_PATTERN = f"^{DATE_TIME}$"
# "Not blank, no NUL": some character outside Python's str.isspace() set. The
# set is spelled out because ECMA-262's \s differs from Python's (\x1c-\x1f,
# \x85, \ufeff), and the document must mean the same in both.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"


@dataclass(frozen=True)
class Rules:
    """A field's `issues.v1.rules`, with `patterns` holding every pattern they imply.

    On a repeated field, `min_items`/`max_items` bound the list and the rest
    apply to each item.
    """

    min_length: int | None = None
    max_length: int | None = None
    patterns: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    format: str | None = None
    not_blank: bool = False
    clearable: bool = False
    # Map fields: what every key must match.
    key_pattern: str | None = None


_NO_RULES = Rules()


@functools.cache
def field_rules(field: FieldDescriptor) -> Rules:
    """The rules declared on a field; an empty Rules when it declares none."""
    options = field.GetOptions()
    if not options.HasExtension(options_pb2.rules):
        return _NO_RULES
    r = options.Extensions[options_pb2.rules]

    def get(name: Literal["min_length", "max_length", "minimum", "maximum", "min_items", "max_items"]) -> int | None:
        return getattr(r, name) if r.HasField(name) else None

    patterns = [r.pattern] if r.pattern else []
    if r.not_blank:
        patterns.append(NOT_BLANK_PATTERN)
    if r.format == "uuid":
        patterns.append(UUID_PATTERN)
    elif r.format == "issue_id":
        patterns.append(ISSUE_ID_PATTERN)
    elif r.format == "date-time":
        patterns.append(DATE_TIME_PATTERN)
    return Rules(
        min_length=get("min_length"),
        max_length=get("max_length"),
        patterns=tuple(patterns),
        minimum=get("minimum"),
        maximum=get("maximum"),
        min_items=get("min_items"),
        max_items=get("max_items"),
        format=r.format or None,
        not_blank=r.not_blank,
        clearable=r.clearable,
        key_pattern=r.key_pattern or None,
    )


def query_name(field: FieldDescriptor) -> str:
    """The field's name as a query parameter: its `json_name` where the proto
    declares one (`after_sequence` is `?after=`), else its own name."""
    parts = field.name.split("_")
    default = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return field.json_name if field.json_name != default else field.name

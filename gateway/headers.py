"""HTTP headers that stand for fields of the contract, by the fields' names
(SPEC 8.10; AIP-154 and AIP-155).

Generic like the rest of the gateway, never per route:

- a request message with a top-level string field `request_id` takes the
  `Idempotency-Key` header, one with `etag` the `If-Match` header (its
  entity tag unquoted; `*` is no condition). `etag` comes from its header
  only; `request_id` also from a JSON body (AIP-155 makes it a request
  field), and a header that says otherwise than the body is a 400 naming
  it. Neither comes from the query string;
- a response message with a top-level string field `etag` is also sent as
  the `ETag` header (a strong validator, in double quotes), and a GET (or
  HEAD) whose `If-None-Match` names it is answered 304 with no body.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from starlette.datastructures import Headers
from starlette.requests import Request

from .codec.writing import is_resource
from .errors import http_error, invalid_field

__all__ = [
    "ALSO_IN_BODY",
    "ETAG",
    "IF_MATCH_PATTERN",
    "REQUEST_HEADERS",
    "GatewayRequest",
    "RequestHeaders",
    "has_etag",
    "none_match",
    "quoted",
    "read",
    "request_headers",
]

# Request field -> the header that sets it.
REQUEST_HEADERS = {"request_id": "Idempotency-Key", "etag": "If-Match"}
# Of those, the fields a JSON body may carry as well.
ALSO_IN_BODY = frozenset({"request_id"})
# The response field sent as the ETag header.
ETAG = "etag"
# What If-Match may hold: `*`, or one entity tag (RFC 9110 8.8.3), quoted or,
# leniently, bare. A list is refused: the field holds one etag. (JSON
# Schema's pattern dialect too: the OpenAPI document states it.)
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"[!#-~]*"|[!#-+\--~]+)$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


class RequestHeaders(Headers):
    """A request's headers, read as Headers reads them; `get` without the
    Mapping's KeyError for each header absent (most of those a call asks for)."""

    def get(self, key: str, default: Any = None) -> Any:
        name = key.lower().encode("latin-1")
        for header, value in self._list:
            if header == name:
                return value.decode("latin-1")
        return default


class GatewayRequest(Request):
    """A Request whose headers are RequestHeaders."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = RequestHeaders(scope=self.scope)
        return self._headers


def _string_field(message: Descriptor, name: str) -> bool:
    f = message.fields_by_name.get(name)
    return f is not None and f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated


def request_headers(message: Descriptor) -> dict[str, str]:
    """Request field -> header, for the header-set fields `message` has."""
    return {name: header for name, header in REQUEST_HEADERS.items() if _string_field(message, name)}


def has_etag(message: Descriptor) -> bool:
    return is_resource(message)  # the writer's rule too: a resource is what has an etag


def read(message: Message, headers: Headers, fields: dict[str, str]) -> None:
    """Set `fields` (as `request_headers` gives them) from the request's headers,
    after the body: a header may repeat what the body set, not contradict it."""
    for name, header in fields.items():
        value = headers.get(header)
        if value is None:
            continue
        value = _if_match(value) if header == "If-Match" else value
        if getattr(message, name) not in ("", value):
            raise invalid_field(
                name, f"the {header} header says otherwise; send one of them, or the same value in both"
            )
        setattr(message, name, value)


def _if_match(value: str) -> str:
    """The entity tag If-Match names, unquoted; "" for `*` (any current one).

    A weak tag (`W/"..."`) is kept as sent: If-Match compares strongly
    (RFC 9110 13.1.1), so it can never match, and the change is refused.
    """
    value = value.strip()
    if not _IF_MATCH.match(value):
        raise http_error(400, "If-Match: send one entity tag (the etag, in double quotes), or *", field="If-Match")
    if value == "*":
        return ""
    if value[0] == '"':
        return value[1:-1]
    return value


def quoted(etag: str) -> str:
    return f'"{etag}"'


def none_match(value: str, etag: str) -> bool:
    """Whether `If-None-Match: value` names `etag` (weakly, as RFC 9110 13.1.2 says), or is `*`."""
    for tag in value.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag in (quoted(etag), etag):
            return True
    return False

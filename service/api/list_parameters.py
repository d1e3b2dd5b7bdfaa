"""A list request's parameters, carried by its page tokens (SPEC 8.9, AIP-158).

A list's *parameters* are the fields of its request message that a client
may leave out: the optional ones and the repeated ones (filters, `order_by`,
`offset`, events' `after`), except `limit`, the page size, which may change
from page to page. Required fields (the issue or webhook in the path) are
not parameters: they name the list, and its scope binds the token to them.

Every page token carries its walk's first request's parameters (`carried`:
protobuf's binary encoding, the most compact there is), so that a next
request may send the token alone. `completed` answers a next request: the
parameters it leaves out are the first request's, and one it sends must
equal the first request's, else INVALID_ARGUMENT naming `page_token`.
Repeated parameters compare as sets (every list's are: "any of" or "all
of"), so `status=a&status=b` may come again as `status=b&status=a`.

Parameters longer than CARRIED_MAX (dozens of long owners, tags or refs:
never a `q` alone) would make a token too long for a URL; their token
carries their SHA-256 instead, and its next requests must send them all
again (compared through the digest).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from common.descriptors import query_name

from ..app import page_tokens
from ..domain.errors import InvalidArgument

M = TypeVar("M", bound=Message)

_NOT_PARAMETERS = frozenset({"limit", "page_token"})
# Bytes of parameters a token carries: a `q` of 500 four-byte characters
# (2,003) and a few other filters; tokens of at most ~3,600 characters
# (page_tokens.TOKEN_MAX).
CARRIED_MAX = 2560
# What the carried bytes start with: the parameters, or their digest.
_IN_FULL, _DIGEST = b"p", b"#"


@functools.cache
def parameters(descriptor: Descriptor) -> tuple[FieldDescriptor, ...]:
    """The parameters of a list request type, in field order."""
    found = tuple(f for f in descriptor.fields if (f.is_repeated or f.has_presence) and f.name not in _NOT_PARAMETERS)
    # Repeated parameters compare as sorted sets: only scalars sort.
    assert not any(f.is_repeated and f.message_type is not None for f in found), descriptor.full_name
    return found


def _present(request: Message, f: FieldDescriptor) -> bool:
    return bool(getattr(request, f.name)) if f.is_repeated else request.HasField(f.name)


def _value(request: Message, f: FieldDescriptor) -> Any:
    """A parameter's value as compared: a repeated one as its sorted distinct
    values, an absent one as its default."""
    value = getattr(request, f.name)
    return sorted(set(value)) if f.is_repeated else value


def _copy(source: Message, target: Message, f: FieldDescriptor) -> None:
    if f.is_repeated:
        getattr(target, f.name)[:] = _value(source, f)
    elif f.message_type is not None:
        getattr(target, f.name).CopyFrom(getattr(source, f.name))
    else:
        setattr(target, f.name, getattr(source, f.name))


def _encoded(request: Message) -> bytes:
    kept = type(request)()
    for f in parameters(request.DESCRIPTOR):
        if _present(request, f):
            _copy(request, kept, f)
    return kept.SerializeToString(deterministic=True)


def carried(request: Message) -> bytes:
    """The parameters of `request` as a page token carries them: in full, or
    their digest when longer than CARRIED_MAX."""
    encoded = _encoded(request)
    if len(encoded) > CARRIED_MAX:
        return _DIGEST + hashlib.sha256(encoded).digest()
    return _IN_FULL + encoded


def completed(request: M, first_parameters: bytes) -> M:
    """`request` with the parameters it leaves out taken from its walk's first
    request (`first_parameters`, as `carried` gave them); INVALID_ARGUMENT
    naming page_token if it sends one with another value."""
    kind, encoded = first_parameters[:1], first_parameters[1:]
    if kind == _DIGEST:
        if hashlib.sha256(_encoded(request)).digest() != encoded:
            raise InvalidArgument.field(
                page_tokens.FIELD,
                "was made for other parameters (or for parameters too long for a token to carry"
                " them: send them all again with page_token)",
            )
        return request
    first = type(request)()
    try:
        first.ParseFromString(encoded)
    except DecodeError:  # signed by us, but by a version with other fields
        raise InvalidArgument.field(page_tokens.FIELD, "is not a page token of this list") from None
    out = type(request)()
    out.CopyFrom(request)
    differing = []
    for f in parameters(request.DESCRIPTOR):
        if not _present(request, f):
            if _present(first, f):
                _copy(first, out, f)
        elif _value(request, f) != _value(first, f):
            differing.append(f.name if query_name(f) == f.name else f"{f.name} (?{query_name(f)}=)")
    if differing:
        raise InvalidArgument.field(
            page_tokens.FIELD,
            f"was made for other parameters ({', '.join(differing)}): send the first request's"
            " parameters as they were with page_token, or page_token alone",
        )
    return out

"""Reply messages as the contract's JSON bytes, each resource's text kept for the next reply.

The shape is `common.jsonout`'s; the bytes come from orjson, whose C encoder
takes a small fraction of the json module's time (a page of 100 issues:
tens of µs against hundreds). Where orjson refuses a value (nesting past
its 255 levels), the json module writes it as before.

A list page answers the same resources call after call, and turning one
issue into JSON values costs tens of µs, a page some milliseconds. So a
resource (a message with a top-level `etag`, AIP-154), at the top of a
reply or directly in one of its fields, is written once per state: its text
is kept, keyed by its type and its serialized bytes. The key is the whole
message, so a kept text is by construction what writing the message again
would give, for any caller; a change of any field (a count, an attachment)
is another key. Only replies to reads are kept (`keep`): a create or an
update names a state nobody has asked for yet. The texts are bounded by
bytes, oldest out first.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Callable

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from common.jsonout import JsonValue, field_plan, to_json

__all__ = ["MAX_ENTRY_BYTES", "MAX_KEPT_BYTES", "ReplyWriter", "dumps"]

# Enough for the texts of a few thousand issues of ordinary size.
MAX_KEPT_BYTES = 8 << 20
# A resource larger than this (a long description) is written each time.
MAX_ENTRY_BYTES = 64 << 10

_Plan = Callable[[Message, bool], JsonValue]


def dumps(value: JsonValue) -> bytes:
    """JSON bytes, compact and UTF-8, as `json.dumps(ensure_ascii=False, separators=(",", ":"))` writes them
    (floats aside: orjson writes 1e-05 as 0.00001, the same number)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: nested deeper than orjson goes
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def is_resource(descriptor: Descriptor) -> bool:
    f = descriptor.fields_by_name.get("etag")
    return f is not None and f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated


class ReplyWriter:
    """Writes reply messages as JSON bytes, keeping the texts of the resources in them."""

    def __init__(self, max_bytes: int = MAX_KEPT_BYTES, max_entry_bytes: int = MAX_ENTRY_BYTES) -> None:
        self._max_bytes = max_bytes
        self._max_entry_bytes = max_entry_bytes
        # Per resource type, serialized message -> its JSON text; one type's
        # bytes may be another's, so each type has its own.
        self._texts: dict[str, dict[bytes, bytes]] = {}
        self._order: collections.deque[tuple[dict[bytes, bytes], bytes, int]] = collections.deque()  # oldest first
        self._size = 0
        self._lock = threading.Lock()  # an app serves on one loop; tests may share a writer across threads
        self._plans: dict[str, _Plan] = {}  # by message type
        self._fields: dict[str, _Plan] = {}  # by field

    @property
    def kept(self) -> int:
        """How many texts are kept."""
        return len(self._order)

    @property
    def kept_bytes(self) -> int:
        """What the kept texts and their keys take."""
        return self._size

    def write(self, message: Message, *, keep: bool = False, field: str | None = None) -> bytes:
        """`message` as JSON bytes; with `field`, that field's value alone (a bare array).
        `keep`: look for and keep the texts of the resources in it (a read's reply)."""
        # The stubs type DESCRIPTOR as the pure-Python or the upb class; at run time one.
        descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
        if field is not None:
            return dumps(self._field(descriptor.fields_by_name[field])(message, keep))
        if keep and is_resource(descriptor):
            return self._text(self._texts_of(descriptor), message)
        return dumps(self._plan(descriptor)(message, keep))

    def _texts_of(self, descriptor: Descriptor) -> dict[bytes, bytes]:
        texts = self._texts.get(descriptor.full_name)
        if texts is None:
            texts = self._texts.setdefault(descriptor.full_name, {})
        return texts

    def _text(self, texts: dict[bytes, bytes], message: Message) -> bytes:
        key = message.SerializeToString()
        text = texts.get(key)
        if text is None:
            text = dumps(to_json(message))
            size = len(key) + len(text)
            if size <= self._max_entry_bytes:
                self._keep(texts, key, text, size)
        return text

    def _keep(self, texts: dict[bytes, bytes], key: bytes, text: bytes, size: int) -> None:
        with self._lock:
            if key in texts:
                return
            texts[key] = text
            self._order.append((texts, key, size))
            self._size += size
            while self._size > self._max_bytes:
                old_texts, old_key, old_size = self._order.popleft()
                del old_texts[old_key]
                self._size -= old_size

    def _plan(self, descriptor: Descriptor) -> _Plan:
        """How to write a message of this type: to_json's plan, with its resource fields' texts kept."""
        plan = self._plans.get(descriptor.full_name)
        if plan is None:
            if field_plan(descriptor) is None or not any(_holds_resources(f) for f in descriptor.fields):
                plan = _plain
            else:
                getters = [(f.name, self._field(f)) for f in descriptor.fields]

                def plan(message: Message, keep: bool) -> JsonValue:
                    return {name: get(message, keep) for name, get in getters}

            self._plans[descriptor.full_name] = plan
        return plan

    def _field(self, f: FieldDescriptor) -> _Plan:
        """How to write one field's value: a resource's from its kept text, when kept."""
        write = self._fields.get(f.full_name)
        if write is None:
            write = self._fields[f.full_name] = self._field_writer(f)
        return write

    def _field_writer(self, f: FieldDescriptor) -> _Plan:
        owner = f.containing_type
        assert owner is not None  # a field of a message, not an extension
        plain = dict(field_plan(owner) or ())[f.name]
        if not _holds_resources(f):
            return lambda message, keep: plain(message)
        assert f.message_type is not None
        name, texts, text = f.name, self._texts_of(f.message_type), self._text
        if f.is_repeated:
            # One fragment for the whole array: orjson copies it as it is.
            return lambda message, keep: (
                orjson.Fragment(b"[" + b",".join([text(texts, item) for item in getattr(message, name)]) + b"]")
                if keep
                else plain(message)
            )
        return lambda message, keep: (
            orjson.Fragment(text(texts, getattr(message, name))) if keep and message.HasField(name) else plain(message)
        )


def _holds_resources(f: FieldDescriptor) -> bool:
    """A field of resources, one or a list (not a map: its values are written under keys)."""
    t = f.message_type
    return t is not None and not t.GetOptions().map_entry and is_resource(t)


def _plain(message: Message, keep: bool) -> JsonValue:
    return to_json(message)

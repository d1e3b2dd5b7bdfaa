"""service/api/webhook_messages.body: a delivery's body written straight from
the stored event is byte for byte what the contract's message gives (the
event as GET /api/v1/events shows it), and numbers a Struct would print
differently take the message's way."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest

from common.jsonout import to_json
from service.api import webhook_messages
from service.api.messages import event
from service.storage.outbox import StoredEvent

AT = datetime.datetime(2026, 12, 7, 20, 30, 1, 123456)

DATA = [
    {},
    {"title": 'é ü ✓ \u0000 "quoted"', "b": True, "n": None, "z": 0, "a": -7},
    {"changes": {"status": {"from": "open", "to": "closed"}, "tags": {"added": ["x", "y"], "removed": []}}},
    {"list": [1, "two", [3, {"k": False}], None], "nested": {"z": {"b": 1, "a": 2}}},
    {"big": 2**53 - 1, "small": -(2**53 - 1)},
    {"unsafe": 2**53 + 1},  # a Struct's double prints it otherwise: the message's way
    {"ratio": 0.5, "whole": 3.0},  # floats: the message's way
]


def _body_by_message(stored: StoredEvent) -> bytes:
    shown = to_json(event(stored))
    return json.dumps(shown, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("issue", [None, uuid.UUID("6f1c1b2e-7d3a-4b8e-9a7e-0c2d4e6f8a10")])
def test_the_body_is_the_messages_json_byte_for_byte(data, issue):
    stored = StoredEvent(42, "issue.updated", issue, "a@b.co", AT, json.dumps(data))
    claimed = webhook_messages.Claimed(*([None] * 11), stored, None)  # type: ignore[arg-type]
    assert webhook_messages.body(claimed) == _body_by_message(stored)


def test_only_safe_whole_numbers_take_the_direct_way():
    plain = StoredEvent(1, "issue.created", None, "a@b.co", AT, json.dumps({"n": 5}))
    assert webhook_messages._event_json(plain) is not None
    for data in ({"n": 0.5}, {"n": 2**60}, {"n": float("nan")}):
        assert webhook_messages._event_json(plain._replace(data=json.dumps(data))) is None

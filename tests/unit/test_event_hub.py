"""The event hub on its own, with a table in memory: the switch from replay
to live loses and repeats nothing, and a watcher that falls too far behind
ends with RESOURCE_EXHAUSTED after what it had, to resume by sequence."""

from __future__ import annotations

import asyncio
import datetime
import threading
from typing import Any

import pytest

from issues.v1 import event_pb2
from service.api import event_hub
from service.app.event_reads import Page
from service.domain.errors import OutOfRange, ResourceExhausted, Unauthenticated
from service.storage.outbox import StoredEvent


class Table:
    def __init__(self) -> None:
        self.rows: list[StoredEvent] = []
        self.pruned = 0
        self.lock = threading.Lock()

    def add(self, n: int, type: str = "issue.created") -> None:
        with self.lock:
            for _ in range(n):
                seq = len(self.rows) + 1
                self.rows.append(StoredEvent(seq, type, None, "a@b.c", datetime.datetime(2026, 1, 1), f'{{"n":{seq}}}'))

    def read(self, workspace_id: int, after: int, limit: int, types: Any = ()) -> Page:
        with self.lock:
            found = [r for r in self.rows if r.sequence > after and (not types or r.type in types)]
            return Page(found[:limit], len(self.rows), self.pruned)


def sequences(items: list[bytes]) -> list[int]:
    return [event_pb2.Event.FromString(i).sequence for i in items]


async def take(stream: Any, n: int) -> list[bytes]:
    return [await asyncio.wait_for(stream.__anext__(), 5) for _ in range(n)]


def test_replay_then_live_with_no_gap_and_no_duplicate() -> None:
    table = Table()
    table.add(event_hub.PAGE + 7)  # more than one page to replay

    async def main() -> list[int]:
        hub = event_hub.EventHub(table.read, poll_seconds=0.05, positions=None)
        hub.attach(asyncio.get_running_loop())
        stream = hub.watch(1, 0, ())
        got = await take(stream, event_hub.PAGE)
        table.add(5)  # commits while it replays
        hub.poke(1)
        got += await take(stream, 7 + 5)
        table.add(3)
        hub.poke(1)
        got += await take(stream, 3)
        await stream.aclose()
        hub.close()
        return sequences(got)

    assert asyncio.run(main()) == list(range(1, event_hub.PAGE + 7 + 5 + 3 + 1))


def test_a_type_filter_and_a_watch_from_now_on() -> None:
    table = Table()
    table.add(3)

    async def main() -> list[int]:
        hub = event_hub.EventHub(table.read, poll_seconds=0.05, positions=None)
        hub.attach(asyncio.get_running_loop())
        stream = hub.watch(1, None, ["comment.created"])
        first = asyncio.ensure_future(take(stream, 2))
        await asyncio.sleep(0.1)
        table.add(2, "issue.updated")
        table.add(2, "comment.created")
        hub.poke(1)
        got = await first
        await stream.aclose()
        hub.close()
        return sequences(got)

    assert asyncio.run(main()) == [6, 7]


def test_a_watcher_that_falls_behind_ends_resource_exhausted_after_what_it_had(monkeypatch) -> None:
    monkeypatch.setattr(event_hub, "QUEUE_MAX", 10)
    table = Table()

    async def main() -> tuple[list[int], BaseException]:
        hub = event_hub.EventHub(table.read, poll_seconds=60, positions=None)
        hub.attach(asyncio.get_running_loop())
        stream = hub.watch(1, 0, ())
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.1)  # it has joined the feed, and waits
        table.add(25)  # it does not read while these arrive
        hub.poke(1)
        await asyncio.sleep(0.2)
        got = [await pending]
        with pytest.raises(ResourceExhausted) as ended:
            while True:
                got.append(await stream.__anext__())
        hub.close()
        return sequences(got), ended.value

    got, error = asyncio.run(main())
    assert got == list(range(1, 11))  # what fit in its bound, in order
    assert "resume after sequence 10" in error.message


def test_a_pruned_cursor_is_out_of_range_but_zero_is_everything_kept() -> None:
    table = Table()
    table.add(5)
    table.pruned = 3

    async def main() -> list[int]:
        hub = event_hub.EventHub(table.read, poll_seconds=60, positions=None)
        hub.attach(asyncio.get_running_loop())
        with pytest.raises(OutOfRange):
            await hub.watch(1, 2, ()).__anext__()
        stream = hub.watch(1, 3, ())
        got = await take(stream, 2)
        await stream.aclose()
        hub.close()
        return sequences(got)

    assert asyncio.run(main()) == [4, 5]


def test_the_declared_type_pattern_is_exactly_the_known_types() -> None:
    import re

    from common.descriptors import field_rules
    from issues.v1 import issue_service_pb2 as pb
    from service.domain.event_types import TYPES

    for request in (pb.WatchEventsRequest, pb.ListEventsRequest):
        (pattern,) = field_rules(request.DESCRIPTOR.fields_by_name["types"]).patterns
        assert all(re.match(pattern, t) for t in TYPES)
        assert not re.match(pattern, "issue.exploded")
        assert field_rules(request.DESCRIPTOR.fields_by_name["types"]).max_items == len(TYPES)


def test_a_lost_wake_up_costs_latency_only() -> None:
    table = Table()

    async def main() -> list[int]:
        hub = event_hub.EventHub(table.read, poll_seconds=0.1, positions=lambda ids: {1: len(table.rows)})
        hub.attach(asyncio.get_running_loop())
        stream = hub.watch(1, 0, ())
        pending = asyncio.ensure_future(take(stream, 3))
        await asyncio.sleep(0.05)
        table.add(3)  # committed, but nobody pokes the hub: the poll finds it
        got = await pending
        await stream.aclose()
        hub.close()
        return sequences(got)

    assert asyncio.run(main()) == [1, 2, 3]


def test_every_watchers_token_is_rechecked_on_one_tick_and_a_failed_check_ends_its_stream(monkeypatch) -> None:
    monkeypatch.setattr(event_hub, "RECHECK_SECONDS", 0.05)
    table = Table()
    revoked = {"b"}
    rounds: list[str] = []

    async def main() -> dict[str, BaseException]:
        hub = event_hub.EventHub(table.read, poll_seconds=60, positions=None)
        hub.attach(asyncio.get_running_loop())

        def recheck_of(token: str) -> Any:
            async def recheck() -> None:
                rounds.append(token)
                if token in revoked:
                    raise Unauthenticated(f"token {token} was revoked")

            return recheck

        streams = {t: hub.watch(1, 0, (), recheck=recheck_of(t)) for t in ("a", "b", "c")}
        pending = {t: asyncio.ensure_future(s.__anext__()) for t, s in streams.items()}
        ended: dict[str, BaseException] = {}
        with pytest.raises(Unauthenticated) as failed:
            await asyncio.wait_for(pending["b"], 5)
        ended["b"] = failed.value
        for _ in range(50):  # a and c keep going, rechecked tick after tick
            if rounds.count("a") >= 3 and rounds.count("c") >= 3:
                break
            await asyncio.sleep(0.05)
        assert not pending["a"].done() and not pending["c"].done()
        for token in ("a", "c"):
            pending[token].cancel()
        hub.close()
        return ended

    ended = asyncio.run(main())
    assert "token b was revoked" in ended["b"].message
    assert rounds.count("a") >= 3 and rounds.count("c") >= 3
    assert abs(rounds.count("a") - rounds.count("c")) <= 1  # due together, tick by tick
    assert rounds.count("b") == 1

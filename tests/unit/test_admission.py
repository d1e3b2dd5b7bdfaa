"""Call slots: how many run, how many wait and for how long, and which calls count where."""

from __future__ import annotations

import threading

import pytest

from common.descriptors import SERVICE
from service.api.admission import RESERVED_THREADS, Admission, CallSlots
from service.domain.errors import Unavailable


def _hold(slots: CallSlots, release: threading.Event, entered: threading.Event) -> threading.Thread:
    def run() -> None:
        with slots.held(None):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(5)
    return thread


class _WatchedCondition(threading.Condition):
    """The slots' condition, telling the test when a call starts waiting on it
    (a barrier, where a sleep would only make waiting likely)."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.set()
        return super().wait(timeout)


def _watched(slots: CallSlots) -> _WatchedCondition:
    slots._free = condition = _WatchedCondition()
    return condition


def _call(slots: CallSlots, outcome: list[str], time_remaining: float | None = None) -> threading.Thread:
    """A call in a thread of its own; `outcome` gets "ran" or the refusal's message."""

    def run() -> None:
        try:
            with slots.held(time_remaining):
                outcome.append("ran")
        except Unavailable as refused:
            outcome.append(str(refused))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_waiting_call_gets_the_slot_that_frees_up():
    slots = CallSlots(1, 1, wait_seconds=30)
    condition = _watched(slots)
    release, entered = threading.Event(), threading.Event()
    holder = _hold(slots, release, entered)
    outcome: list[str] = []
    waiter = _call(slots, outcome)
    assert condition.waited.wait(5)
    assert outcome == []  # it waits for the slot
    release.set()
    waiter.join(5)
    holder.join(5)
    assert outcome == ["ran"]


def test_past_the_waiting_places_a_call_is_refused_at_once_and_a_waiter_after_its_wait():
    # Waits are long here: a refusal naming the waiting places, not the wait,
    # shows the call did not wait (no clock is read).
    slots = CallSlots(1, 1, wait_seconds=30)
    condition = _watched(slots)
    release, entered = threading.Event(), threading.Event()
    holder = _hold(slots, release, entered)
    outcome: list[str] = []
    waiter = _call(slots, outcome)
    assert condition.waited.wait(5)  # the one waiting place is taken
    with pytest.raises(Unavailable, match="every call slot and waiting place is taken"):
        with slots.held(None):
            pass
    release.set()
    waiter.join(5)
    holder.join(5)
    assert outcome == ["ran"]
    # A waiter is refused after its wait: the slots' own, or the call's
    # deadline when sooner; the refusal names the wait it had.
    entered.clear()
    release.clear()
    holder = _hold(slots, release, entered)
    bounded: list[str] = []
    _call(slots, bounded, time_remaining=0.2).join(10)
    assert bounded == ["the server is busy: no call slot freed up within 0.2 s; retry later"]
    release.set()
    holder.join(5)
    short = CallSlots(1, 1, wait_seconds=0.3)
    entered.clear()
    release.clear()
    holder = _hold(short, release, entered)
    _call(short, bounded).join(10)
    assert bounded[1:] == ["the server is busy: no call slot freed up within 0.3 s; retry later"]
    release.set()
    holder.join(5)
    with slots.held(None):
        pass  # free again


def test_streams_have_slots_of_their_own_and_the_pool_has_room_for_all_plus_the_reserve():
    admission = Admission.for_call_slots(16)
    methods = SERVICE.methods_by_name
    assert admission.slots_for(methods["UploadBlob"]) is admission.streams
    assert admission.slots_for(methods["DownloadBlob"]) is admission.streams
    assert admission.slots_for(methods["GetIssue"]) is admission.unary
    assert (admission.unary.running, admission.unary.waiting) == (16, 64)
    assert (admission.streams.running, admission.streams.waiting) == (16, 0)
    assert admission.threads == 16 + 64 + 16 + RESERVED_THREADS

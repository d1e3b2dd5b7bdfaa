"""Call slots: how many run, how many wait and for how long, and which calls count where."""

from __future__ import annotations

import threading
import time

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


def test_a_waiting_call_gets_the_slot_that_frees_up():
    slots = CallSlots(1, 1, wait_seconds=5)
    release, entered = threading.Event(), threading.Event()
    holder = _hold(slots, release, entered)
    got = threading.Event()

    def wait() -> None:
        with slots.held(None):
            got.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    assert not got.is_set()
    release.set()
    waiter.join(5)
    holder.join(5)
    assert got.is_set()


def test_past_the_waiting_places_a_call_is_refused_at_once_and_a_waiter_after_its_wait():
    slots = CallSlots(1, 1, wait_seconds=0.3)
    release, entered = threading.Event(), threading.Event()
    holder = _hold(slots, release, entered)
    outcome: list[str] = []

    def wait() -> None:
        try:
            with slots.held(None):
                outcome.append("ran")
        except Unavailable:
            outcome.append("refused")

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="waiting place"):
        with slots.held(None):
            pass
    assert time.monotonic() - started < 0.1
    waiter.join(5)
    assert outcome == ["refused"]
    # The call's own deadline, when sooner, bounds the wait.
    started = time.monotonic()
    with pytest.raises(Unavailable):
        with slots.held(0.05):
            pass
    assert time.monotonic() - started < 0.2
    release.set()
    holder.join(5)
    with slots.held(None):
        pass  # free again


def test_streams_have_slots_of_their_own_and_the_pool_has_room_for_all_plus_the_reserve():
    admission = Admission.for_workers(16)
    methods = SERVICE.methods_by_name
    assert admission.slots_for(methods["UploadBlob"]) is admission.streams
    assert admission.slots_for(methods["DownloadBlob"]) is admission.streams
    assert admission.slots_for(methods["GetIssue"]) is admission.unary
    assert (admission.unary.running, admission.unary.waiting) == (16, 64)
    assert (admission.streams.running, admission.streams.waiting) == (16, 0)
    assert admission.threads == 16 + 64 + 16 + RESERVED_THREADS

"""Parsing ISSUES_RATE_LIMIT and the token bucket's arithmetic, on a given clock."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
import threading
import time

import pytest

from service.api.rate_limit import InProcessBuckets, RateLimit, SharedBuckets


@pytest.mark.parametrize("text, rate, burst", [("5", 5.0, 10), ("0.5", 0.5, 1), ("10/3", 10.0, 3), (" 2 / 7 ", 2.0, 7)])
def test_rate_and_burst_default_to_twice_the_rate(text, rate, burst):
    assert RateLimit.parse(text) == RateLimit(rate, burst)


def test_unset_is_no_limit():
    assert RateLimit.parse("") is None


def test_a_bucket_refills_at_the_rate_and_never_past_the_burst():
    limit = RateLimit(2.0, 3)
    buckets = InProcessBuckets()
    assert [buckets.take("a", limit, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", limit, 100.0) == pytest.approx(0.5)
    assert buckets.take("a", limit, 100.25) == pytest.approx(0.25)  # a refusal takes nothing
    assert buckets.take("a", limit, 100.5) == 0.0
    # An hour idle refills to the burst, not to 7,200 calls.
    assert [buckets.take("a", limit, 3700.0) for _ in range(4)][3] == pytest.approx(0.5)


# -- the table the worker processes of one host share --------------------------------


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "rate-limits"
    SharedBuckets.create(path, slots=64)
    return path


def test_the_shared_table_has_the_same_arithmetic(table):
    limit = RateLimit(2.0, 3)
    buckets = SharedBuckets(table)
    assert [buckets.take("a", limit, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", limit, 100.0) == pytest.approx(0.5)
    assert buckets.take("a", limit, 100.25) == pytest.approx(0.25)
    assert buckets.take("a", limit, 100.5) == 0.0
    assert [buckets.take("a", limit, 3700.0) for _ in range(4)][3] == pytest.approx(0.5)
    assert buckets.take("b", limit, 3700.0) == 0.0  # another key, another bucket


def test_two_openings_of_the_table_share_one_bucket(table):
    limit = RateLimit(1.0, 2)
    first, second = SharedBuckets(table), SharedBuckets(table)
    assert first.take("k", limit, 10.0) == 0.0
    assert second.take("k", limit, 10.0) == 0.0
    assert first.take("k", limit, 10.0) > 0 and second.take("k", limit, 10.0) > 0


def test_a_full_neighbourhood_gives_way_to_the_bucket_idle_longest(table):
    limit = RateLimit(1.0, 1)
    buckets = SharedBuckets(table)
    # Far more keys than slots: every lookup still answers, and a key just used keeps its bucket.
    for i in range(500):
        assert buckets.take(f"key-{i}", limit, float(i)) == 0.0
    assert buckets.take("key-499", limit, 499.0) == pytest.approx(1.0)


def test_a_torn_slot_is_clamped_back_into_range(table):
    limit = RateLimit(1.0, 2)
    buckets = SharedBuckets(table)
    buckets.take("k", limit, 10.0)
    with open(table, "r+b") as f:  # what a writer killed mid-slot could leave
        data = bytearray(f.read())
        data[64 + 16 : 64 + 32] = b"\xff" * 16  # NaN calls available, NaN time
        f.seek(0)
        f.write(data)
    assert [buckets.take(f"k{i}", limit, 11.0) for i in range(3)] == [0.0] * 3
    assert buckets.take("k", limit, 11.0) >= 0.0


def test_not_a_table_is_refused(tmp_path):
    path = tmp_path / "other"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(ValueError):
        SharedBuckets(path)


def _hammer(path: str, calls: int, results) -> None:
    buckets = SharedBuckets(path)
    limit = RateLimit(0.001, 25)  # a burst of 25, then nothing for the test's duration
    admitted: list[int] = []

    def thread() -> None:
        admitted.append(sum(buckets.take("shared", limit, time.monotonic()) == 0.0 for _ in range(calls)))

    threads = [threading.Thread(target=thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(sum(admitted))


def test_processes_hammering_one_bucket_admit_the_burst_once(table):
    """Four processes with four threads each, 400 calls: exactly the burst passes."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_hammer, args=(str(table), 25, results)) for _ in range(4)]
    for p in processes:
        p.start()
    admitted = sum(results.get(timeout=60) for _ in processes)
    for p in processes:
        p.join(30)
    assert admitted == 25


def test_a_process_killed_holding_the_lock_does_not_stop_the_others(table):
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child takes the lock and is killed while holding it
        held = SharedBuckets(table)
        fcntl.flock(held._fd, fcntl.LOCK_EX)
        os.write(ready_w, b"1")
        time.sleep(60)
        os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        os.kill(pid, signal.SIGKILL)
    finally:
        os.waitpid(pid, 0)
    assert SharedBuckets(table).take("k", RateLimit(1.0, 1), time.monotonic()) == 0.0

"""common.periodic: the housekeeping loop's start, ticks and stop."""

from __future__ import annotations

import threading

from common.periodic import Periodic


def test_it_ticks_repeatedly_on_a_named_daemon_thread_until_stopped() -> None:
    ticked = threading.Semaphore(0)
    names: list[str] = []

    def tick() -> None:
        names.append(threading.current_thread().name)
        ticked.release()

    loop = Periodic("housekeeping", 0.001, tick)
    loop.start()
    for _ in range(3):
        assert ticked.acquire(timeout=10)
    loop.stop(wait=True)
    assert set(names) == {"housekeeping"}
    # Its thread has ended, so nothing ticks after stop(wait=True) returned.
    assert not any(t.name == "housekeeping" and t.is_alive() for t in threading.enumerate())


def test_stop_with_wait_lets_the_tick_in_progress_finish() -> None:
    inside, release, finished = threading.Event(), threading.Event(), threading.Event()

    def tick() -> None:
        inside.set()
        release.wait(10)
        finished.set()

    loop = Periodic("slow", 0.001, tick)
    loop.start()
    assert inside.wait(10)
    stopper = threading.Thread(target=loop.stop, kwargs={"wait": True})
    stopper.start()
    stopper.join(0.05)
    assert stopper.is_alive() and not finished.is_set()  # still waiting for the tick
    release.set()
    stopper.join(10)
    assert not stopper.is_alive() and finished.is_set()


def test_stop_before_start_is_harmless() -> None:
    Periodic("never", 1.0, lambda: None).stop(wait=True)

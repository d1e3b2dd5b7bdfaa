"""Token rechecks asked for in one turn of the loop run as one job on a
thread, one check per distinct token, and each stream gets its token's answer."""

from __future__ import annotations

import asyncio
import threading

import pytest

from service.api.token_rechecks import TokenRechecks
from service.domain.errors import Unauthenticated


def test_checks_asked_together_run_once_per_token_on_another_thread() -> None:
    calls: list[tuple[str, bool]] = []
    loop_thread: list[int] = []

    def check(token: str) -> None:
        calls.append((token, threading.get_ident() != loop_thread[0]))
        if token == "revoked":
            raise Unauthenticated("the token was revoked")

    async def main() -> list[object]:
        loop_thread.append(threading.get_ident())
        rechecks = TokenRechecks(check)
        asked = ["good"] * 5 + ["revoked"] * 3 + ["other"]
        return await asyncio.gather(*(rechecks.holds(t) for t in asked), return_exceptions=True)

    answers = asyncio.run(main())
    assert sorted(calls) == [("good", True), ("other", True), ("revoked", True)]
    assert answers[:5] == [None] * 5 and answers[8] is None
    failures = answers[5:8]
    assert all(isinstance(f, Unauthenticated) and f.message == "the token was revoked" for f in failures)
    assert len({id(f) for f in failures}) == 3  # one copy each: raised in three tasks


def test_a_later_turn_checks_again() -> None:
    calls: list[str] = []

    async def main() -> None:
        rechecks = TokenRechecks(calls.append)
        await rechecks.holds("t")
        await rechecks.holds("t")

    asyncio.run(main())
    assert calls == ["t", "t"]


def test_a_stream_cancelled_while_its_check_runs_is_skipped() -> None:
    release = threading.Event()

    def check(token: str) -> None:
        release.wait(5)

    async def main() -> object:
        rechecks = TokenRechecks(check)
        first = asyncio.ensure_future(rechecks.holds("t"))
        second = asyncio.ensure_future(rechecks.holds("t"))
        await asyncio.sleep(0)  # both asked; the job starts next turn
        await asyncio.sleep(0)
        first.cancel()
        release.set()
        await asyncio.wait_for(second, 5)  # a guard gone would leave it unsettled: fail, not hang
        with pytest.raises(asyncio.CancelledError):
            await first
        return second.result()

    assert asyncio.run(main()) is None

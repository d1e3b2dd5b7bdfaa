"""The live-events benchmark (issue 11):

    .venv/bin/python -m bench.events                 # 1,000 watchers, the full rows
    .venv/bin/python -m bench.events --watchers 20 --seconds 2   # small (the test runs this)

On a fresh PostgreSQL database it starts two replicas (`python -m service
serve`, A with the HTTP gateway in-process, B without) and measures:

1. the server's RSS with N idle gRPC watchers (WatchEvents) open on A, and,
   on a fresh replica C, with N idle Server-Sent Events watchers
   (`GET /api/v1/events`) on its in-process gateway (target: under 150 MiB
   each), and the writes/s (CreateIssue, 8 in flight, in another workspace)
   while they are open against the writes/s before (target: no more than
   10% lower);
2. event delivery latency from commit to a watcher on the *other* replica
   (B) under a steady write load on A: p50/p99 from the write's response to
   the event's arrival (clamped at 0: an event may arrive before the
   response does);
3. the price of fan-out: writes/s with `--following` watchers following
   the written workspace, each receiving every event.

Everything runs on loopback, bounded in time; every process it starts is
stopped and the database dropped at the end. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import resource
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import grpc  # noqa: E402

from bench import seed  # noqa: E402
from bench.run import free_port  # noqa: E402
from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc  # noqa: E402

MiB = 1 << 20


def _rss(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Replica:
    def __init__(self, url: str, workdir: pathlib.Path, http: bool) -> None:
        self.grpc_port = free_port()
        self.http_port = free_port() if http else 0
        self.log = open(workdir / f"replica-{self.grpc_port}.log", "wb")  # noqa: SIM115 - the replica's stderr while it runs
        argv = [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            url,
            "--grpc-listen",
            f"127.0.0.1:{self.grpc_port}",
        ]
        argv += ["--http-listen", f"127.0.0.1:{self.http_port}"] if http else ["--no-http"]
        self.process = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=self.log)
        with grpc.insecure_channel(self.target) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def rss(self) -> int:
        return _rss(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- watchers (asyncio, in this process) ----------------------------------------


async def _grpc_watchers(
    target: str,
    token: str,
    n: int,
    channels: int,
    arrived: dict[str, float] | None,
    opened: asyncio.Event,
    stop: asyncio.Event,
) -> int:
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    """n WatchEvents streams over `channels` connections; counts the events they received."""
    received = 0
    chans = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)
    ]
    metadata = (("authorization", f"Bearer {token}"),)
    ready = 0

    async def one(i: int) -> None:
        nonlocal received, ready
        call = issue_service_pb2_grpc.IssueServiceStub(chans[i % channels]).WatchEvents(
            pb.WatchEventsRequest(), metadata=metadata
        )
        await call.initial_metadata()
        ready += 1
        if ready == n:
            opened.set()
        try:
            async for event in call:
                received += 1
                if arrived is not None and i == 0:
                    arrived.setdefault(event.data["title"], time.monotonic())
        except (grpc.RpcError, asyncio.CancelledError):
            pass

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for chan in chans:
        await chan.close()
    return received


async def _sse_watchers(port: int, token: str, n: int, opened: asyncio.Event, stop: asyncio.Event) -> int:
    """n idle `GET /api/v1/events` (text/event-stream) connections; how many got their headers."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    ok = 0
    writers = []

    async def one() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        writer.write(
            (
                f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " in status:
            ok += 1
        if ok == n:
            opened.set()
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    await stop.wait()
    for writer in writers:
        writer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return ok


def _child(kind: str, args: tuple[Any, ...], opened: Any, stop: Any, results: Any) -> None:
    """The watchers of one phase, in a process of their own (no GIL shared with the writers)."""

    async def run() -> Any:
        opened_event, stop_event = asyncio.Event(), asyncio.Event()
        arrived: dict[str, float] | None = {} if kind == "grpc-timed" else None
        if kind == "sse":
            task = asyncio.ensure_future(_sse_watchers(*args, opened_event, stop_event))
        else:
            task = asyncio.ensure_future(_grpc_watchers(*args, arrived, opened_event, stop_event))
        await asyncio.wait_for(opened_event.wait(), 120)
        opened.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        stop_event.set()
        count = await task
        return count, arrived

    results.put(asyncio.run(run()))


class Background:
    """Watchers in a child process (spawned: grpc does not survive fork), until stopped.

    Both processes read CLOCK_MONOTONIC, so arrival times compare with the writers' ack times."""

    def __init__(self) -> None:
        import multiprocessing

        self._mp = multiprocessing.get_context("spawn")
        self.opened = self._mp.Event()
        self.stop_event = self._mp.Event()
        self.results = self._mp.Queue()
        self.process: Any = None

    def start(self, kind: str, *args: Any, timeout: float = 120) -> None:
        self.process = self._mp.Process(
            target=_child, args=(kind, args, self.opened, self.stop_event, self.results), daemon=True
        )
        self.process.start()
        if not self.opened.wait(timeout):
            self.process.kill()
            raise RuntimeError(f"the {kind} watchers did not open in {timeout} s")

    def stop(self) -> Any:
        self.stop_event.set()
        result = self.results.get(timeout=60)
        self.process.join(30)
        return result


# -- writes ---------------------------------------------------------------------


def _writes(
    target: str,
    token: str,
    seconds: float,
    concurrency: int = 8,
    rate: float | None = None,
    acked: dict[str, float] | None = None,
) -> float:
    """CreateIssue from `concurrency` threads for `seconds` (at most `rate`/s in all); writes per second."""
    done = 0
    lock = threading.Lock()
    end = time.monotonic() + seconds
    gap = concurrency / rate if rate else 0.0

    def writer() -> None:
        nonlocal done
        with grpc.insecure_channel(target) as channel:
            create = issue_service_pb2_grpc.IssueServiceStub(channel).CreateIssue
            metadata = (("authorization", f"Bearer {token}"),)
            next_at = time.monotonic()
            while time.monotonic() < end:
                title = f"bench-{uuid.uuid4().hex[:12]}"
                create(pb.CreateIssueRequest(title=title, description=[]), metadata=metadata, timeout=30)
                now = time.monotonic()
                with lock:
                    done += 1
                    if acked is not None:
                        acked[title] = now
                if gap:
                    next_at += gap
                    time.sleep(max(0.0, next_at - time.monotonic()))

    started = time.monotonic()
    threads = [threading.Thread(target=writer) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done / (time.monotonic() - started)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--admin-url", default=seed.ADMIN_URL)
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--channels", type=int, default=20, help="connections the gRPC watchers share")
    p.add_argument("--seconds", type=float, default=8.0, help="length of each write phase")
    p.add_argument("--rate", type=float, default=50.0, help="writes/s of the latency phase")
    p.add_argument("--following", type=int, default=20, help="watchers following the written workspace (row 3)")
    p.add_argument("--json", type=pathlib.Path, help="also write the results here")
    args = p.parse_args(argv)

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets each side
    workdir = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"issues-bench-events-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    name, url = seed.create_database(args.admin_url)
    replicas: list[Replica] = []
    results: dict[str, Any] = {"watchers": args.watchers}
    try:
        a = Replica(url, workdir, http=True)
        replicas.append(a)
        b = Replica(url, workdir, http=False)
        replicas.append(b)
        sys.path.insert(0, str(ROOT))
        os.environ["DATABASE_URL"] = url
        from service.app import tokens
        from service.storage import database

        db = database.open_database(url, pool_size=1)
        database.bind(db)
        token = tokens.create_token(
            f"bench-events-{uuid.uuid4().hex[:6]}", "bench@example.com", "member", create_workspace=True
        )
        idle_token = tokens.create_token(
            f"bench-idle-{uuid.uuid4().hex[:6]}", "bench@example.com", "viewer", create_workspace=True
        )
        db.close_all()

        _writes(a.target, token, 1.0)  # warm up both paths
        time.sleep(0.5)
        results["rss_baseline_mib"] = a.rss() / MiB
        results["writes_per_s_alone"] = _writes(a.target, token, args.seconds)

        # 1. idle gRPC watchers on A; idle SSE watchers on a fresh C (RSS seldom shrinks).
        bg = Background()
        bg.start("grpc", a.target, idle_token, args.watchers, args.channels)
        time.sleep(1.0)
        results["rss_grpc_watchers_mib"] = a.rss() / MiB
        results["writes_per_s_grpc_idle"] = _writes(a.target, token, args.seconds)
        bg.stop()
        c = Replica(url, workdir, http=True)
        replicas.append(c)
        _writes(c.target, token, 1.0)
        time.sleep(0.5)
        results["rss_baseline_c_mib"] = c.rss() / MiB
        results["writes_per_s_alone_c"] = _writes(c.target, token, args.seconds)
        bg = Background()
        bg.start("sse", c.http_port, idle_token, args.watchers)
        time.sleep(1.0)
        results["rss_sse_watchers_mib"] = c.rss() / MiB
        results["writes_per_s_sse_idle"] = _writes(c.target, token, args.seconds)
        results["sse_opened"] = bg.stop()[0]
        c.stop()

        # 2. delivery latency: steady writes on A, a watcher on B.
        acked: dict[str, float] = {}
        bg = Background()
        bg.start("grpc-timed", b.target, token, 1, 1)
        time.sleep(0.5)
        _writes(a.target, token, args.seconds, concurrency=4, rate=args.rate, acked=acked)
        time.sleep(1.0)
        _, arrived = bg.stop()
        delays = [max(0.0, arrived[t] - acked[t]) * 1000 for t in acked if t in arrived]
        results["latency_events"] = len(delays)
        results["latency_missing"] = len(acked) - len(delays)
        results["latency_p50_ms"] = _percentile(delays, 0.50) if delays else None
        results["latency_p99_ms"] = _percentile(delays, 0.99) if delays else None

        # 3. writes/s with watchers following the written workspace.
        bg = Background()
        bg.start("grpc", a.target, token, args.following, min(args.channels, args.following))
        results["writes_per_s_watched"] = _writes(a.target, token, args.seconds)
        time.sleep(1.0)
        results["events_received_by_watchers"] = bg.stop()[0]
    finally:
        for replica in replicas:
            replica.stop()
        seed.drop_database(name, args.admin_url)

    n, alone = args.watchers, results["writes_per_s_alone"]

    def share(key: str, base: float) -> str:
        return f"{results[key]:.0f} ({results[key] / base:.0%})"

    rows = [
        ("server RSS, no watchers", f"{results['rss_baseline_mib']:.1f} MiB", ""),
        (f"server RSS, {n} idle gRPC watchers", f"{results['rss_grpc_watchers_mib']:.1f} MiB", "< 150 MiB"),
        (
            f"server RSS, {n} idle SSE watchers (in-process gateway; fresh server: {results['rss_baseline_c_mib']:.1f} MiB before)",
            f"{results['rss_sse_watchers_mib']:.1f} MiB",
            "< 150 MiB",
        ),
        ("CreateIssue writes/s, no watchers", f"{alone:.0f}", ""),
        (f"CreateIssue writes/s, {n} idle gRPC watchers open", share("writes_per_s_grpc_idle", alone), ">= 90%"),
        (
            f"CreateIssue writes/s, {n} idle SSE watchers open (vs {results['writes_per_s_alone_c']:.0f} on that server before)",
            share("writes_per_s_sse_idle", results["writes_per_s_alone_c"]),
            ">= 90%",
        ),
        ("delivery latency to the other replica, p50", f"{results['latency_p50_ms']:.1f} ms", "< 1 s"),
        ("delivery latency to the other replica, p99", f"{results['latency_p99_ms']:.1f} ms", "< 1 s"),
        (
            f"CreateIssue writes/s, {args.following} watchers following that workspace",
            share("writes_per_s_watched", alone),
            "",
        ),
    ]
    print("| row | value | target |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    print(
        f"\n(latency over {results['latency_events']} events at {args.rate:.0f} writes/s; "
        f"{results['latency_missing']} not seen; SSE watchers opened: {results['sse_opened']}/{n}; "
        f"events received by the following watchers: {results['events_received_by_watchers']})"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Idle watchers on each server model (issue 18's watcher targets).

    python -m bench.watcher_models [--database-url URL] [--watchers 1000] [--models serve,product,sync]

- `serve`: the target as written: one `python -m service serve` process with
  its in-process HTTP gateway, as shipped; of the N watchers, `--sse` (half
  by default) are Server-Sent Events streams (`GET /api/v1/events`) on the
  gateway and the rest WatchEvents streams, each kind read by a process of
  its own (bench/watcher_clients.py); a trigger is one CreateIssue, and
  `--triggers` of them go out `--spacing` seconds apart. It reports the
  p50/p99 of one event's arrival at all N (and per kind), and the server's
  CPU per event per watcher: its CPU over the triggers less its idle CPU
  over the same time, per trigger, per watcher (a CreateIssue included:
  a few µs per watcher at 1,000). `--source REV|DIR` serves another
  revision's code (an A/B run on one database); `--profile PATH` records
  the server with py-spy (`--native --gil`) over the triggers.

- `product`: today's server (`bench.model_server --mode product`): N real
  `WatchEvents` streams in workspace bench-write, async generators on the
  loop; a trigger is one `CreateIssue` there.
- `sync`: the synchronous grpc server (`--mode sync --park`): N `Park`
  streams, each holding a pool thread blocked on one Condition (wakes every
  10 s, as a heartbeat would); a trigger is one `Broadcast`.

For each: the server's RSS and threads before and with the watchers open,
its CPU while they idle, GetIssue's server CPU per call and RPS / echo
before and with them open, and fan-out: the time from a trigger's sending
to its message's arrival on each of the N streams (one client process
sends the trigger and reads every stream, so one clock; its own reading of
N messages is included), over several triggers.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing as mp
import os
import resource
import sys
import time
from typing import Any

from bench import run, seed
from bench.echo_server import METHOD as ECHO_METHOD
from bench.loadgen import GrpcLoad, Shape
from bench.model_server import PARK_SERVICE
from bench.run import OUT, SERVICE, Proc, _cpu_seconds, free_port, percentiles, rss_mib, start_proc, threads, wait_until
from bench.server_models import _answers, _requests, measure, seeded_and_echo
from bench.watcher_serve import run_serve

TRIGGERS = 5


async def _watch(model: str, target: str, token: str, n: int, channels: int, opened: Any, fire: Any) -> list[float]:
    import grpc

    from issues.v1 import issue_service_pb2 as pb

    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    chans = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)
    ]
    metadata = (("authorization", f"Bearer {token}"),)
    sent: list[float] = []
    latencies: list[float] = []
    ready = 0
    all_open = asyncio.Event()

    async def one(i: int) -> None:
        nonlocal ready
        if model == "sync":
            call = chans[i % channels].unary_stream(f"/{PARK_SERVICE}/Park")(b"", metadata=metadata)
            await call.read()  # "open": the thread is parked
        else:
            call = chans[i % channels].unary_stream(
                SERVICE + "WatchEvents", request_serializer=None, response_deserializer=None
            )(pb.WatchEventsRequest().SerializeToString(), metadata=metadata)
            await call.initial_metadata()
        ready += 1
        if ready == n:
            all_open.set()
        for _ in range(TRIGGERS):  # read(), not `async for`: the first read above forbids iterating
            if await call.read() is grpc.aio.EOF:
                return
            latencies.append(time.monotonic() - sent[-1])

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    await asyncio.wait_for(all_open.wait(), 180)
    opened.set()
    while not fire.is_set():
        await asyncio.sleep(0.05)
    trigger = (
        chans[0].unary_unary(f"/{PARK_SERVICE}/Broadcast")
        if model == "sync"
        else chans[0].unary_unary(SERVICE + "CreateIssue", request_serializer=None, response_deserializer=None)
    )
    create = pb.CreateIssueRequest(title="fan-out").SerializeToString()
    for k in range(TRIGGERS):
        expected = n * (k + 1)
        sent.append(time.monotonic())
        await trigger(b"" if model == "sync" else create, metadata=metadata, timeout=30)
        deadline = time.monotonic() + 10
        while len(latencies) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for chan in chans:
        await chan.close()
    return latencies


def _child(args: tuple[Any, ...], opened: Any, fire: Any, results: Any) -> None:
    results.put(asyncio.run(_watch(*args, opened, fire)))


def _getissue(proc: Proc, port: int, echo: tuple[Proc, int], seeded: seed.Seeded, shape: Shape) -> str:
    echo_result, _, _ = measure(echo[0].pid, GrpcLoad(f"127.0.0.1:{echo[1]}", ECHO_METHOD, (b"x" * 40,)), shape)
    method, requests, token = _requests("GetIssue", seeded)
    load = GrpcLoad(f"127.0.0.1:{port}", SERVICE + method, requests, (("authorization", f"Bearer {token}"),))
    result, cpu, _ = measure(proc.pid, load, shape)
    return (
        f"{result.rps / echo_result.rps:.2f} of echo ({result.rps:,.0f} RPS), "
        f"{cpu / max(result.ok, 1) * 1e6:,.0f} µs/call, {result.error_count} errors"
    )


def run_model(model: str, url: str, seeded: seed.Seeded, echo: tuple[Proc, int], args: argparse.Namespace) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "bench.model_server", "--database-url", url, "--listen", f"127.0.0.1:{port}"]
    argv += ["--mode", "sync", "--park"] if model == "sync" else ["--mode", "product"]
    proc = start_proc(f"watchers-{model}", argv)
    shape = Shape(processes=2, concurrency=24, max_requests=20_000, max_seconds=args.seconds)
    try:
        wait_until(model, functools.partial(_answers, port, seeded), proc)
        print(f"{model}: RSS {rss_mib(proc.pid):.1f} MiB, {threads(proc.pid)} threads, no watchers", flush=True)
        print(f"{model}: GetIssue, no watchers: {_getissue(proc, port, echo, seeded, shape)}", flush=True)
        ctx = mp.get_context("spawn")
        opened, fire, results = ctx.Event(), ctx.Event(), ctx.Queue()
        token = seeded.tokens[seed.WRITE_WORKSPACE]
        child = ctx.Process(
            target=_child,
            args=((model, f"127.0.0.1:{port}", token, args.watchers, args.channels), opened, fire, results),
        )
        child.start()
        try:
            if not opened.wait(200):
                raise TimeoutError("the watchers did not open")
            time.sleep(1)
            rss, open_threads = rss_mib(proc.pid), threads(proc.pid)
            cpu = _cpu_seconds(proc.pid)
            time.sleep(10)
            idle = (_cpu_seconds(proc.pid) - cpu) / 10
            print(
                f"{model}: RSS {rss:.1f} MiB, {open_threads} threads with {args.watchers} watchers open; "
                f"idle CPU {idle * 100:.1f}% of a core over 10 s",
                flush=True,
            )
            print(f"{model}: GetIssue, watchers open: {_getissue(proc, port, echo, seeded, shape)}", flush=True)
            cpu = _cpu_seconds(proc.pid)
            fire.set()
            latencies = sorted(results.get(timeout=120))
            spent = _cpu_seconds(proc.pid) - cpu
            expected = args.watchers * TRIGGERS
            print(
                f"{model}: fan-out, {len(latencies)} of {expected} arrivals: {percentiles(latencies)}; "
                f"server CPU {spent / TRIGGERS * 1e3:.1f} ms per trigger "
                f"(includes ~0.3 s idle after each)",
                flush=True,
            )
        finally:
            child.join(30)
            if child.is_alive():
                child.kill()
    finally:
        proc.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.watcher_models", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", help="a database seeded by `bench.seed --keep` (else one is made and dropped)")
    p.add_argument("--admin-url", default=seed.ADMIN_URL, help="PostgreSQL to make that database in")
    p.add_argument("--list-rows", type=int, default=100_000, help="issues in that database's bench-list")
    p.add_argument("--models", default="serve,product,sync")
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--sse", type=int, help="serve: how many of the watchers are SSE streams (default: half)")
    p.add_argument("--channels", type=int, default=20)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each GetIssue row")
    p.add_argument("--triggers", type=int, default=10, help="serve: events fanned out, timed")
    p.add_argument("--spacing", type=float, default=0.5, help="serve: seconds between one's last arrival and the next")
    p.add_argument("--no-getissue", action="store_true", help="serve: skip the GetIssue rows (A/B of the fan-out)")
    p.add_argument("--profile", help="serve: py-spy's record of the server over the triggers (.json: speedscope)")
    p.add_argument("--source", help="serve: a revision or directory whose service code to run (A/B)")
    args = p.parse_args(argv)
    if args.source:
        run.SOURCE = run.export_source(args.source)
    OUT.mkdir(parents=True, exist_ok=True)
    db_name = None
    procs: list[Proc] = []
    try:
        if args.database_url:
            url = args.database_url
        else:
            db_name, url = seed.create_database(args.admin_url)
        seeded, echo, echo_port = seeded_and_echo(args, url, db_name is not None, procs)
        shape = Shape(processes=2, concurrency=24, max_requests=20_000, max_seconds=args.seconds)
        for model in args.models.split(","):
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            if model == "serve":

                def getissue(proc: Proc, port: int) -> str:
                    return _getissue(proc, port, (echo, echo_port), seeded, shape)

                run_serve(url, seeded, None if args.no_getissue else getissue, args)
            else:
                run_model(model, url, seeded, (echo, echo_port), args)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        for proc in procs:
            proc.stop()
        if db_name:
            seed.drop_database(db_name, args.admin_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

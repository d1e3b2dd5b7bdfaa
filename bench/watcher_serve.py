"""`bench.watcher_models --models serve`: issue 18's watcher target as written.

One `python -m service serve` process (gRPC and the in-process HTTP gateway,
as shipped) with N idle watchers open at once, `sse` of them Server-Sent
Events on the gateway and the rest gRPC WatchEvents streams; see
bench/watcher_models.py for what it reports.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import pathlib
import queue
import subprocess
import sys
import time
from typing import Any

import grpc

from bench import seed, watcher_clients
from bench.run import (
    OUT,
    SERVICE,
    Proc,
    _cpu_seconds,
    _die_with_parent,
    free_port,
    percentiles,
    rss_mib,
    start_proc,
    threads,
    wait_until,
)
from bench.server_models import _answers


class _Watchers:
    """One kind's watchers in a spawned process (grpc does not survive fork);
    `arrived` counts their arrivals as they come, for the parent to wait on."""

    def __init__(self, kind: str, address: str, token: str, n: int, channels: int, events: int) -> None:
        ctx = mp.get_context("spawn")
        self.kind, self.n = kind, n
        self.opened, self.stop, self.results = ctx.Event(), ctx.Event(), ctx.Queue()
        self.arrived = ctx.Value("q", 0)
        self.process = ctx.Process(
            target=_child,
            args=((kind, address, token, n, channels, events, self.opened, self.stop, self.arrived), self.results),
            daemon=True,
        )
        self.process.start()

    def wait_open(self, timeout: float = 200) -> None:
        if not self.opened.wait(timeout):
            raise TimeoutError(f"the {self.kind} watchers did not open")

    def result(self) -> tuple[int, list[tuple[int, float]]]:
        """What the watchers saw (they are told to stop if not all their events came in 20 s)."""
        try:
            got: tuple[int, list[tuple[int, float]]] = self.results.get(timeout=20)
        except queue.Empty:
            self.stop.set()
            got = self.results.get(timeout=60)
        return got

    def end(self) -> None:
        self.stop.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


def _child(args: tuple[Any, ...], results: Any) -> None:
    results.put(watcher_clients.run(*args))


def _profile(pid: int, path: str, seconds: float) -> subprocess.Popen:
    exe = pathlib.Path(sys.executable).with_name("py-spy")
    argv = [str(exe), "record", "-p", str(pid), "-o", path, "-d", str(int(seconds) + 1), "-r", "100"]
    argv += ["--native", "--gil", "--format", "speedscope" if path.endswith(".json") else "raw"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def run_serve(
    url: str, seeded: seed.Seeded, getissue: Any, args: argparse.Namespace
) -> dict[str, Any]:  # getissue(proc, port) -> text, or None to skip those rows
    grpc_port, http_port = free_port(), free_port()
    argv = [sys.executable, "-m", "service", "serve", "--database-url", url]
    argv += ["--grpc-listen", f"127.0.0.1:{grpc_port}", "--http-listen", f"127.0.0.1:{http_port}"]
    proc: Proc = start_proc("watchers-serve", argv)
    n_sse = args.watchers // 2 if args.sse is None else args.sse
    n_grpc = args.watchers - n_sse
    out: dict[str, Any] = {"grpc": n_grpc, "sse": n_sse}

    def say(text: str) -> None:
        print(f"serve: {text}", flush=True)

    try:
        wait_until("serve", functools.partial(_answers, grpc_port, seeded), proc)
        say(f"RSS {rss_mib(proc.pid):.1f} MiB, {threads(proc.pid)} threads, no watchers")
        if getissue is not None:
            say(f"GetIssue, no watchers: {getissue(proc, grpc_port)}")
        token = seeded.tokens[seed.WRITE_WORKSPACE]
        kinds = [("grpc", f"127.0.0.1:{grpc_port}", n_grpc), ("sse", f"127.0.0.1:{http_port}", n_sse)]
        # One event more each: the warm-up trigger's (_fan_out).
        groups = [_Watchers(k, a, token, n, args.channels, args.triggers + 1) for k, a, n in kinds if n]
        try:
            for group in groups:
                group.wait_open()
            time.sleep(1)
            out["rss_mib"], open_threads = rss_mib(proc.pid), threads(proc.pid)
            cpu = _cpu_seconds(proc.pid)
            time.sleep(10)
            idle = out["idle_cpu"] = (_cpu_seconds(proc.pid) - cpu) / 10
            say(
                f"RSS {out['rss_mib']:.1f} MiB, {open_threads} threads with {n_grpc} gRPC + {n_sse} SSE watchers open; "
                f"idle CPU {idle * 100:.1f}% of a core over 10 s"
            )
            if getissue is not None:
                say(f"GetIssue, watchers open: {getissue(proc, grpc_port)}")
            out.update(_fan_out(proc, grpc_port, token, groups, args, idle))
        finally:
            for group in groups:
                group.end()
    finally:
        proc.stop()
    return out


def _fan_out(
    proc: Proc, port: int, token: str, groups: list[_Watchers], args: argparse.Namespace, idle: float
) -> dict[str, Any]:
    from issues.v1 import issue_service_pb2 as pb

    n = sum(g.n for g in groups)
    create = pb.CreateIssueRequest(title="fan-out").SerializeToString()
    sent: list[float] = []
    spy = _profile(proc.pid, args.profile, args.triggers * args.spacing) if args.profile else None
    spent = elapsed = 0.0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        trigger = functools.partial(
            channel.unary_unary(SERVICE + "CreateIssue"),
            create,
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=30,
        )
        # A warm-up, not timed: every stream reads its event as its first (skipped below).
        trigger()
        _wait_arrivals(groups, n, time.monotonic() + 10)
        time.sleep(args.spacing)
        for k in range(args.triggers):
            # The server's CPU from the sending to the last arrival (or 10 s).
            cpu, started = _cpu_seconds(proc.pid), time.monotonic()
            sent.append(started)
            trigger()
            _wait_arrivals(groups, n * (k + 2), started + 10)
            spent += _cpu_seconds(proc.pid) - cpu
            elapsed += time.monotonic() - started
            time.sleep(args.spacing)
    results = {g.kind: g.result() for g in groups}
    if spy is not None:
        spy.wait(60)
    per_kind: dict[str, list[float]] = {}
    for kind, (_opened, arrivals) in results.items():
        # Arrival k is trigger k - 1 (0 was the warm-up).
        per_kind[kind] = [at - sent[k - 1] for k, at in arrivals if k >= 1]
    every = [x for v in per_kind.values() for x in v]
    fanned = (spent - idle * elapsed) / args.triggers
    print(
        f"serve: fan-out, {len(every)} of {n * args.triggers} arrivals: {percentiles(every)}; "
        + "; ".join(f"{k} {percentiles(v)}" for k, v in per_kind.items()),
        flush=True,
    )
    print(
        f"serve: server CPU {spent / args.triggers * 1e3:.1f} ms per trigger ({elapsed / args.triggers:.2f} s each); "
        f"less idle: {fanned * 1e3:.1f} ms, {fanned / max(n, 1) * 1e6:.0f} µs per watcher per event",
        flush=True,
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    ordered = sorted(every)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None
    return {"arrivals": len(every), "p99_ms": p99 and p99 * 1e3, "us_per_watcher": fanned / max(n, 1) * 1e6}


def _wait_arrivals(groups: list[_Watchers], total: int, deadline: float) -> None:
    while sum(g.arrived.value for g in groups) < total and time.monotonic() < deadline:
        time.sleep(0.002)


__all__ = ["OUT", "run_serve"]

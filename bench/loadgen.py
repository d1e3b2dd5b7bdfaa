"""A closed-loop load generator that runs in its own processes.

`run(load, shape)` starts `shape.processes` worker processes (spawned, so they
share no state with the caller). Each one opens its connections, warms up, waits
on a barrier so all start together, then keeps `shape.concurrency` calls in
flight until the process has issued its share of `shape.max_requests` or
`shape.max_seconds` have passed, whichever comes first. Every load is bounded
in request count and wall time, and talks to loopback addresses only.

Two kinds of load:

- `GrpcLoad`: one method over `grpc.aio` channels. Requests are serialized
  once, up front, and responses are not parsed (bytes in, bytes out), so the
  client spends its CPU on the transport, not on protobuf.
- `HttpLoad`: one route over HTTP/1.1 keep-alive connections, one per in-flight
  call. `client="raw"` (the default) writes pre-built request bytes on asyncio
  streams and reads the status line, headers and a Content-Length or chunked
  body; `client="httpx"` uses httpx.AsyncClient. Measured against
  bench/http_echo.py (2 processes x 16 connections) the raw client spent
  ~0.2 ms of CPU per request and httpx ~5 ms, 20x more, enough to make httpx
  the bottleneck; so raw is the default.

Ad hoc use (the benchmark itself is `python -m bench.run`):

    python -m bench.loadgen echo --target 127.0.0.1:PORT
    python -m bench.loadgen grpc --target 127.0.0.1:PORT --token T \\
        --method GetIssueMetrics --request '{}'
    python -m bench.loadgen http --url http://127.0.0.1:PORT/healthz --client httpx
"""

from __future__ import annotations

import argparse
import array
import asyncio
import math
import multiprocessing as mp
import os
import queue as queue_mod
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Shape:
    """How hard and how long to push."""

    processes: int = 2
    concurrency: int = 16  # in-flight calls per process
    max_requests: int = 20_000  # in total, across processes (warm-up not counted)
    max_seconds: float = 12.0  # wall time of the measured phase
    warmup_requests: int = 100  # per process, before the barrier, not measured
    channels: int = 1  # gRPC channels (HTTP/2 connections) per process


@dataclass(frozen=True)
class GrpcLoad:
    target: str  # host:port
    method: str  # /package.Service/Method
    requests: tuple[bytes, ...]  # serialized requests, used round-robin
    metadata: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0


@dataclass(frozen=True)
class HttpLoad:
    host: str
    port: int
    requests: tuple[tuple[str, str, bytes], ...]  # (method, path with query, body), round-robin
    headers: tuple[tuple[str, str], ...] = ()
    expect: tuple[int, ...] = (200,)
    client: str = "raw"  # raw | httpx
    timeout: float = 30.0


@dataclass
class Result:
    ok: int
    errors: Counter
    latencies: list[float]  # seconds, sorted, successful calls only
    wall: float  # seconds from the first worker's start to the last one's end
    client_cpu: float  # CPU seconds the workers spent in the measured phase
    processes: int
    concurrency: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.wall if self.wall > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in seconds (NaN when nothing succeeded)."""
        if not self.latencies:
            return math.nan
        rank = max(1, math.ceil(q * len(self.latencies)))
        return self.latencies[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise ValueError(f"loopback targets only, not {host!r}")


# -- callers: one per kind of load; each task gets its own session ------------

Call = Callable[[int], Awaitable[str | None]]  # request index -> None or an error key


async def _grpc_sessions(
    load: GrpcLoad, shape: Shape
) -> tuple[Callable[[int], Awaitable[Call]], Callable[[], Awaitable[None]]]:
    import grpc

    options = [("grpc.use_local_subchannel_pool", 1)]  # a real connection per channel
    channels = [grpc.aio.insecure_channel(load.target, options=options) for _ in range(shape.channels)]
    for ch in channels:
        await asyncio.wait_for(ch.channel_ready(), 15)
    # No serializers: the pre-serialized bytes go out as they are, replies stay bytes.
    stubs = [ch.unary_unary(load.method) for ch in channels]
    requests, metadata, timeout = load.requests, load.metadata, load.timeout

    async def session(task: int) -> Call:
        stub = stubs[task % len(stubs)]

        async def call(i: int) -> str | None:
            try:
                await stub(requests[i], metadata=metadata, timeout=timeout)
                return None
            except grpc.aio.AioRpcError as exc:
                return f"{exc.code().name}: {(exc.details() or '')[:160]}"

        return call

    async def close() -> None:
        for ch in channels:
            await ch.close()

    return session, close


def _raw_request(load: HttpLoad, method: str, path: str, body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {load.host}:{load.port}"]
    lines += [f"{k}: {v}" for k, v in load.headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: (status, body, server wants the connection closed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length) if length else b""
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()  # delimited by close
        close = True
    return status, body, close


async def _http_raw_sessions(load: HttpLoad, shape: Shape):
    prebuilt = [_raw_request(load, m, p, b) for m, p, b in load.requests]
    expect = set(load.expect)
    writers: list[asyncio.StreamWriter] = []

    async def session(task: int) -> Call:
        conn: list[Any] = [None, None]

        async def connect() -> None:
            conn[0], conn[1] = await asyncio.wait_for(asyncio.open_connection(load.host, load.port), 10)
            writers.append(conn[1])

        await connect()

        async def call(i: int) -> str | None:
            try:
                if conn[1] is None or conn[1].is_closing():
                    await connect()
                conn[1].write(prebuilt[i])
                status, body, close = await asyncio.wait_for(_read_response(conn[0]), load.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                if conn[1] is not None:
                    conn[1].close()
                conn[1] = None
                return f"{type(exc).__name__}: {str(exc)[:120]}"
            if close:
                conn[1].close()
                conn[1] = None
            if status not in expect:
                return f"HTTP {status}: {body[:160].decode('utf-8', 'replace')}"
            return None

        return call

    async def close() -> None:
        for w in writers:
            w.close()

    return session, close


async def _httpx_sessions(load: HttpLoad, shape: Shape):
    import httpx

    client = httpx.AsyncClient(
        base_url=f"http://{load.host}:{load.port}",
        headers=dict(load.headers),
        limits=httpx.Limits(max_connections=shape.concurrency, max_keepalive_connections=shape.concurrency),
        timeout=load.timeout,
    )
    expect = set(load.expect)
    requests = [
        (m, p, b, {"content-type": "application/json"} if (b or m in ("POST", "PUT", "PATCH")) else None)
        for m, p, b in load.requests
    ]

    async def session(task: int) -> Call:
        async def call(i: int) -> str | None:
            method, path, body, headers = requests[i]
            try:
                r = await client.request(method, path, content=body or None, headers=headers)
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__}: {str(exc)[:120]}"
            if r.status_code not in expect:
                return f"HTTP {r.status_code}: {r.text[:160]}"
            return None

        return call

    async def close() -> None:
        await client.aclose()

    return session, close


# -- the worker process ---------------------------------------------------------


async def _drive(load: GrpcLoad | HttpLoad, shape: Shape, budget: int, index: int, barrier: Any) -> dict[str, Any]:
    if isinstance(load, GrpcLoad):
        make, close = await _grpc_sessions(load, shape)
    elif load.client == "httpx":
        make, close = await _httpx_sessions(load, shape)
    else:
        make, close = await _http_raw_sessions(load, shape)
    calls = [await make(t) for t in range(shape.concurrency)]
    n = len(load.requests)
    # Each worker starts its own share of the requests, so that a list of
    # distinct requests (pages never listed before) is split between them, not shared.
    cursor = [(index * n) // shape.processes]

    async def phase(count: int, deadline: float, latencies: array.array, errors: Counter) -> None:
        issued = 0

        async def task(call: Call) -> None:
            nonlocal issued
            while issued < count and time.monotonic() < deadline:
                issued += 1
                i = cursor[0] % n
                cursor[0] += 1
                t0 = time.perf_counter()
                error = await call(i)
                dt = time.perf_counter() - t0
                if error is None:
                    latencies.append(dt)
                else:
                    errors[error] += 1

        await asyncio.gather(*(task(c) for c in calls))

    warm_errors: Counter = Counter()
    await phase(shape.warmup_requests, time.monotonic() + 30, array.array("d"), warm_errors)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, barrier.wait, 120)

    latencies = array.array("d")
    errors: Counter = Counter()
    cpu0 = time.process_time()
    t0 = time.monotonic()
    await phase(budget, t0 + shape.max_seconds, latencies, errors)
    t1 = time.monotonic()
    cpu1 = time.process_time()
    await close()
    return {
        "start": t0,
        "end": t1,
        "cpu": cpu1 - cpu0,
        "latencies": latencies.tobytes(),
        "errors": dict(errors),
        "warmup_errors": dict(warm_errors),
    }


def _worker(load: GrpcLoad | HttpLoad, shape: Shape, budget: int, index: int, barrier: Any, out: Any) -> None:
    try:
        result = asyncio.run(_drive(load, shape, budget, index, barrier))
    except BaseException as exc:  # report, never hang the others
        barrier.abort()
        result = {"fatal": f"{type(exc).__name__}: {exc}"}
    out.put((index, result))


def run(load: GrpcLoad | HttpLoad, shape: Shape) -> Result:
    """Drive `load` with `shape` from separate processes and return the merged result."""
    _check_loopback(load.target.rsplit(":", 1)[0] if isinstance(load, GrpcLoad) else load.host)
    if not load.requests:
        raise ValueError("no requests to send")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(shape.processes)
    out = ctx.Queue()
    per = [
        shape.max_requests // shape.processes + (1 if i < shape.max_requests % shape.processes else 0)
        for i in range(shape.processes)
    ]
    procs = [
        ctx.Process(target=_worker, args=(load, shape, per[i], i, barrier, out), daemon=True, name=f"loadgen-{i}")
        for i in range(shape.processes)
    ]
    for p in procs:
        p.start()
    results: dict[int, dict[str, Any]] = {}
    give_up = time.monotonic() + shape.max_seconds + 180
    try:
        while len(results) < len(procs):
            try:
                i, r = out.get(timeout=max(1.0, give_up - time.monotonic()))
            except queue_mod.Empty:
                raise TimeoutError("load generator workers did not report in time") from None
            results[i] = r
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    fatal = [f"worker {i}: {r['fatal']}" for i, r in sorted(results.items()) if "fatal" in r]
    if fatal:
        raise RuntimeError("; ".join(fatal))
    latencies: list[float] = []
    errors: Counter = Counter()
    warm: Counter = Counter()
    for r in results.values():
        a = array.array("d")
        a.frombytes(r["latencies"])
        latencies.extend(a)
        errors.update(r["errors"])
        warm.update(r["warmup_errors"])
    latencies.sort()
    wall = max(r["end"] for r in results.values()) - min(r["start"] for r in results.values())
    return Result(
        ok=len(latencies),
        errors=errors,
        latencies=latencies,
        wall=wall,
        client_cpu=sum(r["cpu"] for r in results.values()),
        processes=shape.processes,
        concurrency=shape.concurrency,
        extra={"warmup_errors": warm},
    )


def describe(r: Result) -> str:
    s = (
        f"{r.ok} ok, {r.error_count} errors in {r.wall:.2f}s: {r.rps:,.0f} RPS, "
        f"p50 {r.p50 * 1e3:.2f} ms, p99 {r.p99 * 1e3:.2f} ms, "
        f"client CPU {r.client_cpu / max(r.ok, 1) * 1e6:.0f} us/req"
    )
    for key, n in r.errors.most_common(3):
        s += f"\n  {n} x {key}"
    return s


# -- command line ---------------------------------------------------------------


def _shape_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--processes", type=int, default=2)
    p.add_argument("-c", "--concurrency", type=int, default=16, help="in-flight calls per process")
    p.add_argument("-n", "--requests", type=int, default=20_000, help="total request budget")
    p.add_argument("-t", "--seconds", type=float, default=10.0, help="wall-time limit")
    p.add_argument("--channels", type=int, default=1, help="gRPC channels per process")


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(
        prog="python -m bench.loadgen", description="Drive one RPC or route from separate processes."
    )
    sub = top.add_subparsers(dest="mode", required=True)
    echo = sub.add_parser("echo", help="the echo ceiling (bench.echo_server)")
    echo.add_argument("--target", required=True)
    echo.add_argument("--size", type=int, default=16, help="request bytes")
    g = sub.add_parser("grpc", help="one issues.v1.IssueService method")
    g.add_argument("--target", required=True)
    g.add_argument("--method", required=True, help="e.g. GetIssue")
    g.add_argument("--request", default="{}", help="the request as proto3 JSON")
    g.add_argument("--token", required=True)
    h = sub.add_parser("http", help="one HTTP route (GET unless --body)")
    h.add_argument("--url", required=True)
    h.add_argument("--token")
    h.add_argument("--body", help="JSON body; makes it a POST")
    h.add_argument("--expect", type=int, nargs="+", default=[200, 201])
    h.add_argument("--client", choices=["raw", "httpx"], default="raw")
    for p in (echo, g, h):
        _shape_args(p)
    args = top.parse_args(argv)
    shape = Shape(args.processes, args.concurrency, args.requests, args.seconds, channels=args.channels)
    if args.mode == "echo":
        from .echo_server import METHOD

        load: GrpcLoad | HttpLoad = GrpcLoad(args.target, METHOD, (os.urandom(args.size),))
    elif args.mode == "grpc":
        from google.protobuf import json_format

        from issues.v1 import issue_service_pb2

        method = issue_service_pb2.DESCRIPTOR.services_by_name["IssueService"].methods_by_name[args.method]
        from google.protobuf import message_factory

        cls = message_factory.GetMessageClass(method.input_type)
        body = json_format.Parse(args.request, cls()).SerializeToString()
        load = GrpcLoad(
            args.target, f"/issues.v1.IssueService/{args.method}", (body,), (("authorization", f"Bearer {args.token}"),)
        )
    else:
        u = urllib.parse.urlsplit(args.url)
        path = u.path + (f"?{u.query}" if u.query else "")
        headers = (("Authorization", f"Bearer {args.token}"),) if args.token else ()
        req = ("POST", path, args.body.encode()) if args.body else ("GET", path, b"")
        load = HttpLoad(u.hostname or "127.0.0.1", u.port or 80, (req,), headers, tuple(args.expect), args.client)
    print(describe(run(load, shape)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

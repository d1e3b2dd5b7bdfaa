"""Server models side by side (issue 18 item 3): the product's pipeline and
handlers served by grpc.aio as today, by cheaper aio hand-offs and by the
synchronous grpc server, each against the sync echo, back to back.

    python -m bench.server_models [--database-url URL] [--modes product,sync,...]
                                  [--ops GetIssue,CreateIssue,ListIssues] [--rounds 2] [--seconds 5]

Every mode is a `bench.model_server` process, all started at once and idle
but for the row being measured. Each round runs the echo, then every
operation on every mode in turn, so that a mode's figures and its
neighbours' are minutes apart at most. Per row: RPS, its ratio to the
round's echo, and the server process's CPU per call (/proc), which the
other sessions' load on this machine inflates far less than RPS. Without
`--database-url` it seeds a fresh database (100,000 issues) and drops it.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import statistics
import sys

from bench import loadgen, seed
from bench.echo_server import METHOD as ECHO_METHOD
from bench.loadgen import GrpcLoad, Shape
from bench.run import (
    OUT,
    SERVICE,
    Proc,
    _cpu_seconds,
    _postgres_cpu,
    _postgres_cpu_since,
    echo_serving,
    free_port,
    start_proc,
    wait_until,
)

MODES = ("product", "aio", "aio-queue", "aio-batch", "sync")


def _requests(op: str, seeded: seed.Seeded) -> tuple[str, tuple[bytes, ...], str]:
    """(method, serialized requests, token) of one operation, as bench.run sends them."""
    from issues.v1 import issue_pb2, issue_service_pb2 as pb

    if op == "GetIssue":
        messages = [pb.GetIssueRequest(issue_id=i) for i in seeded.issue_ids]
        return op, tuple(m.SerializeToString() for m in messages), seeded.tokens[seed.LIST_WORKSPACE]
    if op == "ListIssues":
        return op, (pb.ListIssuesRequest(limit=100).SerializeToString(),), seeded.tokens[seed.LIST_WORKSPACE]
    create = pb.CreateIssueRequest(
        title="Checkout fails with a 502 under load",
        priority=issue_pb2.Issue.PRIORITY_MEDIUM,
        tags=["bench", "checkout"],
        owner="bench-team",
    )
    create.description.add().update({"type": "paragraph", "text": "Seen by the load test."})
    return op, (create.SerializeToString(),), seeded.tokens[seed.WRITE_WORKSPACE]


def with_issue_ids(seeded: seed.Seeded) -> seed.Seeded:
    """`seeded`, with issues to get even when its 5% page sample of a small database came back empty."""
    if not seeded.issue_ids:
        import psycopg2

        with psycopg2.connect(seeded.url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT i.uuid::text FROM issues i JOIN workspaces w ON w.id = i.workspace_id WHERE w.slug = %s LIMIT 2000",
                (seed.LIST_WORKSPACE,),
            )
            seeded.issue_ids = [r[0] for r in cur.fetchall()]
        conn.close()
    return seeded


def seeded_and_echo(
    args: argparse.Namespace, url: str, fresh: bool, procs: list[Proc]
) -> tuple[seed.Seeded, Proc, int]:
    """The database seeded (a `fresh` one filled first) and a sync echo server,
    started and appended to `procs`."""
    seeded = with_issue_ids(seed.seed(url, args.list_rows, 1_000) if fresh else seed.seed(url, fill=False))
    echo_port = free_port()
    echo = start_proc("echo", [sys.executable, "-m", "bench.echo_server", "--listen", f"127.0.0.1:{echo_port}"])
    procs.append(echo)
    wait_until("echo", lambda: echo_serving(echo_port), echo)
    return seeded, echo, echo_port


def measure(pid: int, load: GrpcLoad, shape: Shape) -> tuple[loadgen.Result, float, float]:
    """(result, server CPU s, PostgreSQL CPU s) of one row."""
    cpu, pg = _cpu_seconds(pid), _postgres_cpu()
    result = loadgen.run(load, shape)
    return result, _cpu_seconds(pid) - cpu, _postgres_cpu_since(pg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.server_models", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", help="a database seeded by `bench.seed --keep` (else one is made and dropped)")
    p.add_argument("--admin-url", default=seed.ADMIN_URL, help="PostgreSQL to make that database in")
    p.add_argument("--list-rows", type=int, default=100_000, help="issues in that database's bench-list")
    p.add_argument("--modes", default="product,aio-queue,sync")
    p.add_argument("--ops", default="GetIssue,CreateIssue,ListIssues")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--slots",
        type=int,
        default=10,
        help="each server's call slots and database connections (PostgreSQL's 100 are shared)",
    )
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument(
        "--concurrency", type=int, default=24, help="calls in flight per load process (2 processes); at most 5 x slots"
    )
    p.add_argument("--requests", type=int, default=30_000)
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        p.error(f"unknown modes: {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and drop the database
    shape = Shape(processes=2, concurrency=args.concurrency, max_requests=args.requests, max_seconds=args.seconds)
    db_name = None
    procs: list[Proc] = []
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        if args.database_url:
            url = args.database_url
        else:
            db_name, url = seed.create_database(args.admin_url)
        seeded, echo, echo_port = seeded_and_echo(args, url, db_name is not None, procs)
        servers: dict[str, tuple[Proc, int]] = {}
        for mode in modes:
            port = free_port()
            argv_ = [sys.executable, "-m", "bench.model_server", "--mode", mode, "--database-url", url]
            proc = start_proc(f"model-{mode}", [*argv_, "--listen", f"127.0.0.1:{port}", "--slots", str(args.slots)])
            procs.append(proc)
            servers[mode] = (proc, port)
        for mode, (proc, port) in servers.items():
            wait_until(mode, functools.partial(_answers, port, seeded), proc)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        rows: list[tuple[int, str, str, float, float, float, float]] = []
        for n in range(args.rounds):
            result, cpu, _ = measure(echo.pid, GrpcLoad(f"127.0.0.1:{echo_port}", ECHO_METHOD, (b"x" * 40,)), shape)
            echo_rps, echo_cpu = result.rps, cpu / max(result.ok, 1) * 1e6
            print(f"round {n + 1} echo: {echo_rps:,.0f} RPS, {echo_cpu:.0f} µs/call", flush=True)
            for op in args.ops.split(","):
                method, requests, token = _requests(op, seeded)
                # Every other round in reverse, so that no mode always follows the same neighbour.
                for mode, (proc, port) in list(servers.items())[:: 1 if n % 2 == 0 else -1]:
                    load = GrpcLoad(
                        f"127.0.0.1:{port}", SERVICE + method, requests, (("authorization", f"Bearer {token}"),)
                    )
                    result, cpu, pg = measure(proc.pid, load, shape)
                    calls = max(result.ok, 1)
                    rows.append(
                        (n + 1, op, mode, result.rps, result.rps / echo_rps, cpu / calls * 1e6, pg / calls * 1e6)
                    )
                    errors = f", {result.error_count} errors {dict(result.errors)}" if result.error_count else ""
                    print(
                        f"round {n + 1} {op:<12} {mode:<10} {result.rps:7,.0f} RPS  {result.rps / echo_rps:5.2f} of echo"
                        f"  server {cpu / calls * 1e6:6,.0f} µs/call  PostgreSQL {pg / calls * 1e6:6,.0f}"
                        f"  p50 {result.p50 * 1e3:.1f} ms{errors}",
                        flush=True,
                    )
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        print("\n| op | mode | RPS | / echo | server µs/call, median (range) | PostgreSQL µs/call, median |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for op in args.ops.split(","):
            for mode in modes:
                mine = [r for r in rows if r[1] == op and r[2] == mode]
                rps, ratio, cpu, pg = (sorted(r[i] for r in mine) for i in (3, 4, 5, 6))
                print(
                    f"| {op} | {mode} | {statistics.median(rps):,.0f} | {statistics.median(ratio):.2f} "
                    f"| {statistics.median(cpu):,.0f} ({cpu[0]:,.0f}-{cpu[-1]:,.0f}) | {statistics.median(pg):,.0f} |"
                )
    finally:
        for proc in procs:
            proc.stop()
        if db_name:
            seed.drop_database(db_name, args.admin_url)
    return 0


def _answers(port: int, seeded: seed.Seeded) -> bool:
    """The server answers a real GetIssue (the harness modes have no health service)."""
    import grpc

    method, requests, token = _requests("GetIssue", seeded)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(SERVICE + method)
        call(requests[0], metadata=(("authorization", f"Bearer {token}"),), timeout=2)
    return True


if __name__ == "__main__":
    sys.exit(main())

"""UpdateIssue's CPU per call under concurrent load, A against B, interleaved.

    python -m bench.update_cpu --a main --b . --rounds 2 --seconds 6
    python -m bench.update_cpu --call CreateIssue    # bench.run's CreateIssue row instead

For each round and each source (a git revision, or a directory: `.` is the work
tree) it starts `service serve` on one scratch database, drives UpdateIssue
(bench.run's shape: 2 load processes x 24 in flight, each call changing one
issue's owner) and reads, per successful call:

- the server process's CPU;
- the CPU of the PostgreSQL backends connected to this database (from
  pg_stat_activity and /proc), which other sessions' work on the same cluster
  does not touch: the figure to compare on a shared machine;
- the CPU of every PostgreSQL process (the WAL writer and checkpointer too, and
  anyone else's backends: bench.run's column, noisy when others use the cluster);
- how many of the issues' row updates were HOT (pg_stat_user_tables).

A and B share the database and the issues, so run them on code with the same
migrations. The database is dropped at the end unless `--database-url` named it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from . import loadgen, run, seed

UPDATE_ISSUES = 2_000


def _backends(url: str) -> list[int]:
    conn = seed._connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [pid for (pid,) in cur.fetchall()]
    finally:
        conn.close()


def _updates(url: str) -> tuple[int, int]:
    conn = seed._connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")
            cur.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'issues'")
            upd, hot = cur.fetchone()
            return int(upd), int(hot)
    finally:
        conn.close()


def _make_issues(target: str, token: str, n: int) -> list[str]:
    import concurrent.futures

    import grpc

    from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

    md = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(target) as ch:
        stub = issue_service_pb2_grpc.IssueServiceStub(ch)

        def make(k: int) -> str:
            for _ in range(20):  # a cluster shared with others may be out of connections a moment
                try:
                    return stub.CreateIssue(pb.CreateIssueRequest(title=f"Update target {k}"), metadata=md).uuid
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    time.sleep(0.5)
            raise RuntimeError("the server stayed unavailable")

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            return list(pool.map(make, range(n)))


def measure(
    label: str,
    source: Any,
    url: str,
    token: str,
    ids: list[str],
    round_: int,
    seconds: float,
    call: str = "UpdateIssue",
) -> dict[str, Any]:
    from issues.v1 import issue_service_pb2 as pb

    run.SOURCE = source
    port = run.free_port()
    server = run.start_proc(
        f"update_cpu_{label}",
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            url,
            "--grpc-listen",
            f"127.0.0.1:{port}",
            "--no-http",
        ],
    )
    try:
        run.wait_until("the server", lambda: run.grpc_serving(port), server)
        target = f"127.0.0.1:{port}"
        if call == "CreateIssue":  # bench.run's CreateIssue row: one new issue a call
            load = run._grpc(target, "CreateIssue", [pb.CreateIssueRequest(title=f"CPU {label} {round_}")], token)
        else:
            if not ids:
                ids[:] = _make_issues(target, token, UPDATE_ISSUES)
            owners = (f"{label}-{round_}-a", f"{label}-{round_}-b")
            load = run._grpc(
                target, "UpdateIssue", [pb.UpdateIssueRequest(issue_id=i, owner=o) for o in owners for i in ids], token
            )
        loadgen.run(load, loadgen.Shape(2, 24, 2_000, 2.0))  # warm-up: the pool's connections open
        backends = _backends(url)
        s0, b0, p0, u0 = (
            run._cpu_seconds(server.pid),
            {p: run._cpu_seconds(p) for p in backends},
            run._postgres_cpu(),
            _updates(url),
        )
        load_before = os.getloadavg()[0]
        result = loadgen.run(load, loadgen.Shape(2, 24, 60_000, seconds))
        server_cpu = run._cpu_seconds(server.pid) - s0
        db_cpu = sum(run._cpu_seconds(p) - b0.get(p, 0.0) for p in set(backends) | set(_backends(url)))
        all_pg = run._postgres_cpu_since(p0)
    finally:
        server.stop()
    time.sleep(1.0)  # the server's backends report their statistics as they exit
    u1 = _updates(url)
    ok = max(result.ok, 1)
    return {
        "label": label,
        "ok": result.ok,
        "errors": result.error_count,
        "rps": result.rps,
        "p50": result.p50 * 1e3,
        "server": server_cpu / ok * 1e6,
        "db": db_cpu / ok * 1e6,
        "all_pg": all_pg / ok * 1e6,
        "hot": f"{u1[1] - u0[1]}/{u1[0] - u0[0]}",
        "load": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.update_cpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--a", default="main", help="revision or directory A (default main)")
    p.add_argument("--b", default=".", help="revision or directory B (default the work tree)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--call", choices=("UpdateIssue", "CreateIssue"), default="UpdateIssue", help="the call to drive")
    p.add_argument("--database-url", help="a database bench.seed made (kept); default: a fresh one, dropped after")
    args = p.parse_args(argv)
    run.OUT.mkdir(parents=True, exist_ok=True)
    sources = {k: run.ROOT if v == "." else run.export_source(v) for k, v in (("A", args.a), ("B", args.b))}
    name = None
    if args.database_url:
        url = args.database_url
        seeded = seed.seed(url, fill=False, log=lambda *_: None)
    else:
        name, url = seed.create_database()
        seeded = seed.seed(url, 1_000, 1_000, log=lambda *_: None)
    token = seeded.tokens[seed.WRITE_WORKSPACE]
    ids: list[str] = []
    rows = []
    try:
        for k in range(args.rounds):
            for label, source in sources.items():
                rows.append(measure(label, source, url, token, ids, k, args.seconds, args.call))
                print(rows[-1], flush=True)
    finally:
        if name is not None:
            seed.drop_database(name)
    print(
        "\n| run | RPS | p50 ms | errors | server CPU µs/call | PostgreSQL CPU µs/call (this database's backends) | all PostgreSQL processes µs/call | HOT updates | load |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['label']} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['errors']} | {r['server']:,.0f} | {r['db']:,.0f} | "
            f"{r['all_pg']:,.0f} | {r['hot']} | {r['load']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

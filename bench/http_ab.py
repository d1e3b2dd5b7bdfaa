"""A/B of the HTTP rows: the server's CPU per request, one source tree against another.

    python -m bench.http_ab --database-url URL --source DIR [--source DIR ...] [--rounds 3]

URL is a database `bench.run --keep-db` seeded. For each round and each source
tree in turn (alternating, so that the machine's load falls on both alike), it
starts `python -m service serve` from that tree (gateway in-process), drives
GET one issue (the seed's sampled ids), GET a page of 100 and POST create with
bench.run's load shape, and prints RPS and the serve process's CPU per
successful request (utime+stime from /proc, the warm-up included). A tree is
a directory: export a revision first (`git archive REV | tar -x -C DIR`).
On a loaded machine read the CPU column, not RPS.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from bench import loadgen, seed
from bench.loadgen import HttpLoad, Shape
from bench.run import CREATE_BODY, _cpu_seconds, free_port, http_ok


def _up(port: int) -> bool:
    try:
        return http_ok(port, "/healthz")
    except OSError:
        return False


def one_run(source: str, url: str, seeded: seed.Seeded, rows: list[str], shape: Shape) -> None:
    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{source}/gen"}
    argv = [sys.executable, "-m", "service", "serve", "--database-url", url]
    argv += ["--grpc-listen", f"127.0.0.1:{grpc_port}", "--http-listen", f"127.0.0.1:{port}"]
    server = subprocess.Popen(argv, cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _up(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server from {source} did not start")
            time.sleep(0.2)
        t_list, t_write = seeded.tokens[seed.LIST_WORKSPACE], seeded.tokens[seed.WRITE_WORKSPACE]
        loads = {
            "get": ([("GET", f"/api/v1/issues/{i}", b"") for i in seeded.issue_ids], t_list, (200,)),
            "list": ([("GET", "/api/v1/issues?limit=100", b"")], t_list, (200,)),
            "create": ([("POST", "/api/v1/issues", json.dumps(CREATE_BODY).encode())], t_write, (201,)),
        }
        for row in rows:
            requests, token, expect = loads[row]
            load = HttpLoad("127.0.0.1", port, tuple(requests), (("Authorization", f"Bearer {token}"),), expect)
            before, load_average = _cpu_seconds(server.pid), os.getloadavg()[0]
            result = loadgen.run(load, shape)
            cpu = _cpu_seconds(server.pid) - before
            print(
                f"{pathlib.Path(source).name:>16} {row:<7} ok={result.ok:>6} errors={result.error_count} "
                f"rps={result.rps:6.0f} server_cpu_us/req={cpu / max(result.ok, 1) * 1e6:6.0f} load={load_average:.1f}",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", required=True, help="a database seeded by `bench.run --keep-db`")
    p.add_argument("--source", action="append", required=True, help="a source tree (repeat: A, B, ...)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rows", default="get,list,create")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--requests", type=int, default=60_000)
    args = p.parse_args(argv)
    seeded = seed.seed(args.database_url, fill=False, log=lambda *_: None)
    shape = Shape(2, 24, args.requests, args.seconds)
    for _ in range(args.rounds):
        for source in args.source:
            one_run(source, args.database_url, seeded, args.rows.split(","), shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())

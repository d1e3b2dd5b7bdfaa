"""How long `issuectl list` takes a person: process start to exit, first page of 1,000 issues.

    .venv/bin/python bench/cli_list.py [--runs 15] [--issues 1000]

Starts `python -m service serve` on a throwaway SQLite database (gRPC only,
port 0), creates the issues over gRPC with the admin token the first start
prints, then times, as child processes with stdout to a pipe:
  - `python -c pass`: the interpreter's own start, the floor no Python CLI beats;
  - `issuectl --help`: Click and the descriptors, no gRPC (the CLI's fixed cost);
  - `issuectl list`: the first page (100 issues) as a table;
  - `issuectl list --json`: the same page as the contract's JSON.
Each is run --runs times after one warm-up; the table gives the median and the
spread, with the load average before and after (the machine is shared: a
load above the core count makes every number worse). Target: list < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import grpc

from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

TARGET_SECONDS = 0.5


def start_server(workdir: pathlib.Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """The server on a fresh SQLite file; returns (process, grpc target, admin token)."""
    log, out = workdir / "server.log", workdir / "server.out"
    with open(log, "wb") as err, open(out, "wb") as stdout:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--database-url",
                f"sqlite:///{workdir / 'issues.db'}",
                "--grpc-listen",
                "127.0.0.1:0",
                "--no-http",
            ],
            cwd=workdir,
            stdout=stdout,
            stderr=err,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            entry = json.loads(line) if line.startswith("{") else {}
            if entry.get("msg") == "serving grpc":
                token = next(w for w in out.read_text().split() if w.startswith("iss_"))
                return process, entry["grpc_listen"], token
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()}")


def seed(target: str, token: str, count: int) -> None:
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(target) as channel:
        stub = issue_service_pb2_grpc.IssueServiceStub(channel)
        for i in range(count):
            stub.CreateIssue(
                pb.CreateIssueRequest(
                    title=f"Benchmark issue {i}: power rail undervoltage at startup", tags=["bench"], priority=1 + i % 3
                ),
                metadata=metadata,
                timeout=30,
            )


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    """Wall seconds of each run, start to exit, stdout piped (as a script would)."""
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.PIPE, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--issues", type=int, default=1000)
    args = parser.parse_args()
    issuectl = shutil.which("issuectl", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("issuectl")
    if issuectl is None:
        raise SystemExit("issuectl is not installed: pip install -e . first")

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-cli-"))
    process, target, token = start_server(workdir)
    try:
        seed(target, token, args.issues)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ISSUES_")}
        env.update(
            {
                "ISSUES_SERVER": target,
                "ISSUES_TOKEN": token,
                "HOME": str(workdir),
                "XDG_CONFIG_HOME": str(workdir / ".config"),
            }
        )
        load_before = os.getloadavg()
        rows = [
            ("python -c pass (floor)", timed([sys.executable, "-c", "pass"], env, args.runs)),
            ("issuectl --help", timed([issuectl, "--help"], env, args.runs)),
            ("issuectl list", timed([issuectl, "list"], env, args.runs)),
            ("issuectl list --json", timed([issuectl, "list", "--json"], env, args.runs)),
        ]
        load_after = os.getloadavg()
    finally:
        process.terminate()
        process.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"issuectl list, first page of {args.issues} issues, {args.runs} runs each, on {os.cpu_count()} cores")
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}   "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    print()
    print(f"| {'command':<24} | median s | min s | max s | vs floor |")
    print(f"| {'-' * 24} | -------- | ----- | ----- | -------- |")
    floor = statistics.median(rows[0][1])
    for name, times in rows:
        median = statistics.median(times)
        print(f"| {name:<24} | {median:8.3f} | {min(times):5.3f} | {max(times):5.3f} | {median / floor:7.1f}x |")
    list_median = statistics.median(rows[2][1])
    verdict = "meets" if list_median < TARGET_SECONDS else "MISSES"
    print(f"\nissuectl list: {list_median:.3f} s median, {verdict} the {TARGET_SECONDS} s target")


if __name__ == "__main__":
    main()

"""The benchmark, in one command:

    .venv/bin/python -m bench.run

1. creates a fresh PostgreSQL database `issues_bench_<random>`, migrates it with
   the service's migrations and seeds it (bench/seed.py);
2. starts the echo ceiling (bench/echo_server.py) and the real server
   (`python -m service serve`, with the HTTP gateway in-process when the
   gateway package is there) as subprocesses on loopback ports;
3. drives each operation from separate load-generator processes
   (bench/loadgen.py), bounded in requests and wall time, sampling the server's
   CPU, PostgreSQL's CPU and the load generator's CPU around each one;
4. prints the table with every RPS as a ratio to the echo ceiling of the same
   run, checks the targets, writes bench/out/latest.md, stops everything and
   drops the database (unless --keep-db).

See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import importlib
import importlib.util
import json
import math
import os
import pathlib
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]  # also works as `python bench/run.py`

from bench import loadgen, peers, seed  # noqa: E402
from bench.echo_server import METHOD as ECHO_METHOD  # noqa: E402
from bench.loadgen import GrpcLoad, HttpLoad, Shape  # noqa: E402

SERVICE = "/issues.v1.IssueService/"
CEILING_LABELS = ("echo", "echo (middle)", "echo (end)")
MiB = 1 << 20


# -- targets (bench/README.md; issues 2, 3 and 18) -------------------------------

TARGETS = [
    # (label, check(results) -> (value text, passed or None when not measured))
    ("GetIssue RPS >= 0.50 x echo", "GetIssue", "ratio", 0.50),
    ("CreateIssue RPS >= 0.25 x echo", "CreateIssue", "ratio", 0.25),
    ("UpdateIssue RPS >= 0.15 x echo", "UpdateIssue", "ratio", 0.15),
    ("ListIssues(100 of 100k) RPS >= 0.15 x echo", "ListIssues", "ratio", 0.15),
    ("ListIssues, a page never listed before, RPS >= 0.10 x echo", "ListIssues cold", "ratio", 0.10),
    ("ListIssues q (100k) RPS >= 0.10 x echo", "ListIssues q", "ratio", 0.10),
    ("GetIssueMetrics(1M) p50 < 200 ms", "GetIssueMetrics", "p50_ms", 200.0),
    ("ListIssues 1,000th page by token RPS >= 0.8 x the first page", "ListIssues deep page", "vs ListIssues", 0.8),
    ("server peak RSS < 250 MiB", None, "rss", 250.0),
    ("gateway GetIssue RPS >= 0.60 x direct gRPC", "GetIssue", "http_ratio", 0.60),
    ("gateway adds < 2 ms p50 to GetIssue at concurrency 1", "GetIssue c=1", "added_p50", 2.0),
]


# -- processes -------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark process dies, so nothing outlives it."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:  # a worker that exited since the row began
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> tuple[int, ...]:
    """`pid` and its children (a supervisor's workers, the echo's processes)."""
    children = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            children.append(int(entry.name))
    return (pid, *sorted(children))


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds of every process named postgres (backends and background workers), by pid."""
    found: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if "(postgres)" not in text:
            continue
        fields = text.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _postgres_cpu_since(before: dict[int, float]) -> float:
    """PostgreSQL CPU used since `before`: processes that lived on, plus new ones
    (backends that exited in between are missed, so this can only undercount)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in _postgres_cpu().items())


def _status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib(pid: int) -> float:
    return (_status_kib(pid, "VmRSS") or 0) / 1024


def threads(pid: int) -> int:
    return _status_kib(pid, "Threads") or 0


def percentiles(values: list[float]) -> str:
    """p50, p99 and max of latencies in seconds, as milliseconds."""
    if not values:
        return "none arrived"
    ordered = sorted(values)
    p50, p99 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3 for q in (0.5, 0.99))
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1e3:.1f} ms"


class RssSampler:
    """Peak RSS of a process: VmHWM (the kernel's own high-water mark), or the
    largest VmRSS / psutil RSS sampled every 0.2 s where VmHWM is missing."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sampled_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        try:
            import psutil  # optional

            return psutil.Process(self.pid).memory_info().rss
        except Exception:
            kib = _status_kib(self.pid, "VmRSS")
            return (kib or 0) * 1024

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sampled_peak = max(self.sampled_peak, self._rss())

    def peak(self) -> int:
        hwm = _status_kib(self.pid, "VmHWM")
        return max(self.sampled_peak, hwm * 1024 if hwm else 0)

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: pathlib.Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


SOURCE = ROOT  # where the service code under test lives (see --source)
LOAD_BEFORE: list[float] = []
INVALID: dict[str, str] = {}  # operation -> why its rows do not measure what they should


def export_source(rev: str) -> pathlib.Path:
    """`git archive` the revision into bench/out/src-<sha> (once) and return the path.

    An existing directory is used as it is (an experiment on a patched copy)."""
    if pathlib.Path(rev).is_dir():
        path = pathlib.Path(rev).resolve()
        if not (path / ".complete").exists():
            (path / ".complete").write_text(f"{path.name}\n")
        return path
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = OUT / f"src-{sha[:12]}"
    if not (dest / ".complete").exists():
        tmp = OUT / f"src-{sha[:12]}.tmp"
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        (tmp / ".complete").write_text(sha + "\n")
        subprocess.run(["rm", "-rf", str(dest)], check=True)
        tmp.rename(dest)
    return dest


def start_proc(name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
    log_path = OUT / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed once Popen has handed it to the child
    pythonpath = os.pathsep.join(
        [str(SOURCE), str(SOURCE / "gen"), str(ROOT)]
        + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    )
    popen = subprocess.Popen(
        argv,
        cwd=SOURCE,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": pythonpath, **(env or {})},
        preexec_fn=_die_with_parent,
    )
    log.close()
    return Proc(name, popen, log_path)


def wait_until(what: str, ready: Callable[[], bool], proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s:\n{proc.tail()}")


def grpc_serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return r.status == health_pb2.HealthCheckResponse.SERVING


def echo_serving(port: int) -> bool:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return ch.unary_unary(ECHO_METHOD)(b"ping", timeout=2) == b"ping"


def http_ok(port: int, path: str) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return s.recv(64).startswith(b"HTTP/1.1 200")


def gateway_available() -> tuple[bool, str]:
    try:
        spec = importlib.util.find_spec("gateway.server")
        if spec is None:
            return False, "gateway.server does not exist yet"
        importlib.import_module("gateway.server")
    except Exception as exc:
        return False, f"gateway not importable ({type(exc).__name__}: {exc})"
    return True, ""


# -- scenarios ----------------------------------------------------------------


@dataclass
class Row:
    op: str  # GetIssue, CreateIssue, ..., echo
    via: str  # gRPC | HTTP
    label: str
    result: loadgen.Result | None = None
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def measure(
    row: Row, load: GrpcLoad | HttpLoad, shape: Shape, pids: tuple[int, ...], profile: pathlib.Path | None
) -> Row:
    """Run one row; `pids` are the server-side processes whose CPU the row is charged
    (their children too: the workers of `serve --workers N`, the echo's processes)."""
    pids = tuple(p for pid in pids for p in process_tree(pid))
    spies = []
    if profile is not None:
        for pid in pids:
            name = row.label.replace(" ", "_").replace("/", "_") + ("" if pid == pids[0] else f".{pid}")
            spies.append(_start_py_spy(pid, profile / f"{name}.txt", shape.max_seconds + 5))

    def server_cpu() -> float:
        return sum(_cpu_seconds(pid) for pid in pids)

    s0, d0 = server_cpu(), _postgres_cpu()
    try:
        row.result = loadgen.run(load, shape)
    except Exception as exc:  # a broken scenario is reported, the rest still run
        row.note = f"failed: {exc}"
    row.server_cpu = server_cpu() - s0
    row.db_cpu = _postgres_cpu_since(d0)
    for spy in filter(None, spies):
        spy.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(20)
        if spy.poll() is None:
            spy.kill()
    r = row.result
    if r is not None:
        total = r.ok + r.error_count
        if r.error_count:
            top = "; ".join(f"{n} x {k}" for k, n in r.errors.most_common(2))
            row.note = f"{r.error_count} errors of {total}: {top}"
    print(f"  {row.label:<28} " + (loadgen.describe(r).split("\n")[0] if r else row.note), flush=True)
    return row


def _start_py_spy(pid: int, path: pathlib.Path, seconds: float) -> subprocess.Popen | None:
    exe = pathlib.Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        return None
    return subprocess.Popen(
        [
            str(exe),
            "record",
            "-p",
            str(pid),
            "-o",
            str(path),
            "--format",
            "raw",
            "-d",
            str(int(seconds)),
            "-r",
            "200",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )


def sanity_check(target: str, seeded: seed.Seeded) -> dict[str, str]:
    """Ask once what the rows will measure and compare with what was seeded, so
    that a fast row cannot come from an empty answer. Returns {row op: problem}."""
    import grpc

    from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

    problems: dict[str, str] = {}
    with grpc.insecure_channel(target) as ch:
        stub = issue_service_pb2_grpc.IssueServiceStub(ch)

        def md(ws: str) -> tuple[tuple[str, str], ...]:
            return (("authorization", f"Bearer {seeded.tokens[ws]}"),)

        try:
            r = stub.ListIssues(pb.ListIssuesRequest(limit=100), metadata=md(seed.LIST_WORKSPACE), timeout=30)
            want = seeded.rows[seed.LIST_WORKSPACE]
            if len(r.items) != min(100, want) or r.count != want:
                problems["ListIssues"] = (
                    f"ListIssues gave {len(r.items)} items and count {r.count}; {want:,} issues are stored"
                )
        except grpc.RpcError as exc:
            problems["ListIssues"] = f"ListIssues failed: {exc.code().name} {exc.details()}"
        try:
            r = stub.GetIssueMetrics(pb.GetIssueMetricsRequest(), metadata=md(seed.METRICS_WORKSPACE), timeout=60)
            want = seeded.rows[seed.METRICS_WORKSPACE]
            active = sum(p.value for p in r.metrics[0].chart_data.data) if r.metrics else -1
            # Statuses are seeded evenly over four values: half are open or in progress.
            if active != want // 2:
                problems["GetIssueMetrics"] = (
                    f"the Active Issues chart sums to {active:,}; {want // 2:,} are open or in progress"
                )
        except grpc.RpcError as exc:
            problems["GetIssueMetrics"] = f"GetIssueMetrics failed: {exc.code().name} {exc.details()}"
        try:
            r = stub.GetIssue(
                pb.GetIssueRequest(issue_id=seeded.issue_ids[0]), metadata=md(seed.LIST_WORKSPACE), timeout=30
            )
            if r.uuid != seeded.issue_ids[0]:
                problems["GetIssue"] = f"GetIssue returned {r.uuid!r} for {seeded.issue_ids[0]}"
        except grpc.RpcError as exc:
            problems["GetIssue"] = f"GetIssue failed: {exc.code().name} {exc.details()}"
    return problems


# The search row's queries: each batch word matches a hundredth of the list workspace.
SEARCHES = [f"seeded w{i}" for i in range(100)]
DEEP_PAGE = 1000


def deep_page_token(target: str, token: str, rows: int, limit: int = 100) -> tuple[int, str]:
    """(page number, its page_token): the 1,000th page of ListIssues(limit) by
    walking there, or the last page when fewer are stored (small runs)."""
    import grpc

    from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

    page = max(2, min(DEEP_PAGE, math.ceil(rows / limit)))
    with grpc.insecure_channel(target) as ch:
        stub = issue_service_pb2_grpc.IssueServiceStub(ch)
        md = (("authorization", f"Bearer {token}"),)
        next_token = ""
        for _ in range(page - 1):
            next_token = stub.ListIssues(
                pb.ListIssuesRequest(limit=limit, page_token=next_token), metadata=md, timeout=30
            ).next_page_token
    return page, next_token


def check_list_rows(target: str, seeded: seed.Seeded, deep: tuple[int, str]) -> dict[str, str]:
    """The search and deep-page rows answer what they should (a fast empty answer measures nothing)."""
    import grpc

    from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

    problems: dict[str, str] = {}
    want = seeded.rows[seed.LIST_WORKSPACE]
    with grpc.insecure_channel(target) as ch:
        stub = issue_service_pb2_grpc.IssueServiceStub(ch)
        md = (("authorization", f"Bearer {seeded.tokens[seed.LIST_WORKSPACE]}"),)
        r = stub.ListIssues(pb.ListIssuesRequest(limit=100, q=SEARCHES[7]), metadata=md, timeout=30)
        batch = len(range(7, want + 1, 100))  # g % 100 == 7 for g in 1..rows
        if r.count != batch or len(r.items) != min(100, batch):
            problems["ListIssues q"] = (
                f"q={SEARCHES[7]!r} gave {len(r.items)} items and count {r.count}; {batch:,} match"
            )
        page, token = deep
        r = stub.ListIssues(pb.ListIssuesRequest(limit=100, page_token=token), metadata=md, timeout=30)
        expected = min(100, want - (page - 1) * 100)
        if len(r.items) != expected:
            problems["ListIssues deep page"] = f"page {page} gave {len(r.items)} items; {expected} expected"
    return problems


def _grpc(target: str, method: str, messages: list[Any], token: str) -> GrpcLoad:
    return GrpcLoad(
        target,
        SERVICE + method,
        tuple(m.SerializeToString() for m in messages),
        (("authorization", f"Bearer {token}"),),
    )


def _http(port: int, requests: list[tuple[str, str, bytes]], token: str, expect: tuple[int, ...]) -> HttpLoad:
    return HttpLoad("127.0.0.1", port, tuple(requests), (("Authorization", f"Bearer {token}"),), expect)


# Bulk update: issues of their own in the write workspace, so that the read
# rows' data stays fixed and no two calls in flight lock the same issues.
BULK_SIZE = 100
UPDATE_ISSUES = 4_800


class UpdateTargets:
    """The issues the update rows change, created through the API once, when first needed."""

    def __init__(self, target: str, token: str) -> None:
        self.target, self.token = target, token
        self._ids: list[str] | None = None

    def ids(self) -> list[str]:
        if self._ids is None:
            import concurrent.futures

            import grpc

            from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

            md = (("authorization", f"Bearer {self.token}"),)
            with grpc.insecure_channel(self.target) as ch:
                stub = issue_service_pb2_grpc.IssueServiceStub(ch)
                with concurrent.futures.ThreadPoolExecutor(16) as pool:
                    made = pool.map(
                        lambda n: (
                            stub.CreateIssue(
                                pb.CreateIssueRequest(title=f"Bulk target {n}"), metadata=md, timeout=30
                            ).uuid
                        ),
                        range(UPDATE_ISSUES),
                    )
                    self._ids = list(made)
                # Once, to see the rows will measure updates: every issue of a bulk changes.
                probe = stub.BulkUpdateIssues(
                    pb.BulkUpdateIssuesRequest(ids=self._ids[:BULK_SIZE], updates=pb.IssueUpdates(owner="bench-probe")),
                    metadata=md,
                    timeout=60,
                )
                if probe.updated != BULK_SIZE:
                    INVALID["BulkUpdateIssues"] = f"a probe bulk update changed {probe.updated} of {BULK_SIZE} issues"
        return self._ids

    def single(self) -> list[Any]:
        """UpdateIssue requests that each change their issue (one history entry):
        every issue's owner to one value, then to another."""
        from issues.v1 import issue_service_pb2 as pb

        return [
            pb.UpdateIssueRequest(issue_id=i, owner=owner) for owner in ("single-a", "single-b") for i in self.ids()
        ]

    def bulk(self) -> list[Any]:
        """BulkUpdateIssues requests of BULK_SIZE distinct issues each, changing
        each issue as `single` does (to owners of their own, so no call is a no-op)."""
        from issues.v1 import issue_service_pb2 as pb

        ids = self.ids()
        chunks = [ids[i : i + BULK_SIZE] for i in range(0, len(ids), BULK_SIZE)]
        return [
            pb.BulkUpdateIssuesRequest(ids=chunk, updates=pb.IssueUpdates(owner=owner))
            for owner in ("bulk-a", "bulk-b")
            for chunk in chunks
        ]


CREATE_BODY = {
    "title": "Checkout fails with a 502 under load",
    "description": [{"type": "paragraph", "text": "Seen by the load test; the gateway returned 502."}],
    "priority": "medium",
    "tags": ["bench", "checkout"],
    "owner": "bench-team",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description="Run the benchmark (see bench/README.md).")
    p.add_argument(
        "--admin-url", default=seed.ADMIN_URL, help="PostgreSQL to create the scratch database in (loopback)"
    )
    p.add_argument("--database-url", help="reuse an already seeded benchmark database instead of creating one")
    p.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    p.add_argument("--list-rows", type=int, default=100_000)
    p.add_argument("--metrics-rows", type=int, default=1_000_000)
    p.add_argument("--processes", type=int, default=2, help="load-generator processes for the throughput rows")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run `serve --workers N` (N gRPC processes on one port, the gateway in its own) against an echo "
        "ceiling of N processes on one port",
    )
    p.add_argument(
        "--channels",
        type=int,
        help="gRPC connections per load-generator process (default 1; with --workers N, 4 x N, so that "
        "SO_REUSEPORT spreads them over every process)",
    )
    p.add_argument("--concurrency", type=int, default=24, help="in-flight calls per load-generator process")
    p.add_argument("--seconds", type=float, default=12.0, help="wall-time limit of each throughput row")
    p.add_argument("--requests", type=int, default=60_000, help="request budget of each throughput row")
    p.add_argument("--only", help="comma-separated row labels to run (plus the echo ceiling)")
    p.add_argument("--no-http", action="store_true", help="skip the gateway rows")
    p.add_argument(
        "--gateway",
        choices=["inproc", "standalone"],
        default="inproc",
        help="inproc: the gateway inside `service serve` (the default deployment); "
        "standalone: `python -m gateway` as its own process in front of `service serve --no-http`",
    )
    p.add_argument(
        "--profile", action="store_true", help="py-spy record the server during each row (bench/out/profile/)"
    )
    p.add_argument("--max-minutes", type=float, default=20.0, help="hard stop for the whole run")
    p.add_argument(
        "--source",
        metavar="REV",
        help="benchmark the service code of this git revision (exported to bench/out/src-<sha>) "
        "instead of the work tree, e.g. HEAD while the work tree is being edited; or of a directory",
    )
    p.add_argument(
        "--peers",
        action="store_true",
        help="also run the peers (../shared/peers/compare.sh --peer both, from a scratch copy, at this run's shape) "
        "and add the product/peer ratios of the HTTP rows",
    )
    p.add_argument(
        "--peers-dir", type=pathlib.Path, default=peers.DEFAULT_DIR, help="the peers' folder (read-only is fine)"
    )
    p.add_argument(
        "--peers-minutes", type=float, default=30.0, help="time allowed to compare.sh, its install and seeding included"
    )
    args = p.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    LOAD_BEFORE[:] = [os.getloadavg()[0]]
    if LOAD_BEFORE[0] > 1.5:
        print(f"note: load average {LOAD_BEFORE[0]:.1f} before the run: other work is using the machine")
    global SOURCE
    exported = args.source and not pathlib.Path(args.source).is_dir()
    if args.source:
        SOURCE = export_source(args.source)
        sys.path[:0] = [str(SOURCE), str(SOURCE / "gen")]
        print(f"service code: {args.source} in {SOURCE}")
    started = time.monotonic()

    def _overtime(*_: Any) -> None:
        raise TimeoutError(f"the benchmark ran over --max-minutes {args.max_minutes}")

    signal.signal(signal.SIGALRM, _overtime)
    signal.alarm(int(args.max_minutes * 60))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    procs: list[Proc] = []
    db_name = None
    rss: RssSampler | None = None
    try:
        # -- database --------------------------------------------------------------
        if args.database_url:
            url = args.database_url
            print(f"reusing {url}")
            seeded = seed.seed(url, fill=False)
        else:
            db_name, url = seed.create_database(args.admin_url)
            print(f"seeding {db_name} ({args.list_rows:,} + {args.metrics_rows:,} issues)")
            seeded = seed.seed(url, args.list_rows, args.metrics_rows)
        seed_seconds = time.monotonic() - started

        # -- servers ----------------------------------------------------------------
        http = not args.no_http
        http_note = ""
        if http:
            http, why = gateway_available()
            if not http:
                http_note = f"HTTP rows skipped: {why}"
                print(http_note)
        echo_port, grpc_port, http_port = free_port(), free_port(), free_port()
        echo = start_proc(
            "echo",
            [
                sys.executable,
                "-m",
                "bench.echo_server",
                "--listen",
                f"127.0.0.1:{echo_port}",
                "--processes",
                str(args.workers),
                "--max-seconds",
                str(int(args.max_minutes * 60)),
            ],
        )
        procs.append(echo)
        workers = args.workers > 1
        # With --workers the supervisor runs the gateway in a process of its own.
        inproc = http and (args.gateway == "inproc" or workers)
        serve = [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            url,
            "--grpc-listen",
            f"127.0.0.1:{grpc_port}",
        ]
        serve += ["--http-listen", f"127.0.0.1:{http_port}"] if inproc else ["--no-http"]
        serve += ["--workers", str(args.workers)] if workers else []
        server = start_proc("server", serve)
        procs.append(server)
        gateway = floor = None
        if http:
            floor_port = free_port()
            floor = start_proc(
                "http_floor",
                [
                    sys.executable,
                    "-m",
                    "bench.http_echo",
                    "--port",
                    str(floor_port),
                    "--max-seconds",
                    str(int(args.max_minutes * 60)),
                ],
            )
            procs.append(floor)
        if http and not inproc:
            gateway = start_proc(
                "gateway",
                [
                    sys.executable,
                    "-m",
                    "gateway",
                    "--http-listen",
                    f"127.0.0.1:{http_port}",
                    "--grpc-target",
                    f"127.0.0.1:{grpc_port}",
                ],
            )
            procs.append(gateway)
        wait_until("echo server", lambda: echo_serving(echo_port), echo)
        wait_until("gRPC server", lambda: grpc_serving(grpc_port), server)
        if workers and not http:
            # Every worker up: the supervisor says so once all serve.
            wait_until("every worker", lambda: '"supervisor serving"' in server.log_path.read_text(), server)
        if http:
            wait_until("HTTP floor", lambda: http_ok(floor_port, "/echo"), floor)
            try:
                # With workers, /readyz is 200 once every worker serves.
                wait_until(
                    "HTTP gateway",
                    lambda: http_ok(http_port, "/readyz" if workers else "/healthz"),
                    gateway or server,
                    timeout=30,
                )
            except (TimeoutError, RuntimeError) as exc:
                http, http_note = False, f"HTTP rows skipped: the gateway did not come up ({str(exc).splitlines()[0]})"
                print(http_note)
                if not server.alive():
                    raise
        rss = RssSampler(server.pid)
        gateway_rss = RssSampler(gateway.pid) if gateway else None
        gateway_kind = "its own process (serve --workers)" if workers else args.gateway
        print(
            f"echo pid {echo.pid} on :{echo_port}"
            + (f" ({args.workers} processes)" if workers else "")
            + f"; server pid {server.pid} on :{grpc_port}"
            + (f" ({args.workers} workers: {process_tree(server.pid)[1:]})" if workers else "")
            + (f"; gateway ({gateway_kind}) on :{http_port}" if http else "")
        )
        grpc_side = (server.pid,)
        http_side = (server.pid, gateway.pid) if gateway else (server.pid,)

        # -- loads ------------------------------------------------------------------
        from issues.v1 import issue_pb2, issue_service_pb2 as pb

        target = f"127.0.0.1:{grpc_port}"
        INVALID.update(sanity_check(target, seeded))
        deep = deep_page_token(target, seeded.tokens[seed.LIST_WORKSPACE], seeded.rows[seed.LIST_WORKSPACE])
        print(f"walked to page {deep[0]:,} of ListIssues(limit=100) for the deep-page row")
        INVALID.update(check_list_rows(target, seeded, deep))
        for problem in INVALID.values():
            print(f"CHECK FAILED: {problem}")
        t_list, t_metrics, t_write = (
            seeded.tokens[w] for w in (seed.LIST_WORKSPACE, seed.METRICS_WORKSPACE, seed.WRITE_WORKSPACE)
        )
        ids = seeded.issue_ids
        create_msg = pb.CreateIssueRequest(
            title=CREATE_BODY["title"],
            priority=issue_pb2.Issue.PRIORITY_MEDIUM,
            tags=CREATE_BODY["tags"],
            owner=CREATE_BODY["owner"],
        )
        create_msg.description.add().update(CREATE_BODY["description"][0])
        create_json = json.dumps(CREATE_BODY).encode()

        updates = UpdateTargets(target, t_write)
        channels = args.channels or (1 if args.workers == 1 else 4 * args.workers)
        T = Shape(args.processes, args.concurrency, args.requests, args.seconds, channels=channels)
        # Pages never listed before: one status and one priority each (the 12
        # seeded pairs are disjoint), 100 issues at successive offsets, each
        # asked for once; every load process gets its own share.
        cold_pages = [
            pb.ListIssuesRequest(status=[status], priority=[priority], limit=100, offset=100 * k)
            for status in (
                issue_pb2.Issue.STATUS_OPEN,
                issue_pb2.Issue.STATUS_IN_PROGRESS,
                issue_pb2.Issue.STATUS_RESOLVED,
                issue_pb2.Issue.STATUS_REJECTED,
            )
            for priority in (
                issue_pb2.Issue.PRIORITY_LOW,
                issue_pb2.Issue.PRIORITY_MEDIUM,
                issue_pb2.Issue.PRIORITY_HIGH,
            )
            for k in range(seeded.rows[seed.LIST_WORKSPACE] // 12 // 100)
        ]
        cold_warmup = 10
        COLD = Shape(
            args.processes,
            args.concurrency,
            max(1, args.processes * (len(cold_pages) // args.processes - cold_warmup - args.concurrency)),
            args.seconds,
            warmup_requests=cold_warmup,
            channels=channels,
        )
        LOW = Shape(1, 1, 4000, min(args.seconds, 8.0), warmup_requests=50)
        METRICS = Shape(1, 1, 40, 20.0, warmup_requests=3)
        # A bulk call is a hundred updates in a row: two in flight keep the server
        # busy, and many finish within the row, so little of the CPU measured
        # belongs to calls still running when it ends.
        BULK = Shape(1, 2, args.requests, args.seconds, warmup_requests=2, channels=min(channels, 2))

        plan: list[tuple[Row, Callable[[], GrpcLoad | HttpLoad], Shape, tuple[int, ...]]] = [
            (
                Row("echo", "gRPC", "echo"),
                lambda: GrpcLoad(f"127.0.0.1:{echo_port}", ECHO_METHOD, (b"x" * 64,)),
                T,
                (echo.pid,),
            ),
            (
                Row("GetIssue", "gRPC", "GetIssue"),
                lambda: _grpc(target, "GetIssue", [pb.GetIssueRequest(issue_id=i) for i in ids], t_list),
                T,
                grpc_side,
            ),
            (
                Row("ListIssues", "gRPC", "ListIssues"),
                lambda: _grpc(target, "ListIssues", [pb.ListIssuesRequest(limit=100)], t_list),
                T,
                grpc_side,
            ),
            (
                Row("ListIssues deep page", "gRPC", "ListIssues deep page"),
                lambda: _grpc(target, "ListIssues", [pb.ListIssuesRequest(limit=100, page_token=deep[1])], t_list),
                T,
                grpc_side,
            ),
            (
                Row("ListIssues q", "gRPC", "ListIssues q"),
                lambda: _grpc(target, "ListIssues", [pb.ListIssuesRequest(limit=100, q=q) for q in SEARCHES], t_list),
                T,
                grpc_side,
            ),
            (
                Row("ListIssues (cold page)", "gRPC", "ListIssues cold"),
                lambda: _grpc(target, "ListIssues", cold_pages, t_list),
                COLD,
                grpc_side,
            ),
            (
                Row("CreateIssue", "gRPC", "CreateIssue"),
                lambda: _grpc(target, "CreateIssue", [create_msg], t_write),
                T,
                grpc_side,
            ),
            (
                Row("GetIssueMetrics", "gRPC", "GetIssueMetrics"),
                lambda: _grpc(target, "GetIssueMetrics", [pb.GetIssueMetricsRequest()], t_metrics),
                METRICS,
                grpc_side,
            ),
            (
                Row("UpdateIssue", "gRPC", "UpdateIssue"),
                lambda: _grpc(target, "UpdateIssue", updates.single(), t_write),
                T,
                grpc_side,
            ),
            (
                Row("BulkUpdateIssues", "gRPC", "BulkUpdateIssues"),
                lambda: _grpc(target, "BulkUpdateIssues", updates.bulk(), t_write),
                BULK,
                grpc_side,
            ),
        ]
        plan.append(
            (
                Row("echo", "gRPC", "echo (middle)"),
                lambda: GrpcLoad(f"127.0.0.1:{echo_port}", ECHO_METHOD, (b"x" * 64,)),
                T,
                (echo.pid,),
            )
        )
        if http:
            plan += [
                (
                    Row("HTTP floor", "HTTP", "HTTP floor"),
                    lambda: _http(floor_port, [("GET", "/echo", b"")], "-", (200,)),
                    T,
                    (floor.pid,),
                ),
                (
                    Row("GetIssue", "HTTP", "GetIssue HTTP"),
                    lambda: _http(http_port, [("GET", f"/api/v1/issues/{i}", b"") for i in ids], t_list, (200,)),
                    T,
                    http_side,
                ),
                (
                    Row("ListIssues", "HTTP", "ListIssues HTTP"),
                    lambda: _http(http_port, [("GET", "/api/v1/issues?limit=100", b"")], t_list, (200,)),
                    T,
                    http_side,
                ),
                (
                    Row("CreateIssue", "HTTP", "CreateIssue HTTP"),
                    lambda: _http(http_port, [("POST", "/api/v1/issues", create_json)], t_write, (201,)),
                    T,
                    http_side,
                ),
                (
                    Row("GetIssueMetrics", "HTTP", "GetIssueMetrics HTTP"),
                    lambda: _http(http_port, [("GET", "/api/v1/issues/metrics", b"")], t_metrics, (200,)),
                    METRICS,
                    http_side,
                ),
            ]
        plan += [
            (
                Row("echo", "gRPC", "echo c=1"),
                lambda: GrpcLoad(f"127.0.0.1:{echo_port}", ECHO_METHOD, (b"x" * 64,)),
                LOW,
                (echo.pid,),
            ),
            (
                Row("GetIssue", "gRPC", "GetIssue c=1"),
                lambda: _grpc(target, "GetIssue", [pb.GetIssueRequest(issue_id=i) for i in ids], t_list),
                LOW,
                grpc_side,
            ),
        ]
        if http:
            plan.append(
                (
                    Row("GetIssue", "HTTP", "GetIssue HTTP c=1"),
                    lambda: _http(http_port, [("GET", f"/api/v1/issues/{i}", b"") for i in ids], t_list, (200,)),
                    LOW,
                    http_side,
                )
            )
        plan.append(
            (
                Row("echo", "gRPC", "echo (end)"),
                lambda: GrpcLoad(f"127.0.0.1:{echo_port}", ECHO_METHOD, (b"x" * 64,)),
                T,
                (echo.pid,),
            )
        )
        if args.only:
            wanted = {w.strip() for w in args.only.split(",")} | set(CEILING_LABELS)
            plan = [item for item in plan if item[0].label in wanted]

        profile = None
        if args.profile:
            profile = OUT / "profile"
            profile.mkdir(exist_ok=True)
            if not pathlib.Path(sys.executable).with_name("py-spy").exists():
                print("--profile: py-spy is not installed in this environment (pip install py-spy); no profiles")
                profile = None

        print(
            f"load: {T.processes} processes x {T.concurrency} in flight, <= {T.max_requests:,} requests or {T.max_seconds:.0f}s per row"
        )
        rows = []
        for row, make, shape, pids in plan:
            for proc in (server, gateway):
                if proc is not None and not proc.alive():
                    raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            rows.append(measure(row, make(), shape, pids, profile))
        peak_rss = rss.peak()
        if workers:  # every process of the supervisor's tree, added up
            peak_rss += sum((_status_kib(pid, "VmHWM") or 0) * 1024 for pid in process_tree(server.pid)[1:])
        setup = {
            "gateway": (
                f"{gateway_kind}" + (f", its own peak RSS {gateway_rss.peak() / MiB:.0f} MiB" if gateway_rss else "")
            )
            if http
            else None,
            "workers": args.workers,
        }
        peer_run = None
        if args.peers:
            # compare.sh seeds and serves on its own; the product's processes idle meanwhile.
            signal.alarm(int(args.max_minutes * 60 - (time.monotonic() - started) + args.peers_minutes * 60))
            peer_run = peers.run(
                ROOT,
                args.peers_dir,
                [
                    "--peer",
                    "both",
                    # The product's gateway runs on uvloop: so does the FastAPI peer (its default).
                    "--loop",
                    "auto",
                    "--rows",
                    str(args.list_rows),
                    "--seconds",
                    f"{args.seconds:g}",
                    "--requests",
                    str(args.requests),
                    "--processes",
                    str(args.processes),
                    "--concurrency",
                    str(args.concurrency),
                ],
                timeout=args.peers_minutes * 60,
            )
        report = render(rows, peak_rss, seeded, seed_seconds, T, http_note, time.monotonic() - started, setup)
        if peer_run is not None:
            ok = {r.label: r.result for r in rows if r.result and r.result.ok and r.op not in INVALID}
            report += "\n" + "\n".join(peers.ratio_lines(peer_run, ok.get))
        print()
        print(report)
        (OUT / "latest.md").write_text(report)
        print(f"\nwritten to {(OUT / 'latest.md').relative_to(ROOT)}")
        return 0
    finally:
        signal.alarm(0)
        if rss is not None:
            rss.stop()
        for proc in reversed(procs):
            proc.stop()
        if exported:
            shutil.rmtree(SOURCE, ignore_errors=True)  # a snapshot is cheap to export again
        if db_name and not args.keep_db:
            with contextlib.suppress(Exception):
                seed.drop_database(db_name, args.admin_url)
        elif db_name:
            print(f"kept database: {url}")


# -- the report ----------------------------------------------------------------------


def _fmt(x: float, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def render(
    rows: list[Row],
    peak_rss: int,
    seeded: seed.Seeded,
    seed_seconds: float,
    shape: Shape,
    http_note: str,
    total: float,
    setup: dict[str, Any],
) -> str:
    by_label = {r.label: r for r in rows}
    echoes = [r.result.rps for r in rows if r.label in CEILING_LABELS and r.result and r.result.ok]
    ceiling = sum(echoes) / len(echoes) if echoes else math.nan

    def grpc_twin(r: Row) -> Row | None:
        return by_label.get(r.label.replace(" HTTP", "")) if r.label != "HTTP floor" else None

    lines = [
        f"# Benchmark: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        (
            f"- service code: snapshot `{(SOURCE / '.complete').read_text().strip()[:12]}`; "
            if SOURCE != ROOT
            else f"- service code: work tree at commit `{_git('rev-parse', '--short', 'HEAD')}`{' (with uncommitted changes)' if _git('status', '--porcelain', '--untracked-files=no') else ''}; "
        )
        + f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), 1-minute load average {LOAD_BEFORE[0] if LOAD_BEFORE else math.nan:.1f} "
        f"before the run and {os.getloadavg()[0]:.1f} after{' (other work was using the machine)' if max(LOAD_BEFORE + [0]) > 1.5 else ''}; "
        f"Python {platform.python_version()}",
        f"- PostgreSQL, fresh database seeded with {seeded.rows[seed.LIST_WORKSPACE]:,} issues (list workspace) and "
        f"{seeded.rows[seed.METRICS_WORKSPACE]:,} (metrics workspace) in {seed_seconds:.0f}s; whole run {total / 60:.1f} min",
        f"- throughput rows: {shape.processes} load-generator processes x {shape.concurrency} calls in flight, "
        f"at most {shape.max_requests:,} requests or {shape.max_seconds:.0f}s each; `c=1` rows: one call at a time; "
        f"metrics: one call at a time, 40 calls",
        f"- echo ceiling: {', '.join(f'{e:,.0f}' for e in echoes)} RPS (measured at the start, middle and end; the ratios use the mean, {_fmt(ceiling, 0)})"
        + (f"; {setup['workers']} echo processes on one port, like the service" if setup.get("workers", 1) > 1 else ""),
        f"- server: `serve --workers {setup['workers']}` ({setup['workers']} gRPC processes on one port, SO_REUSEPORT; "
        f"{shape.channels} connections per load process so that they spread over the processes)"
        if setup.get("workers", 1) > 1
        else "- server: one process (`serve`)",
        f"- HTTP: gateway {setup['gateway']}; `HTTP floor` = Starlette on uvicorn returning a small JSON (bench/http_echo.py), no gRPC behind it"
        if setup.get("gateway")
        else "- HTTP: not measured",
        "",
        "| operation | via | load | RPS | p50 ms | p99 ms | RPS / echo | HTTP / gRPC RPS | HTTP adds p50 ms | server CPU µs/req | PostgreSQL CPU µs/req | loadgen CPU µs/req |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for r in rows:
        res = r.result
        if res is None:
            lines.append(f"| {r.op} | {r.via} | | failed | | | | | | | | |")
            notes.append(f"{r.label}: {r.note}")
            continue
        ok = max(res.ok, 1)
        load = f"{res.processes}x{res.concurrency}"
        ratio = res.rps / ceiling if ceiling == ceiling and ceiling else math.nan
        http_ratio = added = None
        if r.via == "HTTP":
            twin = grpc_twin(r)
            if twin and twin.result and twin.result.ok:
                http_ratio = res.rps / twin.result.rps
                added = (res.p50 - twin.result.p50) * 1e3
        name = r.op + (
            " (ceiling" + r.label[4:].replace(" (", ", ").replace(")", "") + ")" if r.label in CEILING_LABELS else ""
        )
        lines.append(
            f"| {name} | {r.via} | {load} | {res.rps:,.0f} | {_fmt(res.p50 * 1e3)} | {_fmt(res.p99 * 1e3)} | "
            f"{_fmt(ratio)} | {_fmt(http_ratio)} | {_fmt(added)} | "
            f"{r.server_cpu / ok * 1e6:,.0f} | {r.db_cpu / ok * 1e6:,.0f} | {res.client_cpu / ok * 1e6:,.0f} |"
        )
        if r.note:
            notes.append(f"{r.label}: {r.note}")
    rss_of = (
        "every process of `serve --workers`: supervisor, workers and gateway, added up"
        if setup.get("workers", 1) > 1
        else "`python -m service serve`, gateway included when on"
    )
    lines += ["", f"Server peak RSS (VmHWM of {rss_of}): **{peak_rss / MiB:.0f} MiB**", ""]
    lines += _bulk_lines(by_label)

    lines += ["## Targets", "", "| target | measured | result |", "| --- | --- | --- |"]
    for label, key, kind, limit in TARGETS:
        value, passed = _check(kind, key, limit, by_label, ceiling, peak_rss)
        if kind == "rss" and setup.get("workers", 1) > 1:  # the target is one process's
            value, passed = f"{peak_rss / MiB:.0f} MiB over {setup['workers'] + 2} processes (a target for one)", None
        lines.append(f"| {label} | {value} | {'—' if passed is None else ('PASS' if passed else 'MISS')} |")
    if http_note:
        notes.append(http_note)
    notes += [f"INVALID {op} rows: {why}" for op, why in INVALID.items()]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += [
        "",
        "CPU columns: CPU seconds the process(es) used during the row, per successful request "
        "(server = the echo server on echo rows, `python -m service serve` otherwise (with `--workers`, every process of it), plus `python -m gateway` "
        "on HTTP rows when standalone; PostgreSQL = all its processes on the machine, other users' work "
        "included; loadgen = the load-generator processes). The 2 cores are shared by all of them.",
        "",
    ]
    return "\n".join(lines)


def _bulk_lines(by_label: dict[str, Row]) -> list[str]:
    """What one issue costs in a bulk update against one UpdateIssue call."""
    single, bulk = by_label.get("UpdateIssue"), by_label.get("BulkUpdateIssues")
    if not (single and bulk and single.result and bulk.result and single.result.ok and bulk.result.ok):
        return []
    one, many = single.result, bulk.result
    per_single_cpu = single.server_cpu / one.ok * 1e6
    per_bulk_cpu = bulk.server_cpu / (many.ok * BULK_SIZE) * 1e6
    per_single_db = single.db_cpu / one.ok * 1e6
    per_bulk_db = bulk.db_cpu / (many.ok * BULK_SIZE) * 1e6
    return [
        "## Bulk update: per issue",
        "",
        "| | issues/s | server CPU µs/issue | PostgreSQL CPU µs/issue |",
        "| --- | ---: | ---: | ---: |",
        f"| UpdateIssue (one issue per call) | {one.rps:,.0f} | {per_single_cpu:,.0f} | {per_single_db:,.0f} |",
        f"| BulkUpdateIssues ({BULK_SIZE} issues per call) | {many.rps * BULK_SIZE:,.0f} | {per_bulk_cpu:,.0f} | {per_bulk_db:,.0f} |",
        "",
        f"An issue updated in a bulk costs {per_bulk_cpu / per_single_cpu:.2f}x the server CPU of one UpdateIssue "
        f"and goes {many.rps * BULK_SIZE / one.rps:.2f}x as fast (each still its own transaction, with its history).",
        "",
    ]


def _check(
    kind: str, key: str | None, limit: float, by_label: dict[str, Row], ceiling: float, peak_rss: int
) -> tuple[str, bool | None]:
    def res(label: str) -> loadgen.Result | None:
        r = by_label.get(label)
        if r is not None and r.op in INVALID:
            return None
        bad = r is None or r.result is None or r.result.ok == 0
        if not bad and r.result.error_count > 0.01 * (r.result.ok + r.result.error_count):
            return None  # more than 1% errors: not a valid measurement
        return None if bad else r.result

    if key is not None and key.split(" ")[0] in INVALID:
        return "invalid answers (see Notes)", False
    if kind == "rss":
        return f"{peak_rss / MiB:.0f} MiB", peak_rss / MiB < limit
    if kind == "ratio":
        r = res(key)
        if r is None or ceiling != ceiling:  # NaN: not measured
            return "not measured", None if key not in by_label else False
        v = r.rps / ceiling
        return f"{v:.2f} ({r.rps:,.0f} / {ceiling:,.0f} RPS)", v >= limit
    if kind == "p50_ms":
        r = res(key)
        if r is None:
            return "not measured", None if key not in by_label else False
        return f"{r.p50 * 1e3:.1f} ms", r.p50 * 1e3 < limit
    if kind.startswith("vs "):
        r, first = res(key), res(kind[3:])
        if r is None or first is None:
            return "not measured", None if key not in by_label else False
        v = r.rps / first.rps
        return f"{v:.2f} ({r.rps:,.0f} / {first.rps:,.0f} RPS)", v >= limit
    base, sep, rest = key.partition(" c=")
    http_label = f"{base} HTTP{sep}{rest}"
    h = res(http_label)
    g = res(key)
    if h is None or g is None:
        return ("not measured (no gateway)" if http_label not in by_label else "not measured (errors)"), (
            None if http_label not in by_label else False
        )
    if kind == "http_ratio":
        v = h.rps / g.rps
        return f"{v:.2f} ({h.rps:,.0f} / {g.rps:,.0f} RPS)", v >= limit
    added = (h.p50 - g.p50) * 1e3
    return f"{added:+.2f} ms ({h.p50 * 1e3:.2f} vs {g.p50 * 1e3:.2f} ms)", added < limit


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())

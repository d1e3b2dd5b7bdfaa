"""Where the test suite's CPU goes, one slice of it at a time:

    .venv/bin/python -m bench.suite_cpu --name cli tests/e2e/test_cli_*.py [-n 2] [-- pytest args]

runs pytest on the slice with this module loaded as a plugin (`-p
bench.suite_cpu`) and prints one JSON line: wall time, CPU of pytest and
every process it started (RUSAGE_CHILDREN of the runner), the PostgreSQL
cluster's CPU over the run (from /proc: live processes, plus what the
postmaster reaped), and, from the plugin in each xdist worker, the CPU of
every subprocess the tests started by kind (server, gateway, issuectl, ...;
read from wait4's rusage as each is reaped), new PostgreSQL databases and the
seconds their creation took, schemathesis calls, and each worker's own CPU
by test file. `--table` sums lines of earlier runs into the table of causes.

The whole suite at once would load a shared machine for ten minutes; slices
can be run one after another and compared A/B.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

_ENV = "SUITE_CPU_DIR"
_CLK = os.sysconf("SC_CLK_TCK")

# -- the plugin (in pytest's processes) -----------------------------------------

_current_file = ["(collection)"]
_children: list[dict[str, Any]] = []
_databases: list[dict[str, Any]] = []
_test_cpu: collections.Counter[str] = collections.Counter()
_counts: collections.Counter[str] = collections.Counter()


def _kind(argv: list[str]) -> str:
    words = [os.path.basename(str(a)) for a in argv]
    text = " ".join(words)
    if "service" in words and "serve" in words:
        return "server --workers" if "--workers" in words else "server"
    if "-m" in words and "gateway" in words:
        return "gateway"
    if "issuectl" in words or ("-m" in words and "cli" in words):
        return "issuectl"
    if "-m" in words and "service" in words:
        return "service command"
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "pgbouncer", "pg_ctlcluster", "psql"):
        if tool in text:
            return "postgres tools"
    if words and words[0].startswith("python"):
        return "python " + (words[1] if len(words) > 1 else "")
    return words[0] if words else "?"


def _record(popen: Any, rusage: Any) -> None:
    _children.append(
        {
            "kind": getattr(popen, "_suite_kind", "?"),
            "file": getattr(popen, "_suite_file", "?"),
            "cpu": rusage.ru_utime + rusage.ru_stime,
            "wall": time.monotonic() - getattr(popen, "_suite_started", time.monotonic()),
        }
    )


def _install() -> None:
    """Every subprocess.Popen remembers its kind and is reaped with wait4, whose rusage we keep."""
    original_init = subprocess.Popen.__init__
    original_try_wait = subprocess.Popen._try_wait  # type: ignore[attr-defined]
    original_poll = subprocess.Popen._internal_poll  # type: ignore[attr-defined]

    def init(self: Any, args: Any, *a: Any, **kw: Any) -> None:
        self._suite_kind = _kind(list(args) if isinstance(args, (list, tuple)) else str(args).split())
        self._suite_file = _current_file[0]
        self._suite_started = time.monotonic()
        original_init(self, args, *a, **kw)

    def try_wait(self: Any, wait_flags: int) -> tuple[int, int]:
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return original_try_wait(self, wait_flags)
        if pid == self.pid:
            _record(self, usage)
        return pid, status

    def internal_poll(self: Any, *a: Any, **kw: Any) -> Any:
        def waitpid(pid: int, flags: int) -> tuple[int, int]:
            got, status, usage = os.wait4(pid, flags)
            if got == pid:
                _record(self, usage)
            return got, status

        kw["_waitpid"] = waitpid
        return original_poll(self, *a, **kw)

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]
    subprocess.Popen._try_wait = try_wait  # type: ignore[attr-defined]
    subprocess.Popen._internal_poll = internal_poll  # type: ignore[attr-defined]

    from tests import harness

    original_create = harness.create_database

    def create_database(admin_url: str) -> tuple[str, str]:
        started = time.monotonic()
        try:
            return original_create(admin_url)
        finally:
            _databases.append({"file": _current_file[0], "seconds": time.monotonic() - started})

    harness.create_database = create_database  # type: ignore[assignment]

    try:
        import schemathesis

        original_call = schemathesis.Case.call

        def call(self: Any, *a: Any, **kw: Any) -> Any:
            _counts["schemathesis calls"] += 1
            return original_call(self, *a, **kw)

        schemathesis.Case.call = call  # type: ignore[method-assign]
    except Exception:  # noqa: BLE001 - not installed: nothing to count
        pass


def pytest_configure(config: Any) -> None:
    if os.environ.get(_ENV):
        _install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Any:
    """Children and this worker's CPU are laid to the test file that ran."""
    _current_file[0] = item.nodeid.split("::")[0]
    started = time.process_time()
    try:
        return (yield)
    finally:
        _test_cpu[_current_file[0]] += time.process_time() - started


def pytest_unconfigure(config: Any) -> None:
    directory = os.environ.get(_ENV)
    if not directory:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    out = {
        "worker": worker,
        "self_cpu": usage.ru_utime + usage.ru_stime,
        "children": _children,
        "databases": _databases,
        "test_cpu": dict(_test_cpu),
        "counts": dict(_counts),
    }
    pathlib.Path(directory, f"{worker}-{os.getpid()}.json").write_text(json.dumps(out))


# -- the runner -----------------------------------------------------------------


def _stat(pid: str) -> list[str] | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def postgres_cpu(postmaster: str) -> float:
    """Seconds of CPU of one PostgreSQL cluster: its postmaster, what the postmaster
    reaped (backends that ended), and its live children. 0 without a postmaster pid
    (another cluster shared with other work would be noise)."""
    if not postmaster:
        return 0.0
    fields = _stat(postmaster)
    if fields is None:
        return 0.0
    total = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for entry in pathlib.Path("/proc").iterdir():
        child = _stat(entry.name) if entry.name.isdigit() else None
        if child is not None and child[1] == postmaster:
            total += int(child[11]) + int(child[12])
    return total / _CLK


def run_slice(
    name: str, paths: list[str], workers: str, extra: list[str], postmaster: str, keep: str = ""
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="suite-cpu-") as directory:
        env = {**os.environ, _ENV: directory}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench.suite_cpu"]
        command += ["-n", workers, *extra, *paths]
        load = os.getloadavg()[0]
        pg_before, started = postgres_cpu(postmaster), time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, pg_after = time.monotonic() - started, postgres_cpu(postmaster)
        reports = [json.loads(p.read_text()) for p in pathlib.Path(directory).glob("*.json")]
    if keep:
        pathlib.Path(keep).write_text(done.stdout + done.stderr)
    by_kind: dict[str, list[float]] = {}
    for report in reports:
        for child in report["children"]:
            if report["worker"] == "main":
                continue  # xdist's workers, their own children included: counted in their reports
            entry = by_kind.setdefault(child["kind"], [0, 0.0])
            entry[0] += 1
            entry[1] += child["cpu"]
    creates = [d["seconds"] for r in reports for d in r["databases"]]
    workers_cpu = sum(r["self_cpu"] for r in reports if r["worker"] != "main")
    main_cpu = sum(r["self_cpu"] for r in reports if r["worker"] == "main")
    test_cpu: collections.Counter[str] = collections.Counter()
    children_by_file: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for report in reports:
        test_cpu.update(report["test_cpu"])
        counts.update(report["counts"])
        for child in report["children"] if report["worker"] != "main" else []:
            children_by_file[child["file"]] += child["cpu"]
    return {
        "name": name,
        "summary": (done.stdout.strip().splitlines() or ["?"])[-1],
        "load_before": load,
        "wall": round(wall, 1),
        "cpu_all": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "postgres_cpu": round(pg_after - pg_before, 1),
        "pytest_main_cpu": round(main_cpu, 1),
        "pytest_workers_cpu": round(workers_cpu, 1),
        "children": {k: [n, round(c, 1)] for k, (n, c) in sorted(by_kind.items(), key=lambda kv: -kv[1][1])},
        "databases_created": len(creates),
        "database_create_seconds": round(sum(creates), 1),
        "counts": dict(counts),
        "worker_cpu_by_file": {k: round(v, 1) for k, v in test_cpu.most_common(8)},
        "children_cpu_by_file": {k: round(v, 1) for k, v in children_by_file.most_common(8)},
        "returncode": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="slice")
    parser.add_argument("-n", dest="workers", default="2")
    parser.add_argument("--postmaster", default="", help="pid of the cluster's postmaster the tests use")
    parser.add_argument("--keep-output", default="", help="write pytest's output to this file")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--table", nargs="*", help="sum these JSON-lines files instead of running")
    args, extra = parser.parse_known_args()
    if args.table is not None:
        print_table(
            [json.loads(line) for f in args.table for line in pathlib.Path(f).read_text().splitlines() if line.strip()]
        )
        return
    print(
        json.dumps(
            run_slice(
                args.name, args.paths, args.workers, [e for e in extra if e != "--"], args.postmaster, args.keep_output
            )
        )
    )


def print_table(runs: list[dict[str, Any]]) -> None:
    print("| slice | result | wall s | CPU s (all) | pytest workers | postgres | servers | issuectl | other children |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        children = r["children"]
        servers = sum(c for k, (n, c) in children.items() if k.startswith("server"))
        nservers = sum(n for k, (n, c) in children.items() if k.startswith("server"))
        cli = children.get("issuectl", [0, 0.0])
        other = sum(c for k, (n, c) in children.items() if not k.startswith("server") and k != "issuectl")
        print(
            f"| {r['name']} | {r['summary']} | {r['wall']} | {r['cpu_all']} | {r['pytest_workers_cpu']} "
            f"| {r['postgres_cpu']} | {servers:.1f} ({nservers}) | {cli[1]:.1f} ({cli[0]}) | {other:.1f} |"
        )


if __name__ == "__main__":
    main()

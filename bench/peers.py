"""`bench.run --peers`: the peers of ../shared/peers measured in the same run,
and the product/peer ratios of the HTTP rows.

compare.sh is run from a copy of its folder in a scratch directory, never
where it lies: ../shared is read-only where it is handed out (and a root user
passes compare.sh's own `-w` check, so it would write its `.venv` and Python's
bytecode there). Its environment is kept under bench/out/ (PEERS_VENV), so it is
installed once, not every run. Its results are read from the markdown tables
drive.py prints, one per peer.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

DEFAULT_DIR = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "peers"
PEERS = {"fastapi": "FastAPI + SQLAlchemy async", "drf": "Django REST Framework"}
# (product row, what drive.py calls it, the product/peer RPS ratio issue 18 asks for of each peer)
ROWS = [
    ("GetIssue HTTP", "GET one issue", {"fastapi": 1.5, "drf": 3.0}),
    ("CreateIssue HTTP", "POST create", {"fastapi": 1.5, "drf": 3.0}),
    ("ListIssues HTTP", "GET a page of 100", {"fastapi": 2.0, "drf": 3.0}),
]
_HEADER = re.compile(r"^## (?P<peer>\w+) peer: (?P<shape>.*)$")


@dataclass
class PeerRow:
    rps: float
    p50_ms: float
    server_cpu_us: float
    db_cpu_us: float
    errors: int


@dataclass
class PeerRun:
    # peer -> product row label -> its measurement
    rows: dict[str, dict[str, PeerRow]] = field(default_factory=dict)
    shapes: dict[str, str] = field(default_factory=dict)
    command: str = ""
    problem: str = ""  # why there is nothing (or less than asked), "" when the run went through


def parse(output: str) -> PeerRun:
    """The tables drive.py printed: `## NAME peer: SHAPE`, then one row per operation
    (operation | product's row | RPS | p50 | p99 | server CPU | PostgreSQL CPU | loadgen CPU | errors)."""
    run = PeerRun()
    peer = None
    for line in output.splitlines():
        header = _HEADER.match(line)
        if header:
            peer = header["peer"]
            run.rows[peer], run.shapes[peer] = {}, header["shape"]
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| ") else []
        if peer is None or len(cells) != 9 or cells[2] in ("RPS", "---:"):
            continue
        try:
            number = [float(c.replace(",", "")) for c in (cells[2], cells[3], cells[5], cells[6])]
            run.rows[peer][cells[1]] = PeerRow(number[0], number[1], number[2], number[3], int(cells[8]))
        except ValueError:
            continue
    return run


def run(
    root: pathlib.Path,
    peers_dir: pathlib.Path,
    options: list[str],
    *,
    timeout: float,
    log: Callable[[str], None] = print,
) -> PeerRun:
    """compare.sh ROOT OPTIONS, from a scratch copy of `peers_dir`; its output goes to
    bench/out/peers.log as it comes."""
    out = root / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    if not (peers_dir / "compare.sh").is_file():
        return PeerRun(problem=f"no {peers_dir / 'compare.sh'} (--peers-dir names the peers' folder)")
    env = dict(os.environ, PEERS_VENV=str(out / "peers-venv"), PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory(prefix="peers-") as scratch:
        copy = pathlib.Path(scratch) / "peers"
        shutil.copytree(peers_dir, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
        for path in [copy, *copy.rglob("*")]:  # copies keep the read-only modes
            path.chmod(path.stat().st_mode | 0o200)
        command = ["bash", str(copy / "compare.sh"), str(root), *options]
        shown = f"{peers_dir / 'compare.sh'} {root} {' '.join(options)}"
        log(f"peers: {shown} (from a copy in {scratch}; environment {env['PEERS_VENV']})")
        lines: list[str] = []
        with open(out / "peers.log", "w") as saved:
            try:
                proc = subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=dict(env, TMPDIR=scratch),
                    cwd=scratch,
                )
            except OSError as exc:
                return PeerRun(command=shown, problem=f"compare.sh did not start: {exc}")
            assert proc.stdout is not None
            try:
                for line in _lines_until(proc, timeout):
                    saved.write(line)
                    lines.append(line)
            finally:
                if proc.poll() is None:  # out of time: compare.sh's trap stops its peer and drops its database
                    proc.terminate()
                    proc.wait(30)
    result = parse("".join(lines))
    result.command = shown
    if proc.returncode != 0:
        tail = " / ".join(line.strip() for line in lines[-3:])
        result.problem = f"compare.sh exited with {proc.returncode} (bench/out/peers.log): {tail}"
    return result


def _lines_until(proc: subprocess.Popen, timeout: float):
    import selectors
    import time

    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                if not line:
                    proc.wait()
                    return
                yield line
            elif proc.poll() is not None:
                return


def ratio_lines(peers: PeerRun, product: Callable[[str], Any]) -> list[str]:
    """The report's section: product and peer RPS side by side, the ratio and issue 18's
    target for each. `product(label)` is the product's loadgen result of that row, or None."""
    lines = ["## Product / peers (HTTP, the same run)", ""]
    if peers.command:
        lines += [f"`{peers.command}`" + "".join(f"; {p}: {s}" for p, s in peers.shapes.items()), ""]
    if peers.problem:
        lines += [f"- {peers.problem}", ""]
    names = [p for p in PEERS if p in peers.rows]
    if not names:
        return lines
    lines += [
        "| row | this service | " + " | ".join(f"{PEERS[p]} | ratio (target)" for p in names) + " |",
        "| --- | ---: | " + " | ".join("---: | ---:" for _ in names) + " |",
    ]
    for label, name, targets in ROWS:
        mine = product(label)
        cells = [name, f"{mine.rps:,.0f} RPS, {mine.p50 * 1e3:.2f} ms" if mine else "not measured"]
        for p in names:
            theirs = peers.rows[p].get(label)
            if theirs is None or theirs.rps <= 0:
                cells += ["not measured", "—"]
                continue
            cells.append(
                f"{theirs.rps:,.0f} RPS, {theirs.p50_ms:.2f} ms"
                + (f", {theirs.errors} errors" if theirs.errors else "")
            )
            if mine is None:
                cells.append(f"— (≥ {targets[p]:g}x)")
            else:
                ratio = mine.rps / theirs.rps
                cells.append(f"{ratio:.2f}x (≥ {targets[p]:g}x: {'PASS' if ratio >= targets[p] else 'MISS'})")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines

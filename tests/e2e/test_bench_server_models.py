"""The server-model benchmarks run, at a small scale (the full ones are
`python -m bench.server_models` and `python -m bench.watcher_models`).

Each starts its own servers on a fresh, small database: outside the test run
(marked `bench`), run with `python -m pytest -m bench` after changing bench/.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .. import harness


def _run(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", *argv], cwd=harness.REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.bench
@pytest.mark.parametrize("backend", ["postgres"], scope="session")  # the benchmarks run on PostgreSQL
def test_every_server_model_serves_the_real_handlers(backend, postgres_admin_url):
    out = _run(
        "bench.server_models",
        "--admin-url",
        postgres_admin_url,
        "--list-rows",
        "300",
        "--modes",
        "product,aio-queue,aio-batch,sync",
        "--ops",
        "GetIssue,CreateIssue",
        "--rounds",
        "1",
        "--seconds",
        "1",
        "--slots",
        "4",
        "--concurrency",
        "4",
    )
    assert " errors " not in out, out  # every call answered, on every model
    for op in ("GetIssue", "CreateIssue"):
        for mode in ("product", "aio-queue", "aio-batch", "sync"):
            row = re.search(rf"^\| {op} \| {mode} \| ([\d,]+) \|", out, re.M)
            assert row and int(row[1].replace(",", "")) > 0, out


@pytest.mark.bench
@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_watchers_on_either_model_all_get_every_event(backend, postgres_admin_url):
    out = _run(
        "bench.watcher_models",
        "--admin-url",
        postgres_admin_url,
        "--list-rows",
        "300",
        "--watchers",
        "10",
        "--channels",
        "2",
        "--seconds",
        "1",
        "--triggers",
        "3",
    )
    for model in ("product", "sync"):
        assert f"{model}: fan-out, 50 of 50 arrivals" in out, out
        assert re.search(rf"^{model}: RSS [\d.]+ MiB, \d+ threads with 10 watchers open", out, re.M), out
    # serve: 5 gRPC and 5 SSE watchers on the in-process gateway, each of the 3 events at all 10.
    assert "serve: fan-out, 30 of 30 arrivals" in out, out
    assert re.search(r"^serve: RSS [\d.]+ MiB, \d+ threads with 5 gRPC \+ 5 SSE watchers open", out, re.M), out
    assert re.search(r"^serve: GetIssue, watchers open: [\d.]+ of echo .*, 0 errors$", out, re.M), out

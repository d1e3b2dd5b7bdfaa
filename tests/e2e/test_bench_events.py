"""The live-events benchmark runs, at a small scale (the full one is `python -m bench.events`).

Half a minute of several servers and watcher processes: outside the test run
(marked `bench`), run with `python -m pytest -m bench` after changing bench/.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .. import harness


@pytest.mark.bench
@pytest.mark.parametrize("backend", ["postgres"], scope="session")  # the benchmark runs on PostgreSQL
def test_the_events_benchmark_runs_small(backend, postgres_admin_url, tmp_path):
    out = tmp_path / "events.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.events",
            "--admin-url",
            postgres_admin_url,
            "--watchers",
            "10",
            "--channels",
            "2",
            "--seconds",
            "1",
            "--rate",
            "40",
            "--json",
            str(out),
        ],
        cwd=harness.REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| server RSS, 10 idle gRPC watchers |" in done.stdout
    results = json.loads(out.read_text())
    assert results["sse_opened"] == 10
    assert results["latency_missing"] == 0 and results["latency_p99_ms"] < 1000
    assert results["events_received_by_watchers"] > 0

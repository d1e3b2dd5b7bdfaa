"""The README's webhook walkthrough runs as written (only the ports differ):
its receiver verifies with standardwebhooks, the retries show in the log,
the redelivery arrives, and issuectl shows the same webhook."""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import socket
import subprocess
import sys

from .. import harness
from .test_readme import block_after


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_webhook_walkthrough_runs_as_written(tmp_path: pathlib.Path):
    serve = shlex.split(block_after("webhooks-serve").strip())
    env = dict(word.split("=", 1) for word in serve if "=" in word)  # the variables it is started with
    assert serve[len(env) :] == ["python", "-m", "service", "serve"] and env["ISSUES_WEBHOOK_ALLOW_PRIVATE"] == "1"
    server = harness.ServerProcess(f"sqlite:///{tmp_path / 'hooks.db'}", tmp_path, http=True, env=env)
    try:
        token, _ = harness.mint_token(server.database_url, "admin")
        port = _free_port()
        script = "set -euo pipefail\n" + block_after("webhooks-walkthrough")
        script = (
            script.replace("localhost:8080", f"127.0.0.1:{server.http_port}")
            .replace("localhost:50051", server.target)
            .replace("9000", str(port))
        )
        venv = pathlib.Path(sys.executable).parent
        result = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
            env={**os.environ, "TOKEN": token, "PATH": f"{venv}:{os.environ['PATH']}"},
        )
    finally:
        server.stop()
        harness.close_databases()

    assert result.returncode == 0, result.stderr
    received = (tmp_path / "received.log").read_text().splitlines()
    first = [line.split() for line in received if "Webhook smoke test" in line]
    down = [line.split() for line in received if "Receiver down" in line]
    assert first and first[0][1] == "issue.created" and first[0][-1] == "200"
    assert [d[-1] for d in down[:3]] == ["500", "500", "500"] and down[-1][-1] == "200"
    assert len({d[0] for d in down}) == 1  # every attempt, the redelivery too: one webhook-id
    out = result.stdout
    decoder = json.JSONDecoder()
    at = out.index('{"items"')
    pending, at = decoder.raw_decode(out, at)
    assert pending["items"][0]["status"] == "pending" and pending["items"][0]["attempts"] >= 3
    assert pending["items"][0]["last_status_code"] == 500 and pending["items"][0]["id"] == down[0][0]
    redelivered, _ = decoder.raw_decode(out, out.index("{", at))
    assert redelivered["id"] == down[0][0]
    tables = out[out.index("ID  ") :]  # issuectl's tables follow
    assert "/hooks/issues" in tables and "issue.created" in tables and "succeeded" in tables

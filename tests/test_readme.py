"""The README's grpcurl examples run as written (only the port differs)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest


README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def grpcurl_lines() -> list[str]:
    return [line for line in README.read_text().splitlines() if line.startswith("grpcurl -")]


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_every_readme_grpcurl_line_succeeds(backend, grpc_server, make_token):
    token, _ = make_token("admin")
    env = {**os.environ, "TOKEN": token, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    lines = [line.replace("localhost:50051", grpc_server.target) for line in grpcurl_lines()]
    assert len(lines) >= 8

    outputs = []
    for line in lines:
        result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        outputs.append(result.stdout)
        if '"title":"x"' in line:
            env["ISSUE"] = json.loads(result.stdout)["uuid"]

    issue = json.loads(outputs[lines.index(next(l for l in lines if "UpdateIssue" in l))])
    assert issue["status"] == "STATUS_IN_PROGRESS" and issue["owner"] == "engineer@example.com"
    assert json.loads(outputs[-1])["items"][0]["content"] == "Reproduced on bench."


def block_after(marker: str) -> str:
    text = README.read_text()
    start = text.index(f"<!-- {marker} -->")
    body = text[start:].split("```sh\n", 1)[1].split("```", 1)[0]
    return body


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_curl_walkthrough_runs_as_written(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("admin")
    script = "set -euo pipefail\n" + block_after("curl-walkthrough") + block_after("curl-attachments")
    script = script.replace("localhost:8080", f"127.0.0.1:{grpc_server.http_port}")

    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TOKEN": token}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"title":"Power rail undervoltage at startup"' in out and '"status":"in_progress"' in out
    assert '"content":"Confirmed C12 is root cause."' in out and '"is_edited":true' in out
    assert '"chart_type":"pie_chart"' in out
    assert '"file_type":"troubleshooting_plan"' in out
    assert out.rstrip().endswith("1. Probe C12")  # the downloaded plan

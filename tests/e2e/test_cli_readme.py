"""The README's issuectl walk-through runs as written (only the port differs), as test_readme does for curl."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ..cli_run import command
from .test_readme import block_after


@pytest.mark.long
@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_issuectl_walkthrough_runs_as_written(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("admin")
    script = "set -euo pipefail\n" + block_after("cli-walkthrough").replace("localhost:50051", grpc_server.target)
    bindir = os.path.dirname(command()[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISSUES_")}
    env.update(
        {
            "TOKEN": token,
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / ".config"),
            "PATH": f"{bindir}:{env['PATH']}",
        }
    )

    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "logged in to" in out and "Power rail undervoltage at startup" in out
    assert "Reproduced on bench." in out and "Plan attached" in out and "[plan.md]" in out
    assert "Active Issues" in out and "deleted" in out
    assert "#1  " in out and "issue.created" in out and "comment.created" in out  # issuectl watch
    viewed, end = json.JSONDecoder().raw_decode(out, out.index('{\n  "issue"'))
    assert viewed["issue"]["status"] == "in_progress" and viewed["issue"]["owner"] == "engineer@example.com"
    assert viewed["issue"]["tags"] == ["power", "startup", "rev4"]
    assert [c["content"] for c in viewed["comments"]["items"]] == [
        "Reproduced on bench.",
        "Plan attached",
        "C12 sags to 2.9 V",
    ]  # the last from standard input
    assert [(r["emoji"], r["count"]) for r in viewed["comments"]["items"][1]["reactions"]] == [("👍", 1)]
    [child] = viewed["sub_issues"]["items"]
    assert child["title"] == "Probe C12 under load" and child["status"] == "resolved"
    fields = json.loads(out[end : out.rindex("]") + 1])
    assert [sorted(f) for f in fields] == [["identifier", "status", "title"]] * 2
    assert any("status_changed" in line and line.endswith("open -> in_progress") for line in out.splitlines())
    assert out.rstrip().endswith(f"deleted {child['identifier']}")
    assert list(tmp_path.iterdir()) == [tmp_path / ".config"]  # the plan went to a temporary directory

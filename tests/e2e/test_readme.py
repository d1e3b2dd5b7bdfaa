"""The README's grpcurl examples run as written (only the port differs)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from .. import harness

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def grpcurl_lines() -> list[str]:
    lines = README.read_text().splitlines()
    # WatchEvents follows until stopped: test_events.py runs those lines.
    return [
        line
        for line in lines
        if (line.startswith("grpcurl -") or re.match(r"[A-Z]+=\$\(grpcurl ", line)) and "WatchEvents" not in line
    ]


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_every_readme_grpcurl_line_succeeds(backend, grpc_server, make_token):
    """In one shell, in order, so that `$ISSUE` is whatever the README itself set it to."""
    token, _ = make_token("admin")
    env = {**os.environ, "TOKEN": token, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("ISSUE", None)
    lines = [line.replace("localhost:50051", grpc_server.target) for line in grpcurl_lines()]
    assert len(lines) >= 9 and lines.index(next(ln for ln in lines if ln.startswith("ISSUE="))) < lines.index(
        next(ln for ln in lines if "$ISSUE" in ln and not ln.startswith("ISSUE="))
    )
    marker = "<<<end of line>>>"
    script = "set -euo pipefail\n" + "".join(f"{line}\necho '{marker}'\n" for line in lines)

    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env)

    assert result.returncode == 0, result.stderr
    outputs = result.stdout.split(marker + "\n")[:-1]
    assert len(outputs) == len(lines)
    issue = json.loads(outputs[lines.index(next(ln for ln in lines if "UpdateIssue" in ln))])
    assert issue["status"] == "STATUS_IN_PROGRESS" and issue["owner"] == "engineer@example.com"
    assert issue["title"] == "C12 footprint"  # the issue the README created and kept in $ISSUE
    comments = json.loads(outputs[lines.index(next(ln for ln in lines if "ListComments" in ln))])
    assert comments["items"][0]["content"] == "Reproduced on bench."
    # Filters, search and a page by token (the lines of "Filters, search and page tokens").
    searched = json.loads(outputs[lines.index(next(ln for ln in lines if '"q":"footprint"' in ln))])
    assert [i["title"] for i in searched["items"]] == ["C12 footprint"]
    paged = json.loads(outputs[-1])
    assert paged["count"] >= 3 and len(paged["items"]) == 1 and paged["items"][0]["title"] != "x"
    # A create repeated with its request_id answers the same; the etag made the update conditional.
    retried = [outputs[i] for i, line in enumerate(lines) if '"request_id"' in line]
    assert len(retried) == 2 and retried[0] == retried[1]
    conditional = json.loads(outputs[lines.index(next(ln for ln in lines if '\\"etag\\"' in ln))])
    assert conditional["priority"] == "PRIORITY_HIGH" and conditional["title"] == "C12 footprint"
    bulk = json.loads(outputs[lines.index(next(ln for ln in lines if "BulkUpdateIssues" in ln))])
    assert bulk["updated"] == 1 and bulk["results"][0]["outcome"] == "OUTCOME_UPDATED"


def block_after(marker: str) -> str:
    """The shell block after `<!-- runnable: marker -->` (or, for blocks that are not runnable as they
    stand, such as the events that follow until stopped, `<!-- marker -->`)."""
    text = README.read_text()
    runnable = f"<!-- runnable: {marker} -->"
    start = text.index(runnable if runnable in text else f"<!-- {marker} -->")
    body = text[start:].split("```sh\n", 1)[1].split("```", 1)[0]
    return body


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_curl_walkthrough_runs_as_written(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("admin")
    script = "set -euo pipefail\n" + block_after("curl-walkthrough") + block_after("curl-attachments")
    script = script.replace("localhost:8080", f"127.0.0.1:{grpc_server.http_port}")

    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TOKEN": token},
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"title":"Power rail undervoltage at startup"' in out and '"status":"in_progress"' in out
    assert '"content":"Confirmed C12 is root cause."' in out and '"is_edited":true' in out
    assert '"chart_type":"pie_chart"' in out
    assert '"file_type":"troubleshooting_plan"' in out
    assert out.rstrip().endswith("1. Probe C12")  # the downloaded plan


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_list_examples_run_as_written(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("admin")
    script = "set -euo pipefail\n" + block_after("curl-lists").replace(
        "localhost:8080", f"127.0.0.1:{grpc_server.http_port}"
    )

    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TOKEN": token},
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    replies, text, at = [], result.stdout, 0
    while at < len(text.rstrip()):  # curl prints each reply without a newline
        reply, at = json.JSONDecoder().raw_decode(text, at)
        replies.append(reply)
    searched, both_tags, by_priority, second, wrong_token, unknown, no_such_day = replies[3:]
    assert [i["title"] for i in searched["items"]] == ["Pump cavitation"] and searched["count"] == 1
    assert [i["title"] for i in both_tags["items"]] == ["Pump cavitation"]
    assert [i["title"] for i in by_priority["items"]] == ["Pump cavitation", "Valve chatter"]
    assert by_priority["count"] == 3 and by_priority["next_page_token"]
    assert [i["title"] for i in second["items"]] == ["Pump cavitation"] and second["next_page_token"] == ""
    for refused, fields in ((wrong_token, ["page_token"]), (unknown, ["sort"]), (no_such_day, ["created_before"])):
        assert refused["error"]["code"] == 400
        assert sorted(v["field"] for d in refused["error"]["details"] for v in d["field_violations"]) == sorted(fields)


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_retries_etags_and_bulk_walkthrough_runs_as_written(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("admin")
    script = "set -euo pipefail\n" + block_after("curl-writes")
    script = script.replace("localhost:8080", f"127.0.0.1:{grpc_server.http_port}")

    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TOKEN": token},
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("the retry got the first answer\n"), out
    replies, decoder, at = [], json.JSONDecoder(), 0
    while (at := out.find("{", at)) >= 0:
        reply, at = decoder.raw_decode(out, at)
        replies.append(reply)
    reused, updated, stale, bulk = replies
    assert reused["error"]["code"] == 409 and reused["error"]["details"][0]["reason"] == "REQUEST_ID_REUSED"
    assert "}304\n{" in out and updated["status"] == "in_progress"  # curl adds no newline after a body
    assert stale["error"]["code"] == 412 and stale["error"]["details"][0]["reason"] == "ETAG_MISMATCH"
    assert bulk["updated"] == 1 and [r["outcome"] for r in bulk["results"]] == ["updated", "failed"]
    assert bulk["results"][1] == {
        "id": "NOPE-1",
        "outcome": "failed",
        "error": {"code": 404, "status": "NOT_FOUND", "message": "issue NOPE-1 not found"},
    }


def test_the_readme_tracker_walkthrough_runs_as_written(tmp_path):
    # A fresh server of its own: the walkthrough creates workspace acme.
    server = harness.ServerProcess(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path, http=True)
    try:
        _run_tracker_walkthrough(server, tmp_path)
    finally:
        server.stop()


def _run_tracker_walkthrough(grpc_server: harness.ServerProcess, tmp_path: pathlib.Path) -> None:
    script = "set -euo pipefail\n" + block_after("curl-tracker")
    script = script.replace("localhost:8080", f"127.0.0.1:{grpc_server.http_port}")
    env = {
        **os.environ,
        "DATABASE_URL": grpc_server.database_url,
        "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}",
    }

    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    replies, decoder, at = [], json.JSONDecoder(), 0
    while (at := result.stdout.find("{", at)) >= 0:  # curl adds no newline after a body
        reply, at = decoder.raw_decode(result.stdout, at)
        replies.append(reply)
    created, fetched, workflow, refused, _, resolved, history, reacted, child_a, child_b, subs, by_ref = replies
    assert (
        created["identifier"] == "ACM-1" and fetched["uuid"] == created["uuid"] and created["refs"] == {"order": "8001"}
    )
    assert workflow["transitions"]["open"] == ["in_progress"]
    assert refused["error"]["code"] == 400 and "from open to resolved" in refused["error"]["message"]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert [e["action"] for e in history["items"]] == [
        "created",
        "comment_added",
        "status_changed",
        "owner_changed",
        "status_changed",
        "resolution_summary_changed",
    ]
    assert reacted["reactions"] == [{"emoji": "👍", "count": 1, "users": ["lead@acme.co"]}]
    assert child_a["parent_id"] == child_b["parent_id"] == created["uuid"] and child_b["identifier"] == "ACM-3"
    assert subs["count"] == 2 and [i["identifier"] for i in by_ref["items"]] == ["ACM-1"]


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_stream_ticket_example_runs_as_written(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("viewer")
    script = "set -euo pipefail\n" + block_after("events-ticket")
    script = script.replace("localhost:8080", f"127.0.0.1:{grpc_server.http_port}")

    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TOKEN": token},
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"items": [], "next_page_token": ""}  # a fresh workspace

"""`issuectl comment ID TEXT --attach FILE`: the whole upload flow, checked by downloading the bytes."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from ..cli_run import Cli, assert_one_error_line, cli, http_json  # noqa: F401 - fixture


@pytest.fixture
def account(grpc_server, make_token):
    token, _ = make_token("member")
    return token


def download(grpc_server, token: str, attachment_id: str) -> bytes:
    got = http_json(grpc_server, token, f"/api/v1/attachments/{attachment_id}")
    assert got["attachment"]["status"] == "ready"
    response = httpx.get(got["download_url"])
    assert response.status_code == 200
    return response.content


def test_attached_files_are_uploaded_and_downloadable(cli, grpc_server, account, tmp_path):
    plan = tmp_path / "plan.md"
    plan.write_text("# Troubleshooting plan\n1. Probe C12\n")
    scope = tmp_path / "scope.bin"
    scope.write_bytes(os.urandom(5 * 1024 * 1024 + 123))  # several chunks, past the progress bar's size
    issue_id = cli("create", "--title", "Brown-out").stdout.strip()

    result = cli(
        "comment", issue_id, "See the plan and the capture", "--attach", str(plan), "--attach", str(scope), "--json"
    )

    comment = result.json()
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert comment["content"] == "See the plan and the capture"
    names = [a["file_name"] for a in comment["attachments"]]
    assert names == ["plan.md", "scope.bin"]
    by_name = {a["file_name"]: a for a in comment["attachments"]}
    assert by_name["plan.md"]["content_type"] == "text/markdown"
    assert by_name["scope.bin"]["sha256"] == hashlib.sha256(scope.read_bytes()).hexdigest()
    assert download(grpc_server, account, by_name["plan.md"]["uuid"]) == plan.read_bytes()
    assert download(grpc_server, account, by_name["scope.bin"]["uuid"]) == scope.read_bytes()
    listed = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")
    assert listed["items"] == [comment]


def test_an_empty_file_uploads_too(cli, grpc_server, account, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    issue_id = cli("create", "--title", "t").stdout.strip()

    comment = cli("comment", issue_id, "nothing inside", "--attach", str(empty), "--json").json()

    assert download(grpc_server, account, comment["attachments"][0]["uuid"]) == b""


def test_commenting_on_a_missing_issue_uploads_nothing_and_says_so(cli, tmp_path):
    attached = tmp_path / "a.txt"
    attached.write_text("x")

    result = cli("comment", "00000000-0000-0000-0000-000000000000", "hello", "--attach", str(attached))

    assert_one_error_line(result, "not found")


def test_a_viewer_cannot_upload(grpc_server, make_token, tmp_path):
    attached = tmp_path / "a.txt"
    attached.write_text("x")
    member, slug = make_token("member")
    issue_id = Cli(tmp_path, grpc_server.target, member)("create", "--title", "t").stdout.strip()
    viewer, _ = make_token("viewer", workspace=slug)

    result = Cli(tmp_path, grpc_server.target, viewer)("comment", issue_id, "hi", "--attach", str(attached))

    assert_one_error_line(result, "permission denied")

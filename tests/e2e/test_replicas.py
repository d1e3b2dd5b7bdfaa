"""Replicas (SPEC 10): two `serve` processes on one database, each with its
own HTTP gateway, as two hosts behind a balancer would be: what one writes
the other serves at once."""

from __future__ import annotations

import pathlib
from typing import Iterator

import grpc
import httpx
import pytest

from .. import harness


@pytest.fixture
def replicas(fresh_database_url: str, tmp_path: pathlib.Path) -> Iterator[list[harness.ServerProcess]]:
    started = [harness.ServerProcess(fresh_database_url, tmp_path, http=True)]
    try:
        started.append(harness.ServerProcess(fresh_database_url, tmp_path, http=True))
        yield started
    finally:
        for replica in started:
            assert replica.stop() == 0


def test_what_one_replica_writes_the_other_serves(replicas):
    a, b = replicas
    token, _ = harness.mint_token(a.database_url, "member")
    auth = {"Authorization": f"Bearer {token}"}
    with grpc.insecure_channel(a.target) as channel:
        created = harness.Api(channel, token).CreateIssue(title="seen everywhere", comment="first words")

    on_b = httpx.get(f"{b.http_url}/api/v1/issues/{created.identifier}", headers=auth)
    assert on_b.status_code == 200 and on_b.json()["uuid"] == created.uuid

    patched = httpx.patch(
        f"{b.http_url}/api/v1/issues/{created.uuid}",
        headers=auth,
        json={"status": "in_progress", "owner": "ops@example.com"},
    )
    assert patched.status_code == 200, patched.text
    with grpc.insecure_channel(a.target) as channel:
        api = harness.Api(channel, token)
        again = api.GetIssue(issue_id=created.uuid)
        listed = api.ListIssues(limit=10)
        history = api.ListIssueHistory(issue_id=created.uuid)
    assert again.owner == "ops@example.com" and again.updated_at.ToJsonString() == patched.json()["updated_at"]
    assert [i.uuid for i in listed.items] == [created.uuid] and listed.count == 1
    assert [e.action for e in history.items][-2:] == ["status_changed", "owner_changed"]

    second = httpx.post(f"{b.http_url}/api/v1/issues", headers=auth, json={"title": "numbered on b", "description": []})
    assert second.status_code == 201 and second.json()["number"] == created.number + 1  # one sequence for both
    comments = httpx.get(f"{a.http_url}/api/v1/issues/{created.uuid}/comments", headers=auth).json()
    assert [c["content"] for c in comments["items"]] == ["first words"]

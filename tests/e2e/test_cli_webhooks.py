"""`issuectl webhook ...` as a user runs it, against a real server and receiver (both databases)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from .. import harness
from ..cli_run import Cli, assert_one_error_line, http_json
from .test_webhooks import hook_db, receiver, server, verify  # noqa: F401 - fixtures

ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def admin_token(hook_db: str) -> str:
    return harness.mint_token(hook_db, "admin")[0]


@pytest.fixture
def cli(server: harness.ServerProcess, admin_token: str, tmp_path: Any) -> Cli:
    return Cli(tmp_path, server.target, admin_token)


def _log(cli: Cli, hook_id: str, condition: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        items = cli("webhook", "deliveries", hook_id, "--json").json()["items"]
        if condition(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


def test_every_webhook_command_mirrors_the_api(cli: Cli, server, admin_token: str, receiver):
    path = f"/ok/cli-{uuid.uuid4().hex}"  # the receiver serves both backends' runs
    made = cli(
        "webhook",
        "create",
        "--url",
        receiver.url(path),
        "--event",
        "issue.created",
        "--description",
        "from the CLI",
        "--json",
    ).json()
    assert ID.match(made["id"]) and made["secret"].startswith("whsec_")
    api = http_json(server, admin_token, f"/api/v1/webhooks/{made['id']}")
    assert made == {**api, "secret": made["secret"]} and api["secret"] is None

    shown = cli("webhook", "create", "--url", receiver.url("/ok/cli2"), "--inactive")
    assert shown.code == 0 and "secret" in shown.stdout and "shown only now" in shown.stdout
    assert "active       no" in shown.stdout

    table = cli("webhook", "list")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "URL", "EVENTS", "ACTIVE", "CREATED"]
    assert lines[1].startswith(made["id"]) and "issue.created" in lines[1] and "yes" in lines[1]
    assert "whsec_" not in table.stdout
    assert cli("webhook", "list", "--json").json() == http_json(server, admin_token, "/api/v1/webhooks")

    edited = cli("webhook", "edit", made["id"], "--all-events", "--description", "all of it", "--json").json()
    assert edited["events"] == [] and edited["description"] == "all of it" and edited["secret"] is None

    sent = cli("webhook", "ping", made["id"])
    delivery = sent.stdout.strip()
    assert sent.code == 0 and ID.match(delivery)
    log = _log(cli, made["id"], lambda items: items and items[0]["status"] == "succeeded")
    assert log[0]["id"] == delivery and log[0]["event_type"] == "ping"
    plain = cli("webhook", "deliveries", made["id"]).stdout.splitlines()
    assert plain[0].split() == ["ID", "EVENT", "SEQ", "STATUS", "ATTEMPTS", "CODE", "ERROR", "NEXT"]
    assert plain[1].split()[:6] == [delivery, "ping", "-", "succeeded", "1", "200"]

    assert cli("webhook", "redeliver", made["id"], delivery).code == 0
    again = receiver.wait_for(lambda seen: len([r for r in seen if r.path == path]) >= 2)
    assert {r.headers["webhook-id"] for r in again if r.path == path} == {delivery}
    verify(made["secret"], [r for r in again if r.path == path][-1])

    rotated = cli("webhook", "rotate-secret", made["id"], "--json").json()
    assert rotated["secret"] != made["secret"]
    viewed = cli("webhook", "view", made["id"])
    assert (
        viewed.code == 0 and made["id"] in viewed.stdout and "whsec_" not in viewed.stdout and "ping" in viewed.stdout
    )

    assert cli("webhook", "delete", made["id"]).code == 0
    assert_one_error_line(cli("webhook", "view", made["id"]), "not found")


def test_refusals_are_one_line_and_usage_errors_exit_2(cli: Cli):
    assert_one_error_line(cli("webhook", "create", "--url", "ftp://example.com/"), "url:")
    assert_one_error_line(cli("webhook", "create", "--url", "https://example.com/", "--event", "nope"), "events[0]")
    assert cli("webhook", "create").code == 2
    assert cli("webhook", "edit", "9d3c1f0e-0000-4000-8000-000000000000").code == 2
    assert cli("webhook", "deliveries", "x", "--status", "lost").code == 2

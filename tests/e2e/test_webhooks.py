"""Webhooks end to end (SPEC 8.13): a real server (both databases), real
HTTP through the in-process gateway and gRPC, and a real receiver on
127.0.0.1 (tests/webhook_receiver.py). Signatures are checked with the
`standardwebhooks` package, code we did not write.

The server runs with short times (ISSUES_WEBHOOK_*), so that a day of
retries takes seconds, and allows loopback receivers.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

import grpc
import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from issues.v1 import webhook_pb2

from .. import harness
from ..conftest import _new_database
from ..webhook_receiver import Receiver

FAST = {
    "ISSUES_WEBHOOK_ALLOW_PRIVATE": "1",
    "ISSUES_WEBHOOK_BACKOFF_BASE": "0.3",
    "ISSUES_WEBHOOK_BACKOFF_MAX": "1",
    "ISSUES_WEBHOOK_RETRY_WINDOW": "4",
    "ISSUES_WEBHOOK_MIN_ATTEMPTS": "3",
    "ISSUES_WEBHOOK_TIMEOUT": "1.5",
    "ISSUES_WEBHOOK_LEASE": "5",
    "ISSUES_WEBHOOK_POLL": "0.2",
    "ISSUES_WEBHOOK_CONCURRENCY_PER_WEBHOOK": "4",  # below the default: the bound test needs few slow requests
    "ISSUES_WEBHOOK_DISABLE_FAILURES": "100000",
}
# For tests that assert every attempt succeeded first time: a loaded CI host can take longer than
# FAST's 1.5 s to answer, and a timed-out attempt would be retried.
PATIENT = {**FAST, "ISSUES_WEBHOOK_TIMEOUT": "10", "ISSUES_WEBHOOK_LEASE": "15"}
KEYS = {"id", "url", "events", "description", "active", "disabled_reason", "created_at", "updated_at", "secret"}
DELIVERY_KEYS = {
    "id",
    "webhook_id",
    "event_sequence",
    "event_type",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "last_duration_ms",
    "next_attempt_at",
    "created_at",
    "delivered_at",
}


@pytest.fixture(scope="module")
def hook_db(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A database of their own: another server's dispatcher must not deliver these webhooks' events.
    yield from _new_database(backend, request, tmp_path_factory.mktemp("webhooks-db"))


@pytest.fixture(scope="module")
def server(hook_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.ServerProcess]:
    process = harness.ServerProcess(hook_db, tmp_path_factory.mktemp("webhooks"), http=True, env=FAST)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def receiver(backend: str) -> Iterator[Receiver]:
    """One per backend: what a test waits for is what its own server sent."""
    r = Receiver()
    yield r
    r.close()


class Admin:
    """HTTP calls of one workspace's admin, and its gRPC twin."""

    def __init__(self, server: harness.ServerProcess, token: str) -> None:
        self.token = token
        self.http = httpx.Client(
            base_url=server.http_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.channel = grpc.insecure_channel(server.target)
        self.grpc = harness.Api(self.channel, token)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def hook(self, url: str, **body: Any) -> dict[str, Any]:
        return self.ok("POST", "/webhooks", 201, json={"url": url, **body})

    def deliveries(self, hook_id: str, **params: Any) -> list[dict[str, Any]]:
        return self.ok("GET", f"/webhooks/{hook_id}/deliveries", params=params)["items"]

    def wait_deliveries(
        self, hook_id: str, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0, limit: int = 100
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(hook_id, limit=limit)
            if condition(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"the delivery log never got there ({len(found)} deliveries): {found[:3]}")
            time.sleep(0.1)

    def issue(self, title: str = "t") -> dict[str, Any]:
        return self.ok("POST", "/issues", 201, json={"title": title, "description": []})

    def close(self) -> None:
        self.http.close()
        self.channel.close()


@pytest.fixture
def admin(server: harness.ServerProcess, hook_db: str) -> Iterator[Admin]:
    token, _ = harness.mint_token(hook_db, "admin", email="ann@acme.co")
    a = Admin(server, token)
    yield a
    a.close()


def verify(secret: str, received: Any) -> Any:
    return Verifier(secret).verify(received.body, received.headers)


def test_a_webhook_is_made_read_changed_and_deleted_with_its_secret_shown_once(admin: Admin, receiver: Receiver):
    made = admin.hook(receiver.url("/ok"), events=["issue.created"], description="CI")
    assert set(made) == KEYS
    assert made["secret"].startswith("whsec_") and len(made["secret"]) >= 6 + 32
    assert made["active"] is True and made["disabled_reason"] is None and made["events"] == ["issue.created"]
    # The 201 names where it lives (its id is `id`, not `uuid`).
    located = admin.http.post("/webhooks", json={"url": receiver.url("/ok"), "active": False})
    assert located.headers["Location"] == f"/api/v1/webhooks/{located.json()['id']}"
    admin.ok("DELETE", located.headers["Location"].removeprefix("/api/v1"), 204)
    shown = admin.ok("GET", f"/webhooks/{made['id']}")
    assert shown["secret"] is None and {k: v for k, v in shown.items() if k != "secret"} == {
        k: v for k, v in made.items() if k != "secret"
    }
    second = admin.hook(receiver.url("/ok"), active=False)
    assert second["events"] == [] and second["active"] is False
    first_page = admin.ok("GET", "/webhooks", params={"limit": 1})
    assert [w["id"] for w in first_page["items"]] == [made["id"]] and first_page["items"][0]["secret"] is None
    rest = admin.ok("GET", "/webhooks", params={"limit": 1, "page_token": first_page["next_page_token"]})
    assert [w["id"] for w in rest["items"]] == [second["id"]] and rest["next_page_token"] == ""

    changed = admin.ok("PATCH", f"/webhooks/{made['id']}", json={"events": None, "description": "nightly"})
    assert changed["events"] == [] and changed["description"] == "nightly" and changed["secret"] is None
    grpc_view = admin.grpc.GetWebhook(webhook_id=made["id"])
    assert grpc_view.description == "nightly" and not grpc_view.HasField("secret")

    assert admin.http.delete(f"/webhooks/{made['id']}").status_code == 204
    assert admin.http.get(f"/webhooks/{made['id']}").status_code == 404
    assert admin.http.get(f"/webhooks/{made['id']}/deliveries").status_code == 404


def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(admin: Admin):
    cases = [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http:///path-only"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://example.com/" + "x" * 2048}, "url"),
        ({"url": "https://user:pw@example.com/"}, "url"),
        ({"url": "https://example.com/", "events": ["issue.exploded"]}, "events[0]"),
        ({"url": "https://example.com/", "description": "x" * 1001}, "description"),
        ({"url": "https://example.com/", "secret": "whsec_mine"}, "secret"),
    ]
    for body, field in cases:
        response = admin.http.post("/webhooks", json=body)
        assert response.status_code == 400, (body, response.text)
        named = [v["field"] for d in response.json()["error"]["details"] for v in d.get("field_violations", [])]
        assert field in named, (body, response.text)
    assert admin.ok("GET", "/webhooks")["items"] == []
    with pytest.raises(grpc.RpcError) as refused:
        admin.grpc.CreateWebhook(url="gopher://x")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and harness.bad_request_fields(refused.value) == [
        "url"
    ]


def test_only_admins_and_only_their_workspace(
    server: harness.ServerProcess, hook_db: str, admin: Admin, receiver: Receiver
):
    made = admin.hook(receiver.url("/ok"))
    _, slug = harness.mint_token(hook_db, "viewer")  # another workspace
    other, _ = harness.mint_token(hook_db, "admin", workspace=slug)
    stranger = Admin(server, other)
    try:
        assert stranger.http.get(f"/webhooks/{made['id']}").status_code == 404
        assert stranger.http.patch(f"/webhooks/{made['id']}", json={"active": False}).status_code == 404
        assert stranger.http.post(f"/webhooks/{made['id']}:ping", json={}).status_code == 404
        assert stranger.ok("GET", "/webhooks")["items"] == []
        stranger.issue("not for the first workspace")  # its events reach no other workspace's webhook
    finally:
        stranger.close()
    workspace = admin.grpc.GetWebhook(webhook_id=made["id"])  # still there, unchanged
    assert workspace.active
    for role in ("member", "viewer"):
        token, _ = harness.mint_token(hook_db, role)
        lower = Admin(server, token)
        try:
            for method, path in (
                ("GET", "/webhooks"),
                ("POST", "/webhooks"),
                ("GET", f"/webhooks/{made['id']}"),
                ("POST", f"/webhooks/{made['id']}:rotateSecret"),
            ):
                body = {"url": receiver.url("/ok")} if path == "/webhooks" else {}
                assert lower.http.request(method, path, json=body if method == "POST" else None).status_code == 403
        finally:
            lower.close()
    assert admin.deliveries(made["id"]) == []


def _events(admin: Admin) -> dict[int, dict[str, Any]]:
    return {e["sequence"]: e for e in admin.ok("GET", "/events", params={"after": 0, "limit": 1000})["items"]}


def test_each_matching_event_is_posted_signed_exactly_as_the_events_route_shows_it(admin: Admin, receiver: Receiver):
    made = admin.hook(receiver.url("/ok/delivered"), events=["issue.created", "comment.created"])
    issue = admin.issue("Conveyor jam")
    admin.ok("PATCH", f"/issues/{issue['uuid']}", json={"status": "in_progress"})  # issue.updated: not asked for
    admin.ok("POST", f"/issues/{issue['uuid']}/comments", 201, json={"content": "Seen twice"})

    got = receiver.wait_for(lambda seen: len([r for r in seen if r.path == "/ok/delivered"]) >= 2)
    got = [r for r in got if r.path == "/ok/delivered"]
    events = _events(admin)
    bodies = sorted((json.loads(r.body) for r in got), key=lambda e: e["sequence"])
    assert [e["type"] for e in bodies] == ["issue.created", "comment.created"]
    for received in got:
        payload = verify(made["secret"], received)  # standardwebhooks checks id, timestamp and signature
        assert payload == events[payload["sequence"]]  # the event exactly as GET /api/v1/events shows it
        assert received.headers["content-type"] == "application/json"
        assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    log = admin.wait_deliveries(made["id"], lambda d: len(d) == 2 and all(x["status"] == "succeeded" for x in d))
    assert all(set(d) == DELIVERY_KEYS for d in log)
    assert {d["id"] for d in log} == {r.headers["webhook-id"] for r in got}
    newest = log[0]
    assert newest["event_type"] == "comment.created" and newest["attempts"] == 1
    assert newest["last_status_code"] == 200 and newest["last_error"] is None and newest["next_attempt_at"] is None
    assert newest["delivered_at"] is not None and newest["last_duration_ms"] >= 0
    assert newest["event_sequence"] == bodies[1]["sequence"]
    over_grpc = admin.grpc.ListWebhookDeliveries(webhook_id=made["id"])
    assert [d.id for d in over_grpc.items] == [d["id"] for d in log]
    assert over_grpc.items[0].status == webhook_pb2.WebhookDelivery.STATUS_SUCCEEDED
    # The secret is in no listing, log line or event.
    assert made["secret"] not in json.dumps(admin.ok("GET", "/webhooks")) + json.dumps(log)
    assert made["secret"] not in json.dumps(list(events.values()))


def test_deliveries_to_one_receiver_reuse_its_connection(admin: Admin, receiver: Receiver):
    made = admin.hook(receiver.url("/ok/reused"), events=["issue.created"])
    for i in range(5):
        admin.issue(f"reuse {i}")
        admin.wait_deliveries(made["id"], lambda d: len(d) == i + 1 and all(x["status"] == "succeeded" for x in d))
    assert len({r.port for r in receiver.at("/ok/reused")}) == 1  # one keep-alive connection for all five


def test_failed_attempts_are_retried_with_the_same_webhook_id_and_the_log_says_why(admin: Admin, receiver: Receiver):
    receiver.switch = "fail"
    made = admin.hook(receiver.url("/switch/retried"))
    admin.issue("retry me")
    receiver.wait_for(lambda seen: len([r for r in seen if r.path == "/switch/retried"]) >= 2)
    log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["attempts"] >= 2)
    failing = log[0]
    assert failing["status"] == "pending" and failing["last_status_code"] == 500
    assert failing["last_error"].startswith("HTTP 500") and failing["next_attempt_at"] is not None
    assert admin.deliveries(made["id"], status="succeeded") == []
    receiver.switch = "ok"
    log = admin.wait_deliveries(made["id"], lambda d: d[0]["status"] == "succeeded")
    attempts = receiver.at("/switch/retried")
    assert {r.headers["webhook-id"] for r in attempts} == {log[0]["id"]}  # every retry: the same id
    assert len(attempts) == log[0]["attempts"] >= 3
    assert log[0]["last_error"] is None and log[0]["last_status_code"] == 200
    assert [d["id"] for d in admin.deliveries(made["id"], status="succeeded")] == [log[0]["id"]]
    for received in attempts:
        verify(made["secret"], received)


def test_deliveries_page_by_a_token_alone_with_the_first_requests_status(admin: Admin, receiver: Receiver):
    receiver.switch = "ok"
    made = admin.hook(receiver.url("/switch/paged"), events=["issue.created"])
    for i in range(3):
        admin.issue(f"paged {i}")
    admin.wait_deliveries(made["id"], lambda d: len(d) == 3 and all(x["status"] == "succeeded" for x in d))
    receiver.switch = "fail"
    try:
        for i in range(2):
            admin.issue(f"not delivered {i}")
        admin.wait_deliveries(made["id"], lambda d: len(d) == 5 and all(x["attempts"] >= 1 for x in d))
        path = f"/webhooks/{made['id']}/deliveries"
        first = admin.ok("GET", path, params={"status": "succeeded", "limit": 2})
        alone = admin.ok("GET", path, params={"page_token": first["next_page_token"]})
        assert [d["status"] for d in first["items"] + alone["items"]] == ["succeeded"] * 3
        assert alone["next_page_token"] == ""
        other = admin.http.get(path, params={"status": "pending", "page_token": first["next_page_token"]})
        assert other.status_code == 400
        assert other.json()["error"]["message"].startswith("page_token: was made for other parameters (status)")

        succeeded = webhook_pb2.WebhookDelivery.STATUS_SUCCEEDED
        over_grpc = admin.grpc.ListWebhookDeliveries(webhook_id=made["id"], status=[succeeded], limit=2)
        rest = admin.grpc.ListWebhookDeliveries(webhook_id=made["id"], page_token=over_grpc.next_page_token)
        assert [d.id for d in list(over_grpc.items) + list(rest.items)] == [
            d["id"] for d in first["items"] + alone["items"]
        ]
        with pytest.raises(grpc.RpcError) as refused:
            admin.grpc.ListWebhookDeliveries(
                webhook_id=made["id"],
                status=[webhook_pb2.WebhookDelivery.STATUS_FAILED],
                page_token=over_grpc.next_page_token,
            )
        assert harness.bad_request_fields(refused.value) == ["page_token"]
    finally:
        receiver.switch = "ok"


@pytest.mark.parametrize(
    "path, error",
    [
        ("/slow", "timed out after 1.5 s"),
        ("/close", "connection failed"),
        ("/redirect", "HTTP 302 (redirects are not followed)"),
        ("/throttle", "HTTP 429"),
    ],
)
def test_a_failing_receiver_is_retried_then_given_up(admin: Admin, receiver: Receiver, path: str, error: str):
    made = admin.hook(receiver.url(path), events=["issue.created"])
    ok = admin.hook(receiver.url("/ok/beside"), events=["issue.created"])
    before = len(receiver.at("/ok"))
    started = time.monotonic()
    admin.issue(f"to {path}")
    # Another webhook is not held up by this one's receiver.
    receiver.wait_for(lambda seen: any(r.path == "/ok/beside" and r.at > started for r in seen), timeout=10)
    assert time.monotonic() - started < 1.5 + 5
    log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["status"] == "failed", timeout=60)
    assert log[0]["attempts"] >= 3 and log[0]["next_attempt_at"] is None, log
    assert error in log[0]["last_error"], log
    tries = receiver.at(path)
    if path == "/throttle":  # Retry-After: 1 is honoured between attempts
        assert all(b.at - a.at >= 0.9 for a, b in zip(tries, tries[1:])), [t.at for t in tries]
    if path == "/redirect":
        assert len(receiver.at("/ok")) == before  # never followed
    assert admin.deliveries(ok["id"])[0]["status"] == "succeeded"


def test_attempts_in_flight_are_bounded_per_webhook(admin: Admin, receiver: Receiver):
    path = f"/slow/bounded-{time.monotonic_ns()}"  # every answer takes longer than the timeout
    made = admin.hook(receiver.url(path), events=["issue.created"])
    for i in range(7):
        admin.issue(f"bounded {i}")
    admin.wait_deliveries(made["id"], lambda d: len(d) == 7 and all(x["attempts"] >= 1 for x in d), timeout=60)
    starts = sorted(r.at for r in receiver.at(path))
    # Each attempt holds its slot until the 1.5 s timeout: with at most 4 at
    # once (ISSUES_WEBHOOK_CONCURRENCY_PER_WEBHOOK here), any 5 starts span about that long.
    assert len(starts) >= 7
    assert all(later - first >= 0.75 for first, later in zip(starts, starts[4:])), starts


def test_a_huge_answer_is_read_no_further_than_64_kib(admin: Admin, receiver: Receiver):
    made = admin.hook(receiver.url("/huge"), events=["issue.created"])
    admin.issue("huge answer")
    log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["status"] == "succeeded")
    assert log[0]["last_status_code"] == 200
    time.sleep(0.5)
    assert receiver.huge_bytes_sent < 16 * (1 << 20)  # the 64 MiB answer was cut off (the rest: socket buffers)


def test_ping_rotation_and_redelivery(admin: Admin, receiver: Receiver):
    made = admin.hook(receiver.url("/ok/ping"))
    ping = admin.ok("POST", f"/webhooks/{made['id']}:ping", json={})
    assert ping["event_type"] == "ping" and ping["event_sequence"] is None and ping["status"] == "pending"
    first = receiver.wait_for(lambda seen: any(r.path == "/ok/ping" for r in seen))
    pinged = [r for r in first if r.path == "/ok/ping"][0]
    body = verify(made["secret"], pinged)
    assert body["type"] == "ping" and body["data"]["webhook_id"] == made["id"] and body["actor"] == "ann@acme.co"
    assert pinged.headers["webhook-id"] == ping["id"]
    assert all(e["type"] != "ping" for e in _events(admin).values())  # not a workspace event

    rotated = admin.ok("POST", f"/webhooks/{made['id']}:rotateSecret", json={})
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    assert admin.ok("GET", f"/webhooks/{made['id']}")["secret"] is None
    admin.issue("after rotation")
    got = receiver.wait_for(lambda seen: len([r for r in seen if r.path == "/ok/ping"]) >= 2)
    after = [r for r in got if r.path == "/ok/ping"][1]
    assert len(after.headers["webhook-signature"].split(" ")) == 2  # new and old, for 24 hours
    verify(rotated["secret"], after)
    verify(made["secret"], after)

    admin.wait_deliveries(made["id"], lambda d: len(d) == 2 and all(x["status"] == "succeeded" for x in d))
    again = admin.ok("POST", f"/webhooks/{made['id']}/deliveries/{ping['id']}:redeliver", json={})
    assert again["id"] == ping["id"] and again["status"] == "pending"
    got = receiver.wait_for(lambda seen: len([r for r in seen if r.path == "/ok/ping"]) >= 3)
    redelivered = [r for r in got if r.path == "/ok/ping"][2]
    assert redelivered.headers["webhook-id"] == ping["id"] and verify(rotated["secret"], redelivered)["type"] == "ping"
    admin.wait_deliveries(
        made["id"],
        lambda d: any(x["id"] == ping["id"] and x["attempts"] == 2 and x["status"] == "succeeded" for x in d),
    )
    missing = admin.http.post(f"/webhooks/{made['id']}/deliveries/{made['id']}:redeliver", json={})
    assert missing.status_code == 404


def _metric(text: str, name: str, labels: str = "") -> float:
    import re

    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_deliveries_by_outcome_their_latency_and_each_webhooks_queue(
    server, admin: Admin, receiver: Receiver
):
    before = httpx.get(server.http_url + "/metrics").text
    ok = admin.hook(receiver.url("/ok/metrics"), events=["issue.created"])
    stuck = admin.hook(receiver.url("/fail"), events=["issue.created"])
    for i in range(3):
        admin.issue(f"metrics {i}")
    admin.ok("PATCH", f"/webhooks/{stuck['id']}", json={"active": False})  # its 3 deliveries wait, pending
    admin.wait_deliveries(ok["id"], lambda d: len(d) == 3 and all(x["status"] == "succeeded" for x in d))
    deadline = time.monotonic() + 20
    while True:  # sampled every 5 s: wait for a sample taken after the ok webhook's deliveries went out
        text = httpx.get(server.http_url + "/metrics").text
        depths = [_metric(text, "issues_webhook_queue_depth", f'{{webhook="{h["id"]}"}}') for h in (stuck, ok)]
        if depths == [3, 0] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert depths == [3, 0], text
    succeeded = '{outcome="succeeded"}'
    assert (
        _metric(text, "issues_webhook_deliveries_total", succeeded)
        >= _metric(before, "issues_webhook_deliveries_total", succeeded) + 3
    )
    assert (
        _metric(text, "issues_webhook_attempt_duration_seconds_count")
        >= _metric(before, "issues_webhook_attempt_duration_seconds_count") + 3
    )


def test_a_receiver_whose_certificate_does_not_verify_is_a_failed_attempt(admin: Admin, tmp_path):
    import ssl
    import subprocess

    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    tls = Receiver(tls=context)
    try:
        made = admin.hook(tls.url("/ok"), events=["issue.created"])
        admin.issue("self-signed")
        log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["attempts"] >= 1)
        assert log[0]["status"] != "succeeded" and log[0]["last_status_code"] is None
        assert "CERTIFICATE_VERIFY_FAILED" in log[0]["last_error"], log[0]
        assert tls.received == []  # nothing was sent over a connection that did not verify
    finally:
        tls.close()

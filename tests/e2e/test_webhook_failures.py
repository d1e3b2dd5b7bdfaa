"""Webhooks when things go wrong (SPEC 8.13): destinations that must be
refused, a receiver that keeps failing until its webhook is disabled, and
on PostgreSQL two replicas, one of them killed with SIGKILL mid-delivery or
mid-write. Real servers, real receivers (tests/webhook_receiver.py)."""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
from typing import Any, Callable, Iterator

import httpx
import pytest

from .. import harness
from ..webhook_receiver import Receiver
from .test_webhooks import FAST, PATIENT, Admin

PRIVATE = [
    "http://127.0.0.1:9/",
    "http://localhost/hook",
    "http://10.0.0.5/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://nonexistent.invalid/",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _serve(url: str, workdir: Any, env: dict[str, str]) -> harness.ServerProcess:
    return harness.ServerProcess(url, workdir, http=True, env=env)


def _admin(server: harness.ServerProcess, database_url: str) -> Admin:
    token, _ = harness.mint_token(database_url, "admin", workspace="hooks")
    return Admin(server, token)


def test_private_and_unresolvable_destinations_are_refused_at_create(grpc_server, make_token):
    token, _ = make_token("admin")  # the shared server: ISSUES_WEBHOOK_ALLOW_PRIVATE is not set
    with httpx.Client(
        base_url=grpc_server.http_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for url in PRIVATE:
            response = http.post("/webhooks", json={"url": url})
            assert response.status_code == 400, (url, response.text)
            violation = response.json()["error"]["details"][0]["field_violations"][0]
            assert violation["field"] == "url", response.text
            assert "resolves to" in violation["description"] or "does not resolve" in violation["description"], url
        assert "metadata" in http.post("/webhooks", json={"url": PRIVATE[5]}).json()["error"]["message"]
        assert http.get("/webhooks").json()["items"] == []
        # A public address is fine (inactive: nothing is ever sent there).
        assert http.post("/webhooks", json={"url": "https://1.1.1.1/hook", "active": False}).status_code == 201


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_the_attempt(
    fresh_database_url, tmp_path, receiver
):
    allowed = _serve(fresh_database_url, tmp_path, FAST)
    admin = _admin(allowed, fresh_database_url)
    made = admin.hook(f"http://localhost:{receiver.port}/ok/local")  # allowed here, as on premises
    admin.close()
    allowed.stop()
    strict = _serve(fresh_database_url, tmp_path, {**FAST, "ISSUES_WEBHOOK_ALLOW_PRIVATE": "0"})
    try:
        admin = _admin(strict, fresh_database_url)
        admin.issue("to a loopback name")
        log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["attempts"] >= 1)
        assert log[0]["status"] != "succeeded" and log[0]["last_status_code"] is None
        assert "refused" in log[0]["last_error"] and "loopback" in log[0]["last_error"], log
        assert receiver.at("/ok/local") == []
        admin.close()
    finally:
        strict.stop()


def test_a_webhook_failing_long_enough_is_disabled_and_resumes_when_made_active(fresh_database_url, tmp_path, receiver):
    env = {
        **PATIENT,  # the reason must say HTTP 500: a loaded host must not time an attempt out first
        "ISSUES_WEBHOOK_DISABLE_FAILURES": "3",
        "ISSUES_WEBHOOK_DISABLE_AFTER": "1",
        "ISSUES_WEBHOOK_RETRY_WINDOW": "600",
        "ISSUES_WEBHOOK_MIN_ATTEMPTS": "50",
    }
    server = _serve(fresh_database_url, tmp_path, env)
    try:
        admin = _admin(server, fresh_database_url)
        receiver.switch = "fail"
        made = admin.hook(receiver.url("/switch"))
        admin.issue("one")
        admin.issue("two")
        deadline = time.monotonic() + 30
        while admin.ok("GET", f"/webhooks/{made['id']}")["active"]:
            assert time.monotonic() < deadline, "never disabled"
            time.sleep(0.1)
        disabled = admin.ok("GET", f"/webhooks/{made['id']}")
        assert "failed" in disabled["disabled_reason"] and "HTTP 500" in disabled["disabled_reason"]
        time.sleep(1)
        tried = len(receiver.at("/switch"))
        admin.issue("while disabled")  # an inactive webhook gets no new deliveries
        time.sleep(1.5)
        assert len(receiver.at("/switch")) == tried  # and its pending ones wait
        pending = admin.deliveries(made["id"])
        assert len(pending) == 2 and all(d["status"] == "pending" for d in pending)

        receiver.switch = "ok"
        resumed = admin.ok("PATCH", f"/webhooks/{made['id']}", json={"active": True})
        assert resumed["active"] is True and resumed["disabled_reason"] is None
        admin.wait_deliveries(made["id"], lambda d: len(d) == 2 and all(x["status"] == "succeeded" for x in d))
        admin.close()
    finally:
        server.stop()


# -- two replicas on PostgreSQL ------------------------------------------------


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_a_replica_killed_mid_delivery_leaves_it_to_another_after_the_lease(
    backend, fresh_database_url, tmp_path, receiver
):
    env = {**FAST, "ISSUES_WEBHOOK_LEASE": "6", "ISSUES_WEBHOOK_TIMEOUT": "5"}  # killed well before it times out
    first = _serve(fresh_database_url, tmp_path, env)
    admin = _admin(first, fresh_database_url)
    made = admin.hook(receiver.url("/hangonce"))
    admin.issue("in flight when the replica dies")
    receiver.wait_for(lambda seen: len(seen) == 1)  # the first replica holds the lease, mid-attempt
    first.stop(signal.SIGKILL)
    admin.close()
    second = _serve(fresh_database_url, tmp_path, env)
    try:
        admin = _admin(second, fresh_database_url)
        got = receiver.wait_for(lambda seen: len(seen) == 2, timeout=40)
        assert got[1].headers["webhook-id"] == got[0].headers["webhook-id"]  # the same delivery, again
        assert got[1].at - got[0].at >= 5  # not before the lease ended
        log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["status"] == "succeeded")
        assert len(log) == 1 and log[0]["attempts"] == 1  # the killed attempt never recorded anything
        admin.close()
    finally:
        second.stop()


def _write(servers: list[harness.ServerProcess], token: str, stop: threading.Event, acked: list[str]) -> None:
    clients = [
        httpx.Client(base_url=s.http_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        for s in servers
    ]
    i = 0
    while not stop.is_set():
        i += 1
        try:
            response = clients[i % len(clients)].post("/issues", json={"title": f"w{i}", "description": []})
        except httpx.HTTPError:
            continue
        if response.status_code == 201:
            acked.append(response.json()["uuid"])
    for c in clients:
        c.close()


def _all_delivered(admin: Admin, hook_id: str, events: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    def done(log: list[dict[str, Any]]) -> bool:
        return len(log) == len(events()) and all(d["status"] == "succeeded" for d in log)

    return admin.wait_deliveries(hook_id, done, timeout=60, limit=1000)


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_two_replicas_deliver_each_event_once_and_a_writer_killed_mid_write_loses_none(
    backend, fresh_database_url, tmp_path, receiver
):
    a = _serve(fresh_database_url, tmp_path, PATIENT)
    b = _serve(fresh_database_url, tmp_path, PATIENT)
    try:
        admin = _admin(a, fresh_database_url)
        made = admin.hook(receiver.url("/ok/pair"), events=["issue.created"])

        def created() -> list[dict[str, Any]]:
            return [
                e
                for e in admin.ok("GET", "/events", params={"after": 0, "limit": 1000})["items"]
                if e["type"] == "issue.created"
            ]

        stop, acked = threading.Event(), []
        writers = [threading.Thread(target=_write, args=([a, b], admin.token, stop, acked)) for _ in range(4)]
        for w in writers:
            w.start()
        time.sleep(1)
        stop.set()
        for w in writers:
            w.join()
        log = _all_delivered(admin, made["id"], created)
        received = receiver.wait_for(lambda seen: len(seen) >= len(log))
        ids = [r.headers["webhook-id"] for r in received]
        assert len(ids) == len(set(ids)) == len(log) >= 10  # no event delivered twice: no retry was needed
        assert all(d["attempts"] == 1 for d in log)
        assert sorted(d["event_sequence"] for d in log) == sorted(e["sequence"] for e in created())

        # SIGKILL a replica while writes go through both: every event that committed has its delivery.
        stop, acked = threading.Event(), []
        writers = [threading.Thread(target=_write, args=([a, b], admin.token, stop, acked)) for _ in range(4)]
        for w in writers:
            w.start()
        time.sleep(1)
        b.stop(signal.SIGKILL)
        time.sleep(1)
        stop.set()
        for w in writers:
            w.join()
        log = _all_delivered(admin, made["id"], created)
        sequences = [d["event_sequence"] for d in log]
        assert len(sequences) == len(set(sequences)) and set(sequences) == {e["sequence"] for e in created()}
        shown = {e["issue_id"] for e in created()}
        assert set(acked) <= shown  # every acknowledged write has its event, and so its delivery
        assert {r.headers["webhook-id"] for r in receiver.received} == {d["id"] for d in log}
        admin.close()
    finally:
        a.stop()
        b.stop()


def test_gc_prunes_deliveries_with_the_events(fresh_database_url, tmp_path, receiver):
    import subprocess
    import sys

    server = _serve(fresh_database_url, tmp_path, FAST)
    try:
        admin = _admin(server, fresh_database_url)
        made = admin.hook(receiver.url("/ok/old"))
        admin.issue("old")
        admin.wait_deliveries(made["id"], lambda d: len(d) == 1 and d[0]["status"] == "succeeded")
        time.sleep(1.5)
        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": fresh_database_url, "ISSUES_EVENT_RETENTION": "1s"}
        done = subprocess.run(
            [sys.executable, "-m", "service", "gc"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert admin.deliveries(made["id"]) == [] and admin.ok("GET", "/events", params={"after": 0})["items"] == []
        admin.issue("new")  # the webhook itself stays, and goes on delivering
        admin.wait_deliveries(made["id"], lambda d: len(d) == 1 and d[0]["status"] == "succeeded")
        admin.close()
    finally:
        server.stop()


def test_a_malformed_webhook_setting_stops_serve_with_one_line(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "ISSUES_WEBHOOK_LEASE": "soon"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--no-http",
            "--grpc-listen",
            "127.0.0.1:0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "ISSUES_WEBHOOK_LEASE" in done.stderr and "Traceback" not in done.stderr


def test_every_worker_of_serve_workers_delivers_and_none_twice(fresh_database_url, tmp_path, receiver):
    server = harness.ServerProcess(fresh_database_url, tmp_path, http=True, env=PATIENT, workers=2)
    try:
        admin = _admin(server, fresh_database_url)
        made = admin.hook(receiver.url("/ok/workers"), events=["issue.created"])
        stop, acked = threading.Event(), []
        writers = [threading.Thread(target=_write, args=([server], admin.token, stop, acked)) for _ in range(4)]
        for w in writers:
            w.start()
        time.sleep(1)
        stop.set()
        for w in writers:
            w.join()
        log = admin.wait_deliveries(
            made["id"], lambda d: len(d) == len(acked) and all(x["status"] == "succeeded" for x in d), limit=1000
        )
        ids = [r.headers["webhook-id"] for r in receiver.wait_for(lambda seen: len(seen) >= len(log))]
        assert len(ids) == len(set(ids)) == len(acked) >= 5 and all(d["attempts"] == 1 for d in log)

        # The gateway's /metrics adds up every process's deliveries; the dispatcher
        # counts an attempt just after recording it, so the last may still be on its way.
        def succeeded() -> str:
            text = httpx.get(server.http_url + "/metrics").text
            return next(
                line
                for line in text.splitlines()
                if line.startswith('issues_webhook_deliveries_total{outcome="succeeded"}')
            )

        deadline = time.monotonic() + 10
        while float((line := succeeded()).split()[-1]) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert float(line.split()[-1]) == len(acked), line
        admin.close()
    finally:
        server.stop()


def test_deliveries_resume_after_a_database_outage(own_postgres, tmp_path, receiver):
    url, _ = harness.create_database(own_postgres.url)
    server = _serve(url, tmp_path, FAST)
    try:
        admin = _admin(server, url)
        harness.close_databases()  # the test's own connections would not survive the outage
        receiver.switch = "fail"
        made = admin.hook(receiver.url("/switch"), events=["issue.created"])
        admin.issue("before the outage")
        receiver.wait_for(lambda seen: len(seen) >= 1)
        own_postgres.stop_server()
        time.sleep(2)  # the dispatcher's claims and records fail meanwhile; it must not die of it
        own_postgres.start_server()
        receiver.switch = "ok"
        log = admin.wait_deliveries(made["id"], lambda d: d and d[0]["status"] == "succeeded", timeout=60)
        assert log[0]["last_status_code"] == 200
        admin.issue("after the outage")
        admin.wait_deliveries(made["id"], lambda d: len(d) == 2 and all(x["status"] == "succeeded" for x in d))
        admin.close()
    finally:
        server.stop()


def _children(pid: int) -> list[int]:
    found = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _nice(pid: int) -> int:
    return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_the_dispatcher_process_is_niced_restarted_when_killed_and_ends_with_its_server(
    backend, fresh_database_url, tmp_path, receiver
):
    """On PostgreSQL a single-process serve delivers from a child process at the
    lowest CPU priority; killed, it is started again and delivers what was
    written meanwhile; it ends with the server."""
    server = _serve(fresh_database_url, tmp_path, PATIENT)
    try:
        admin = _admin(server, fresh_database_url)
        made = admin.hook(receiver.url("/ok/restart"))
        admin.issue("before")
        receiver.wait_for(lambda seen: len(seen) == 1)
        (dispatcher,) = _children(server.process.pid)
        assert _nice(dispatcher) == 19 and _nice(server.process.pid) < 19
        os.kill(dispatcher, signal.SIGKILL)
        admin.issue("while it was down")
        receiver.wait_for(lambda seen: len(seen) == 2, timeout=30)
        (again,) = _children(server.process.pid)
        assert again != dispatcher and _nice(again) == 19
        log = admin.wait_deliveries(made["id"], lambda d: len(d) == 2 and all(x["status"] == "succeeded" for x in d))
        assert [d["attempts"] for d in log] == [1, 1]
        admin.close()
    finally:
        assert server.stop() == 0
    assert not pathlib.Path(f"/proc/{again}").exists()


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_at_sigterm_the_dispatcher_process_records_its_attempt_in_flight_within_the_grace(
    backend, fresh_database_url, tmp_path, receiver
):
    from service.storage.models import WebhookDelivery

    server = _serve(fresh_database_url, tmp_path, {**FAST, "ISSUES_SHUTDOWN_GRACE": "5"})
    admin = _admin(server, fresh_database_url)
    admin.hook(receiver.url("/slow"))  # answers after 30 s: the attempt times out after 1.5 s
    admin.issue("in flight at SIGTERM")
    receiver.wait_for(lambda seen: len(seen) == 1)
    (dispatcher,) = _children(server.process.pid)
    admin.close()
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 5 + 5  # the grace, and the stop's margin
    assert not pathlib.Path(f"/proc/{dispatcher}").exists()
    (row,) = harness.in_database(fresh_database_url, lambda: list(WebhookDelivery.select()))
    # Recorded before the process ended: one attempt, its timeout, no lease left for a retry to wait out.
    assert (row.status, row.attempts, row.lease_id) == ("pending", 1, None), row.last_error
    assert "time" in (row.last_error or ""), row.last_error

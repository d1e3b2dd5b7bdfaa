"""`serve --workers N` (SPEC 9.4): N gRPC worker processes on one port, the
gateway in a process of its own, under a supervisor; real processes, real
signals, on both databases.

Each worker also listens on a loopback port of its own (`worker_targets`),
which is how these tests reach one worker in particular.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Callable, Iterator

import grpc
import httpx
import pytest

from service.storage.database import POOL_SIZE

from .. import harness
from .test_prometheus import scrape, value
from .test_rate_limit import retry_delay
from .test_shutdown import hold_write_lock
from .test_token_admin import create, listed, refusal, service_cli

WORKERS = 2


def start_workers(database_url: str, workdir: pathlib.Path, **env: str) -> harness.ServerProcess:
    return harness.ServerProcess(database_url, workdir, http=True, workers=WORKERS, env=env)


@pytest.fixture(scope="module")
def workers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.ServerProcess]:
    server = start_workers(database_url, tmp_path_factory.mktemp("workers"))
    yield server
    assert server.stop() == 0


def served_by(server: harness.ServerProcess) -> Counter:
    """How many IssueService calls each worker has logged."""
    return Counter(e["worker"] for e in server.log_entries() if "worker" in e and e.get("msg") == "rpc")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    return "(Z)" not in pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:4]


def test_every_worker_serves_the_one_port_and_the_gateway(workers):
    token, _ = harness.mint_token(workers.database_url, "member")
    # On PostgreSQL one more process delivers webhooks, for all the workers.
    webhooks = {"webhooks"} if workers.database_url.startswith("postgres") else set()
    assert len(workers.worker_targets) == WORKERS
    assert set(workers.pids) == {"worker-1", "worker-2", "gateway", *webhooks}
    assert len(set(workers.pids.values())) == WORKERS + 1 + len(webhooks)
    before = served_by(workers)
    # SO_REUSEPORT spreads connections: sixteen of them all landing on one of two workers is a 1 in 32,768 chance.
    for _ in range(16):
        with grpc.insecure_channel(workers.target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            harness.Api(channel, token).ListIssues(limit=1)
    # The gateway spreads its calls round-robin over the workers' own ports.
    with httpx.Client(base_url=workers.http_url, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(4):
            assert http.get("/api/v1/issues?limit=1").status_code == 200
        ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "serving", "servers": WORKERS}
    time.sleep(0.2)
    after = served_by(workers)
    assert all(after[i] - before[i] >= 3 for i in range(1, WORKERS + 1)), (before, after)


def test_readyz_is_503_while_any_worker_does_not_answer(workers):
    stopped = workers.pids["worker-2"]
    os.kill(stopped, signal.SIGSTOP)  # alive, so not restarted, but deaf
    try:
        answer = httpx.get(f"{workers.http_url}/readyz", timeout=10)
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert answer.status_code == 503
    assert answer.json()["error"]["message"].startswith(f"1 of {WORKERS} servers are not serving")
    assert httpx.get(f"{workers.http_url}/readyz", timeout=10).status_code == 200


def test_every_worker_sees_a_revoked_token_as_revoked_within_a_second(workers):
    workspace = f"revoked-{uuid.uuid4().hex[:8]}"
    token = create(workers.database_url, workspace)
    channels = [grpc.insecure_channel(t) for t in workers.worker_targets]
    try:
        for channel in channels:
            assert refusal(channel, token) is None  # each worker has it cached now
        token_id = listed(workers.database_url, workspace)[0]["id"]
        assert service_cli(workers.database_url, "token", "revoke", str(token_id)).returncode == 0
        revoked = time.monotonic()
        refused_after: dict[int, float] = {}
        while len(refused_after) < len(channels) and time.monotonic() - revoked < 5:
            for i, channel in enumerate(channels):
                if i not in refused_after:
                    error = refusal(channel, token)
                    if error is not None:
                        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                        assert "revoked" in error.details()
                        refused_after[i] = time.monotonic() - revoked
            time.sleep(0.02)
    finally:
        for channel in channels:
            channel.close()
    assert sorted(refused_after) == list(range(WORKERS)), refused_after
    assert max(refused_after.values()) < 1.0, refused_after
    http = httpx.get(f"{workers.http_url}/api/v1/issues", headers={"Authorization": f"Bearer {token}"})
    assert http.status_code == 401


def test_metrics_on_the_gateway_add_up_every_worker(workers):
    token, _ = harness.mint_token(workers.database_url, "viewer")
    before = scrape(workers.http_url)
    for i, target in enumerate(workers.worker_targets):
        with grpc.insecure_channel(target) as channel:
            api = harness.Api(channel, token)
            for _ in range(i + 2):  # 2 on worker 1, 3 on worker 2
                with pytest.raises(grpc.RpcError):
                    api.GetIssue(issue_id=str(uuid.uuid4()))
    httpx.get(f"{workers.http_url}/api/v1/issues/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
    after = scrape(workers.http_url)

    not_found = dict(method="GetIssue", code="NOT_FOUND")
    calls = 2 + 3 + 1
    grpc_total = "issues_grpc_requests_total"
    assert value(after, grpc_total, **not_found) - value(before, grpc_total, **not_found) == calls
    count = "issues_grpc_request_duration_seconds_count"
    assert value(after, count, method="GetIssue") - value(before, count, method="GetIssue") == calls
    http_404 = dict(method="GET", route="GetIssue", code="404")
    assert (
        value(after, "issues_http_requests_total", **http_404) - value(before, "issues_http_requests_total", **http_404)
        == 1
    )
    # Gauges of the live workers add up: two pools of the default size.
    assert value(after, "issues_db_pool_connections_max") == POOL_SIZE * WORKERS
    assert value(after, "issues_event_streams_open") == 0


def test_attachments_upload_through_the_gateway_process(workers):
    token, _ = harness.mint_token(workers.database_url, "member")
    content = b"# plan\n" * 20_000  # several 64 KiB chunks
    with httpx.Client(base_url=workers.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        created = http.post(
            "/api/v1/attachments",
            json={
                "file_name": "plan.md",
                "content_type": "text/markdown",
                "size_bytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            },
        )
        assert created.status_code == 201, created.text
        upload_url = created.json()["upload_url"]
        assert upload_url.startswith(f"{workers.http_url}/blobs/")
        put = httpx.put(upload_url, content=content, headers={"Content-Type": "text/markdown"}, timeout=60)
        assert put.status_code == 200, put.text
        attachment = created.json()["attachment"]["uuid"]
        download = httpx.get(http.get(f"/api/v1/attachments/{attachment}").json()["download_url"], timeout=60)
    assert download.status_code == 200 and download.content == content


def deadlocks(url: str) -> int:
    """Deadlocks PostgreSQL has broken in this database so far (its statistics lag up to a second)."""
    import psycopg2

    time.sleep(1.5)
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_creates_in_one_workspace_from_every_worker_get_gapless_numbers_without_deadlocks(workers, backend):
    token, _ = harness.mint_token(workers.database_url, "member")
    before = deadlocks(workers.database_url) if backend == "postgres" else 0
    numbers: list[int] = []
    failures: list[BaseException] = []

    def creates(target: str) -> None:
        with grpc.insecure_channel(target) as channel:
            api = harness.Api(channel, token)
            for i in range(8):
                try:
                    numbers.append(api.CreateIssue(title=f"from {target} #{i}").number)
                except grpc.RpcError as exc:
                    failures.append(exc)

    # Four callers on each worker: each worker batches its creates, and the batches of the two meet.
    threads = [threading.Thread(target=creates, args=(t,)) for t in workers.worker_targets for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == [] and sorted(numbers) == list(range(1, 8 * 4 * WORKERS + 1))
    if backend == "postgres":
        assert deadlocks(workers.database_url) == before


# -- rate limits across the workers ---------------------------------------------------

# 1 call a second, bursts of 6: one process alone would admit 6 per worker.
LIMIT = "1/6"


@pytest.fixture(scope="module")
def limited_workers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.ServerProcess]:
    server = start_workers(database_url, tmp_path_factory.mktemp("limited-workers"), ISSUES_RATE_LIMIT=LIMIT)
    yield server
    assert server.stop() == 0


def test_the_rate_limit_holds_across_workers(limited_workers):
    token, _ = harness.mint_token(limited_workers.database_url, "viewer")
    channels = [grpc.insecure_channel(t) for t in limited_workers.worker_targets]
    apis = [harness.Api(channel, token) for channel in channels]
    admitted: Counter = Counter()
    refusals: list[grpc.RpcError] = []
    try:
        started = time.monotonic()
        for i in range(24):  # alternating between the workers
            try:
                apis[i % WORKERS].ListIssues(limit=1)
                admitted[i % WORKERS] += 1
            except grpc.RpcError as exc:
                refusals.append(exc)
        elapsed = time.monotonic() - started
        time.sleep(1.2)  # the bucket refills at one call a second
        apis[1].ListIssues(limit=1)
    finally:
        for channel in channels:
            channel.close()
    total = sum(admitted.values())
    # One bucket for the host: the burst, plus what refilled meanwhile (not a burst per worker).
    assert 6 <= total <= 6 + int(elapsed * 1.0) + 1, (total, elapsed, admitted)
    assert all(admitted[w] >= 2 for w in range(WORKERS)), admitted
    assert {e.code() for e in refusals} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert 0 < retry_delay(refusals[-1]) <= 1.0


def test_calls_through_the_gateway_count_once_against_the_shared_bucket(limited_workers):
    token, _ = harness.mint_token(limited_workers.database_url, "viewer")
    with httpx.Client(base_url=limited_workers.http_url, headers={"Authorization": f"Bearer {token}"}) as http:
        started = time.monotonic()
        codes = [http.get("/api/v1/issues?limit=1") for _ in range(16)]
        elapsed = time.monotonic() - started
    ok = sum(r.status_code == 200 for r in codes)
    assert 6 <= ok <= 6 + int(elapsed) + 1, (ok, elapsed)
    refused = [r for r in codes if r.status_code != 200]
    assert {r.status_code for r in refused} == {429}
    assert refused[-1].headers["Retry-After"] == "1"
    assert refused[-1].json()["error"]["status"] == "RESOURCE_EXHAUSTED"


# -- a worker dies; the supervisor drains ----------------------------------------------


class Load:
    """Calls in a loop on each worker's own port and through the gateway, until stopped."""

    def __init__(self, server: harness.ServerProcess, token: str, issue_id: str) -> None:
        self.outcomes: dict[str, list[tuple[float, str]]] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._grpc, args=(f"worker-{i + 1}", target, token, issue_id), daemon=True)
            for i, target in enumerate(server.worker_targets)
        ]
        self._threads.append(threading.Thread(target=self._http, args=(server.http_url, token, issue_id), daemon=True))
        for thread in self._threads:
            thread.start()

    def _note(self, key: str, outcome: str) -> None:
        self.outcomes.setdefault(key, []).append((time.monotonic(), outcome))

    def _grpc(self, key: str, target: str, token: str, issue_id: str) -> None:
        with grpc.insecure_channel(target) as channel:
            api = harness.Api(channel, token)
            while not self._stop.is_set():
                try:
                    api.GetIssue(issue_id=issue_id)
                    self._note(key, "OK")
                except grpc.RpcError as exc:
                    self._note(key, exc.code().name)
                    time.sleep(0.05)

    def _http(self, base: str, token: str, issue_id: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
            while not self._stop.is_set():
                try:
                    self._note("gateway", str(http.get(f"/api/v1/issues/{issue_id}").status_code))
                except httpx.HTTPError as exc:
                    self._note("gateway", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def after(self, key: str, moment: float) -> list[str]:
        return [o for t, o in self.outcomes.get(key, []) if t > moment]


def wait_for(what: str, condition: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_one_worker_under_load_it_is_replaced_and_the_others_keep_serving(fresh_database_url, tmp_path):
    server = start_workers(fresh_database_url, tmp_path)
    try:
        token, _ = harness.mint_token(fresh_database_url, "member")
        with grpc.insecure_channel(server.target) as channel:
            issue_id = harness.Api(channel, token).CreateIssue(title="under load").uuid
        load = Load(server, token, issue_id)
        try:
            wait_for(
                "calls on every path",
                lambda: all(len(load.outcomes.get(k, [])) >= 20 for k in ("worker-1", "worker-2", "gateway")),
            )
            before = scrape(server.http_url)
            victim = server.pids["worker-1"]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)

            def replacement() -> int | None:
                for entry in server.log_entries():
                    if (
                        entry.get("msg") == "process serving"
                        and entry.get("child") == "worker-1"
                        and entry["pid"] != victim
                    ):
                        return int(entry["pid"])
                return None

            new_pid = int(wait_for("a new worker-1", replacement))  # type: ignore[arg-type]
            # Its own port answers again, now from the new process.
            wait_for(
                "worker-1's port to answer", lambda: load.after("worker-1", time.monotonic() - 0.2)[-3:] == ["OK"] * 3
            )
            time.sleep(1.0)
        finally:
            load.stop()
        replaced_at = time.monotonic() - 1.0
        assert alive(new_pid) and not alive(victim)
        restarted = [e for e in server.log_entries() if e.get("msg") == "process exited; restarting it"]
        assert [(e["child"], e["pid"], e["signal"]) for e in restarted] == [("worker-1", victim, "SIGKILL")]

        # The other worker never missed a call, before, during or after.
        worker_2 = [o for _, o in load.outcomes["worker-2"]]
        assert set(worker_2) == {"OK"} and len(load.after("worker-2", killed_at)) >= 10
        # Through the gateway at most the calls in flight at the kill failed.
        gateway = load.after("gateway", killed_at)
        assert gateway.count("200") >= 10 and len(gateway) - gateway.count("200") <= 2, Counter(gateway)
        assert set(load.after("gateway", replaced_at)) == {"200"}
        assert httpx.get(f"{server.http_url}/readyz").status_code == 200

        after = scrape(server.http_url)
        ok = dict(method="GetIssue", code="OK")
        # The dead worker's counts stay in the sums; its live gauges went with it.
        assert value(after, "issues_grpc_requests_total", **ok) > value(before, "issues_grpc_requests_total", **ok)
        assert value(after, "issues_db_pool_connections_max") == POOL_SIZE * WORKERS
        assert value(after, "issues_process_restarts_total", process="worker") == 1
    finally:
        assert server.stop() == 0


def test_a_process_that_keeps_dying_is_restarted_with_backoff_and_the_gateway_too(fresh_database_url, tmp_path):
    server = start_workers(fresh_database_url, tmp_path)
    try:
        for _ in range(3):  # each dies within seconds of its start: a crash loop
            victim = wait_for("worker-2 serving", lambda: latest_pid(server, "worker-2"))
            os.kill(victim, signal.SIGKILL)  # type: ignore[arg-type]
            wait_for("worker-2 restarted", lambda: latest_pid(server, "worker-2") not in (None, victim))
        delays = [
            e["restart_in_seconds"] for e in server.log_entries() if e.get("msg") == "process exited; restarting it"
        ]
        assert delays == [0.5, 1.0, 2.0]

        # The gateway is restarted on the same port.
        gateway = server.pids["gateway"]
        os.kill(gateway, signal.SIGKILL)
        wait_for("a new gateway", lambda: latest_pid(server, "gateway") not in (None, gateway))
        assert httpx.get(f"{server.http_url}/readyz", timeout=10).status_code == 200
    finally:
        assert server.stop() == 0


def latest_pid(server: harness.ServerProcess, child: str) -> int | None:
    """The pid of `child` if its latest start is serving, else None."""
    pid = None
    for entry in server.log_entries():
        if entry.get("child") == child and entry.get("msg") == "process started":
            pid = None
        if entry.get("child") == child and entry.get("msg") == "process serving":
            pid = int(entry["pid"])
    return pid


def test_sigterm_drains_every_process_and_the_supervisor_exits_0(fresh_database_url, tmp_path):
    server = start_workers(fresh_database_url, tmp_path, ISSUES_SHUTDOWN_GRACE="5")
    entry = next(e for e in server.log_entries() if e.get("msg") == "supervisor serving")
    token, _ = harness.mint_token(fresh_database_url, "member")
    channels = [grpc.insecure_channel(t) for t in server.worker_targets]
    outcomes: dict[str, object] = {}

    def attempt(key: str, call: Callable[[], object]) -> None:
        try:
            outcomes[key] = call()
        except (grpc.RpcError, httpx.HTTPError) as exc:
            outcomes[key] = exc

    release = hold_write_lock(fresh_database_url)
    try:
        calls = [
            threading.Thread(
                target=attempt,
                args=(f"worker-{i + 1}", lambda c=c: harness.Api(c, token).CreateIssue(title="in flight at SIGTERM")),
            )
            for i, c in enumerate(channels)
        ]
        calls.append(
            threading.Thread(
                target=attempt,
                args=(
                    "gateway",
                    lambda: httpx.post(
                        f"{server.http_url}/api/v1/issues",
                        json={"title": "in flight too", "description": []},
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=30,
                    ),
                ),
            )
        )
        for thread in calls:
            thread.start()
        time.sleep(0.7)  # every call now waits on the lock
        assert outcomes == {}
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.7)
        # Draining: no worker takes a new call.
        with grpc.insecure_channel(server.target) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                harness.Api(channel, token).ListIssues(limit=1)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        release()
    for thread in calls:
        thread.join(30)
    code = server.process.wait(30)
    for channel in channels:
        channel.close()

    assert code == 0
    # The calls in flight finished: drained, not cut.
    assert all(hasattr(outcomes[f"worker-{i + 1}"], "uuid") for i in range(WORKERS)), outcomes
    assert getattr(outcomes["gateway"], "status_code", None) == 201, outcomes
    assert not any(alive(pid) for pid in server.pids.values())
    stopped = [e.get("worker") or e.get("role") for e in server.log_entries() if e.get("msg") == "stopped"]
    assert sorted(map(str, stopped[:-1])) == ["1", "2", "gateway"] and stopped[-1] is None
    assert not pathlib.Path(entry["run_dir"]).exists()  # the shared table and metrics files went with it


@pytest.mark.backend_independent
@pytest.mark.parametrize("workers", ["0", "x", "65"])
def test_a_bad_worker_count_is_a_usage_error(workers, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path}/x.db",
            "--workers",
            workers,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--workers" in done.stderr


@pytest.mark.backend_independent
def test_a_port_in_use_fails_the_start_with_status_2_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--database-url",
                f"sqlite:///{tmp_path}/x.db",
                "--workers",
                "2",
                "--grpc-listen",
                f"127.0.0.1:{port}",
                "--no-http",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: cannot serve gRPC on 127.0.0.1:{port}: address already in use; "
        "choose another address with --grpc-listen HOST:PORT (or ISSUES_GRPC_LISTEN)"
    ]


def test_the_readme_tracker_walkthrough_runs_against_workers(tmp_path):
    """The README's tracker walkthrough, its calls spread over two workers on one SQLite file."""
    from .test_readme import _run_tracker_walkthrough

    server = harness.ServerProcess(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path, http=True, workers=WORKERS)
    try:
        _run_tracker_walkthrough(server, tmp_path)
        assert all(n > 0 for n in served_by(server).values()) and len(served_by(server)) == WORKERS
    finally:
        assert server.stop() == 0


@pytest.mark.backend_independent
def test_a_second_supervisor_on_the_same_port_fails_to_start(tmp_path):
    first = harness.ServerProcess(f"sqlite:///{tmp_path / 'one.db'}", tmp_path, workers=WORKERS)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--database-url",
                f"sqlite:///{tmp_path / 'two.db'}",
                "--workers",
                str(WORKERS),
                "--grpc-listen",
                first.target,
                "--no-http",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and done.stderr.startswith(f"error: cannot serve gRPC on {first.target}: ")
        assert "--grpc-listen" in done.stderr and len(done.stderr.splitlines()) == 1
    finally:
        assert first.stop() == 0

"""Running the gateway: in a background thread, and as `python -m gateway`."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
import httpx
import pytest

from gateway.server import bind, start_in_thread
from issues.v1 import issue_pb2, issue_service_pb2 as pb

from ..harness import _free_port as free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SlowUpstream:
    """GetIssue that waits for `release` before answering, to have a request in flight."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

        def get_issue(request, context):
            self.entered.set()
            self.release.wait(10)
            return issue_pb2.Issue(uuid=request.issue_id)

        handler = grpc.unary_unary_rpc_method_handler(
            get_issue,
            request_deserializer=pb.GetIssueRequest.FromString,
            response_serializer=issue_pb2.Issue.SerializeToString,
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("issues.v1.IssueService", {"GetIssue": handler})]
        )
        self.target = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()


@pytest.fixture
def upstream():
    server = SlowUpstream()
    yield server
    server.release.set()
    server.server.stop(None)


def test_port_zero_binds_a_free_port_and_stop_releases_it(upstream):
    handle = start_in_thread("127.0.0.1:0", upstream.target)
    try:
        assert handle.port > 0
        assert httpx.get(f"http://127.0.0.1:{handle.port}/healthz").json() == {"status": "ok"}
    finally:
        handle.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{handle.port}/healthz")


def test_stop_lets_an_in_flight_request_finish(upstream):
    handle = start_in_thread("127.0.0.1:0", upstream.target)
    result: dict[str, httpx.Response] = {}

    def request() -> None:
        result["r"] = httpx.get(
            f"http://127.0.0.1:{handle.port}/api/v1/issues/abc", timeout=20, headers={"Authorization": "Bearer t"}
        )

    client = threading.Thread(target=request)
    client.start()
    assert upstream.entered.wait(10)
    stopper = threading.Thread(target=handle.stop)
    stopper.start()
    # Draining: the listener is closed to new connections while the old one is served.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", handle.port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the gateway kept accepting connections while stopping")
    upstream.release.set()
    client.join(20)
    stopper.join(20)
    assert not stopper.is_alive()
    assert result["r"].status_code == 200 and result["r"].json()["uuid"] == "abc"


def test_one_access_log_line_per_request_but_none_for_probes_that_succeed(upstream, capfd, caplog):
    caplog.set_level(logging.INFO, logger="gateway.access")  # the line is written straight to fd 2
    handle = start_in_thread("127.0.0.1:0", upstream.target)
    dead = start_in_thread("127.0.0.1:0", f"127.0.0.1:{free_port()}")  # nothing listens behind it
    try:
        assert httpx.get(f"http://127.0.0.1:{handle.port}/healthz").status_code == 200
        httpx.get(f"http://127.0.0.1:{handle.port}/no/such/thing")
        assert httpx.get(f"http://127.0.0.1:{dead.port}/readyz", timeout=10).status_code == 503
    finally:
        handle.stop()
        dead.stop()
    entries = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    lines = [e for e in entries if e.get("logger") == "gateway.access"]
    assert [(e["msg"], e["method"], e["path"], e["status"]) for e in lines] == [
        ("http", "GET", "/no/such/thing", 404),
        ("http", "GET", "/readyz", 503),
    ]
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] >= 0 for e in lines)


def test_a_busy_address_fails_to_start(upstream):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            start_in_thread(f"127.0.0.1:{taken.getsockname()[1]}", upstream.target)


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:http", "127.0.0.1"])
def test_malformed_listen_addresses_are_refused(listen):
    with pytest.raises(ValueError):
        bind(listen)


def test_ipv6_listen_address():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        sock = bind("[::1]:0")
    except OSError:
        pytest.skip("::1 not configured")
    with sock:
        assert sock.family == socket.AF_INET6


def _run_gateway(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, list[dict]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    entries: list[dict] = []
    assert process.stderr is not None
    for line in process.stderr:
        entries.append(json.loads(line))
        if entries[-1].get("msg") in ("serving http", "cannot start"):
            break
    return process, entries


def test_python_m_gateway_serves_until_sigterm_then_drains(upstream):
    port = free_port()
    # Flags beat the environment.
    process, entries = _run_gateway(
        ["--http-listen", f"127.0.0.1:{port}", "--grpc-target", upstream.target],
        {"ISSUES_HTTP_LISTEN": "127.0.0.1:1", "ISSUES_GRPC_TARGET": "127.0.0.1:1"},
    )
    try:
        assert entries[-1]["msg"] == "serving http", entries
        assert entries[-1]["http_listen"] == f"127.0.0.1:{port}" and entries[-1]["grpc_target"] == upstream.target
        upstream.release.set()
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/issues/xyz", timeout=10, headers={"Authorization": "Bearer t"}
        )
        assert response.json()["uuid"] == "xyz"  # reached the flag's target, not the env's
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    log = [json.loads(line) for line in err.splitlines()]
    access = [e for e in log if e.get("logger") == "gateway.access"]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [("GET", "/api/v1/issues/xyz", 200)]
    assert log[-1]["msg"] == "stopped"


def test_python_m_gateway_reads_the_environment(upstream):
    port = free_port()
    process, entries = _run_gateway(
        [], {"ISSUES_HTTP_LISTEN": f"127.0.0.1:{port}", "ISSUES_GRPC_TARGET": upstream.target}
    )
    try:
        assert entries[-1]["msg"] == "serving http", entries
        assert entries[-1]["http_listen"] == f"127.0.0.1:{port}"
        assert entries[-1]["grpc_target"] == upstream.target
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_python_m_gateway_takes_cors_origins_from_the_environment(upstream):
    port = free_port()
    process, entries = _run_gateway(
        ["--http-listen", f"127.0.0.1:{port}", "--grpc-target", upstream.target],
        {"ISSUES_CORS_ORIGINS": "https://a.example, http://localhost:3000"},
    )
    try:
        assert entries[-1]["msg"] == "serving http", entries
        for origin, allowed in (("http://localhost:3000", True), ("https://b.example", False)):
            response = httpx.options(
                f"http://127.0.0.1:{port}/api/v1/issues",
                headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            )
            assert response.status_code == 204
            assert response.headers.get("access-control-allow-origin") == (origin if allowed else None)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_python_m_gateway_refuses_a_malformed_cors_origin(upstream):
    process, entries = _run_gateway(
        ["--http-listen", "127.0.0.1:0", "--grpc-target", upstream.target, "--cors-origins", "a.example/path"], {}
    )
    assert entries[-1]["msg"] == "cannot start" and "a.example/path" in entries[-1]["error"]
    assert process.wait(timeout=30) == 1

"""Two replicas on one PostgreSQL database (SPEC 10): each its own `serve`
process; what one writes the other serves, and its events reach a watcher
on the other within a second. Once more with each replica in a network
namespace of its own, as its own host, when the machine allows it."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Iterator

import grpc
import pytest

from common.jsonout import to_json
from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

from .. import harness


def _watch(target: str, token: str) -> tuple[grpc.Channel, list[tuple[float, dict[str, Any]]]]:
    """A watcher on `target` from now on: (its channel, [(arrival time, event JSON)])."""
    channel = grpc.insecure_channel(target)
    stream = issue_service_pb2_grpc.IssueServiceStub(channel).WatchEvents(
        pb.WatchEventsRequest(), metadata=(("authorization", f"Bearer {token}"),)
    )
    seen: list[tuple[float, dict[str, Any]]] = []

    def run() -> None:
        with contextlib.suppress(grpc.RpcError):
            for event in stream:
                seen.append((time.monotonic(), to_json(event)))

    threading.Thread(target=run, daemon=True).start()
    return channel, seen


def _check_two_replicas(a: str, b: str, token: str) -> list[float]:
    """Writes through each replica, read and watched through the other; the delivery delays."""
    delays: list[float] = []
    channels = []
    try:
        watchers = {}
        for name, target in (("a", a), ("b", b)):
            channel, seen = _watch(target, token)
            channels.append(channel)
            watchers[name] = seen
        time.sleep(0.5)  # both have joined
        for writer, reader in (("a", "b"), ("b", "a")):
            with (
                grpc.insecure_channel(a if writer == "a" else b) as w,
                grpc.insecure_channel(a if reader == "a" else b) as r,
            ):
                for i in range(5):
                    title = f"from-{writer}-{i}-{uuid.uuid4().hex[:6]}"
                    created = harness.Api(w, token).CreateIssue(title=title, description=[])
                    acknowledged = time.monotonic()
                    # The other replica serves it...
                    assert harness.Api(r, token).GetIssue(issue_id=created.identifier).title == title
                    # ...and its watcher hears of it within a second.
                    deadline = acknowledged + 1.0
                    while True:
                        arrived = [t for t, e in watchers[reader] if e["data"]["title"] == title]
                        if arrived:
                            delays.append(arrived[0] - acknowledged)
                            break
                        assert time.monotonic() < deadline, f"{title} did not reach replica {reader} within a second"
                        time.sleep(0.005)
        # Each write waited for the other replica's watcher; the writer's own hears
        # of it from its own commit, which may still be on its way.
        deadline = time.monotonic() + 1.0
        while any(len(seen) < 10 for seen in watchers.values()) and time.monotonic() < deadline:
            time.sleep(0.005)
        for seen in watchers.values():
            sequences = [e["sequence"] for _, e in seen]
            assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
            assert len(sequences) == 10
    finally:
        for channel in channels:
            channel.close()
    return delays


@pytest.fixture
def postgres_url(backend: str, database_url: str) -> str:
    assert backend == "postgres", "replicas share a PostgreSQL database: parametrize the test on postgres"
    return database_url


# Replicas share a PostgreSQL database: these run on it alone.
on_postgres = pytest.mark.parametrize("backend", ["postgres"], scope="session")


@on_postgres
def test_two_replicas_serve_and_stream_what_the_other_wrote(postgres_url, grpc_server, make_token, tmp_path):
    token, _ = make_token("admin")
    other = harness.ServerProcess(postgres_url, tmp_path)
    try:
        delays = _check_two_replicas(grpc_server.target, other.target, token)
    finally:
        other.stop()
    assert max(delays) < 1.0


# -- each replica in a network namespace of its own ------------------------------------


def _netns_allowed() -> bool:
    if shutil.which("ip") is None:
        return False
    probe = f"evp{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class _Relay:
    """TCP from `listen` to `target`: PostgreSQL (on loopback) as the namespaces see it on the host's veth address."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.server = socket.create_server(listen)
        self.target = target
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()


@contextlib.contextmanager
def _host(name: str, index: int) -> Iterator[tuple[str, str]]:
    """A network namespace joined to this one by a veth pair: (the host side's address, the namespace's)."""
    host_ip, ns_ip = f"10.231.{index}.1", f"10.231.{index}.2"
    outside, inside = f"ev{index}h{os.getpid() % 1000}", f"ev{index}n{os.getpid() % 1000}"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", name)
        _ip("addr", "add", f"{host_ip}/24", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", name, "addr", "add", f"{ns_ip}/24", "dev", inside)
        _ip("-n", name, "link", "set", inside, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield host_ip, ns_ip
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _serve_in(namespace: str, address: str, database_url: str, workdir: pathlib.Path) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{namespace}.log", "wb")  # noqa: SIM115 - the server's stderr for its lifetime
    return subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            database_url,
            "--grpc-listen",
            f"{address}:50051",
            "--no-http",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=os.environ.copy(),
    )


def _ready(target: str, timeout: float = 30.0) -> None:
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=timeout)


@on_postgres
def test_two_replicas_each_in_its_own_network_namespace(postgres_url, make_token, tmp_path):
    if not _netns_allowed():
        pytest.skip("this machine does not let the tests make network namespaces (ip netns add)")
    db_host = harness.database_host_port(postgres_url)
    suffix = uuid.uuid4().hex[:6]
    processes: list[subprocess.Popen[bytes]] = []
    relays: list[_Relay] = []
    with _host(f"issues-a-{suffix}", 1) as (host_a, ns_a), _host(f"issues-b-{suffix}", 2) as (host_b, ns_b):
        try:
            for namespace, host_ip, ns_ip in (
                (f"issues-a-{suffix}", host_a, ns_a),
                (f"issues-b-{suffix}", host_b, ns_b),
            ):
                relay = _Relay((host_ip, 0), db_host)
                relays.append(relay)
                url = harness.replace_host_port(postgres_url, host_ip, relay.port)
                processes.append(_serve_in(namespace, ns_ip, url, tmp_path))
            for ns_ip in (ns_a, ns_b):
                _ready(f"{ns_ip}:50051")
            token, _ = make_token("admin")  # now: the replicas have migrated the database (run alone, none had)
            delays = _check_two_replicas(f"{ns_a}:50051", f"{ns_b}:50051", token)
        finally:
            for process in processes:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(20)
                if process.poll() is None:
                    process.kill()
            for relay in relays:
                relay.close()
    assert max(delays) < 1.0


# -- serve --workers N: one hub per process -------------------------------------------


def test_watchers_on_every_worker_see_what_any_worker_committed(fresh_database_url, tmp_path):
    from .test_workers import start_workers

    server = start_workers(fresh_database_url, tmp_path)
    channels = []
    try:
        token, _ = harness.mint_token(fresh_database_url, "member")
        watchers = []
        for target in server.worker_targets:
            channel, seen = _watch(target, token)
            channels.append(channel)
            watchers.append(seen)
        time.sleep(0.5)
        titles = []
        for i, target in enumerate(server.worker_targets * 2):
            with grpc.insecure_channel(target) as channel:
                titles.append(harness.Api(channel, token).CreateIssue(title=f"via worker {i}", description=[]).title)
        deadline = time.monotonic() + 5
        while any(len(seen) < len(titles) for seen in watchers):
            assert time.monotonic() < deadline, [len(seen) for seen in watchers]
            time.sleep(0.02)
        for seen in watchers:
            assert [e["data"]["title"] for _, e in seen] == titles
            assert [e["sequence"] for _, e in seen] == list(range(1, len(titles) + 1))
    finally:
        for channel in channels:
            channel.close()
        assert server.stop() == 0

"""`python -m service serve --workers N` (N > 1): N gRPC server processes on
one port, the HTTP gateway in a process of its own, under a supervisor.

The order, as grpc's multiprocessing example has it: everything that needs
no gRPC object happens here first, once (settings checked, migrations, the
first token, the ports bound), then the supervisor forks the processes, and
each creates its own server or channel after the fork.

- **The shared port.** Every worker listens on `--grpc-listen` with
  SO_REUSEPORT; the kernel spreads incoming connections over them. This
  process holds a socket bound to that port (bound, never listening, so it
  gets no connections), which keeps the port ours while workers restart and
  resolves port 0 to one port for all of them.
- **Each worker's own port.** A gateway holds few connections, and
  SO_REUSEPORT spreads connections, not calls: so each worker also listens on
  a loopback port of its own (held the same way), and the gateway's target
  lists them all (`ipv4:127.0.0.1:P1,127.0.0.1:P2`): it balances its calls
  round-robin over the workers that are up, and its `/readyz` is 200 only
  while every worker reports SERVING.
- **The HTTP port** is bound here and handed to the gateway process; a
  restarted gateway takes the same socket, so connections made meanwhile
  wait in its backlog instead of being refused.
- **Shared state** lives in a fresh directory per start (under /dev/shm when
  there is one), removed at exit: the rate-limit table every worker maps
  (`SharedBuckets`: one bucket per token for the whole host), and
  PROMETHEUS_MULTIPROC_DIR, where every process writes its metrics and from
  which the gateway's `/metrics` adds them up. When a process dies its live
  gauges are removed (`mark_process_dead`); its counters stay in the sums.
- **Webhooks.** On PostgreSQL one more child delivers them, at a lower CPU
  priority (webhook_process.py): one dispatcher, however many workers. On
  SQLite each worker runs its own, in-process (see there why).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import shutil
import socket
import sys
import tempfile
import threading
from typing import Callable

from common import logs
from common.stop_signals import wait_until_set

from ..config import Settings
from ..storage import database
from .bootstrap import prepare_database
from .grace import gateway_grace_seconds
from .supervisor import Child, Supervisor
from .webhook_process import DispatcherConfig, in_own_process, run_dispatcher

log = logging.getLogger("service")

# After the gateway's drain (the longest of any process's), how long the
# supervisor waits before it kills what is left.
DRAIN_SLACK_SECONDS = 5.0


def serve_workers(settings: Settings, cors_origins: tuple[str, ...]) -> int:
    if "prometheus_client" in sys.modules:
        # Its values are files only if the variable is set before the import.
        raise RuntimeError("serve_workers must run before prometheus_client is imported")
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="issues-serve-", dir=_shared_memory()))
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = pathlib.Path(tempfile.mkdtemp(prefix="issues-metrics-", dir=given)) if given else run_dir / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    held: list[socket.socket] = []
    try:
        return _serve(settings, cors_origins, run_dir, metrics_dir, held)
    finally:
        for sock in held:
            sock.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        if given:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(
    settings: Settings,
    cors_origins: tuple[str, ...],
    run_dir: pathlib.Path,
    metrics_dir: pathlib.Path,
    held: list[socket.socket],
) -> int:
    # Only now, with PROMETHEUS_MULTIPROC_DIR set: these import prometheus_client.
    from prometheus_client import Counter, multiprocess

    from ..api.rate_limit import SharedBuckets
    from . import server  # noqa: F401 - loaded once, before the fork: no worker (or restart) imports it again

    count = settings.worker_processes
    try:
        shared = _hold(settings.grpc_listen)
        held.append(shared)
        own: list[socket.socket] = []
        http_sock = None
        if settings.http_listen:
            own = [_hold("127.0.0.1:0") for _ in range(count)]
            held.extend(own)
            from gateway.server import bind

            http_sock = bind(settings.http_listen)
            held.append(http_sock)
    except (OSError, ValueError) as exc:
        log.error("cannot start", extra={"error": f"cannot listen: {exc}"})
        return 1

    prepare_database(settings).close_all()  # migrations once, before any fork

    grpc_host = settings.grpc_listen.rsplit(":", 1)[0]
    grpc_listen = f"{grpc_host}:{shared.getsockname()[1]}"
    own_addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in own]
    blobs = settings.blobs
    http_listen = None
    if http_sock is not None:
        assert settings.http_listen is not None
        http_listen = f"{settings.http_listen.rsplit(':', 1)[0]}:{http_sock.getsockname()[1]}"
        if not blobs.public_url:  # the file store's signed URLs are the gateway's blob routes
            blobs = dataclasses.replace(blobs, public_url=f"http://{http_listen}")
    table = None
    if settings.rate_limit:
        table = run_dir / "rate-limits"
        SharedBuckets.create(table)
    base = dataclasses.replace(
        settings,
        grpc_listen=grpc_listen,
        reuse_port=True,
        blobs=blobs,
        rate_limit_table=str(table) if table else None,
    )

    def others(*keep: socket.socket) -> tuple[int, ...]:
        return tuple(s.fileno() for s in held if s not in keep)

    children = [
        Child(
            f"worker-{i + 1}",
            _worker_body(dataclasses.replace(base, worker_listen=address), i + 1),
            close_in_child=others(),
        )
        for i, address in enumerate(own_addresses or [None] * count)
    ]
    if in_own_process(settings.database_url):
        children.append(Child("webhooks", _webhooks_body(DispatcherConfig.of(settings)), close_in_child=others()))
    if http_sock is not None:
        assert http_listen is not None
        target = "ipv4:" + ",".join(own_addresses)
        children.append(
            Child(
                "gateway",
                _gateway_body(settings, http_sock, http_listen, target, cors_origins),
                close_in_child=others(http_sock),
            )
        )

    restarts = Counter("issues_process_restarts", "Worker and gateway processes the supervisor restarted.", ["process"])

    def on_exit(child: Child, pid: int) -> None:
        multiprocess.mark_process_dead(pid, str(metrics_dir))  # its live gauges go; its counters stay

    def on_restart(child: Child) -> None:
        restarts.labels(child.name if child.name in ("gateway", "webhooks") else "worker").inc()

    def on_ready() -> None:
        log.info(
            "supervisor serving",
            extra={
                "workers": count,
                "grpc_listen": grpc_listen,
                "worker_listen": own_addresses,
                "http_listen": http_listen,
                "pids": {c.name: c.pid for c in children},
                "run_dir": str(run_dir),
                "metrics_dir": str(metrics_dir),
            },
        )

    def on_drain() -> None:
        # Nothing is restarted from here on: let go of the ports, so that new
        # connections are refused once the processes have closed theirs too.
        for sock in held:
            sock.close()

    supervisor = Supervisor(
        children,
        drain_seconds=gateway_grace_seconds(settings) + DRAIN_SLACK_SECONDS,
        on_exit=on_exit,
        on_ready=on_ready,
        on_restart=on_restart,
        on_drain=on_drain,
    )
    code = supervisor.run()
    log.info("stopped", extra={"exit_code": code})
    return code


def _worker_body(settings: Settings, index: int) -> Callable[[threading.Event, Callable[[], None]], int]:
    def body(stopping: threading.Event, ready: Callable[[], None]) -> int:
        logs.tag(worker=index)
        return run_worker(settings, stopping, ready)

    return body


def _webhooks_body(config: DispatcherConfig) -> Callable[[threading.Event, Callable[[], None]], int]:
    def body(stopping: threading.Event, ready: Callable[[], None]) -> int:
        return run_dispatcher(config, stopping, ready)

    return body


def _gateway_body(
    settings: Settings, sock: socket.socket, http_listen: str, target: str, cors_origins: tuple[str, ...]
) -> Callable[[threading.Event, Callable[[], None]], int]:
    def body(stopping: threading.Event, ready: Callable[[], None]) -> int:
        logs.tag(role="gateway")
        return run_gateway(settings, sock, http_listen, target, cors_origins, stopping, ready)

    return body


def run_worker(settings: Settings, stopping: threading.Event, ready: Callable[[], None]) -> int:
    """One gRPC worker process: serve until `stopping`, then drain like `serve` does."""
    from .server import start  # it imports prometheus_client (see serve_workers)

    db = database.open_database(settings.database_url, pool_size=settings.db_pool_size)
    database.bind(db)
    server = start(settings, db)
    ready()
    wait_until_set(stopping)
    grace = settings.shutdown_grace_seconds
    log.info("shutting down", extra={"grace_seconds": grace})
    server.stop(grace)
    log.info("stopped")
    return 0


def run_gateway(
    settings: Settings,
    sock: socket.socket,
    http_listen: str,
    grpc_target: str,
    cors_origins: tuple[str, ...],
    stopping: threading.Event,
    ready: Callable[[], None],
) -> int:
    """The gateway process: serve HTTP on `sock` in front of the workers until `stopping`, then drain."""
    from gateway.server import start_in_thread

    gateway = start_in_thread(
        http_listen,
        grpc_target,
        max_upload_bytes=settings.blobs.max_upload_bytes,
        cors_origins=cors_origins,
        graceful_seconds=gateway_grace_seconds(settings),
        sock=sock,
    )
    log.info("serving http", extra={"http_listen": http_listen, "grpc_target": grpc_target})
    ready()
    wait_until_set(stopping)
    log.info("shutting down")
    gateway.stop()
    log.info("stopped")
    return 0


def _hold(listen: str) -> socket.socket:
    """A socket bound to `listen` ("HOST:PORT", port 0 for a free one) with
    SO_REUSEPORT, never listening: it keeps the port for the workers, which
    bind it with SO_REUSEPORT too."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {listen!r} must be HOST:PORT")
    host = host.strip("[]")
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    if int(port):
        # SO_REUSEPORT would let this bind join another server of the same
        # user already listening there; a bind without it fails on any listener.
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _shared_memory() -> str | None:
    """/dev/shm when it is there and writable (the table and metrics files stay in memory)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

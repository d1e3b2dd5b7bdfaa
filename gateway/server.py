"""Serving the gateway with uvicorn, in a background thread or in the foreground.

`start_in_thread` is how `python -m service serve` runs the gateway
in-process: uvicorn gets its own thread and event loop (uvloop's), and `stop()` drains it
(stop accepting, finish in-flight requests, close the gRPC channel).
With a `transport` from the server itself, calls reach the service without a
channel (service/runtime/inprocess.py).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import uvicorn

from .app import build_app
from .transport import Transport

__all__ = ["GatewayHandle", "bind", "start_in_thread"]

STARTUP_TIMEOUT_SECONDS = 15.0
# In-flight requests get this long to finish when the gateway stops.
SHUTDOWN_GRACE_SECONDS = 10


def bind(listen: str) -> socket.socket:
    """A TCP socket bound to "HOST:PORT" ("[::1]:8080" for IPv6; port 0 picks a free one)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {listen!r} must be HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it small responses wait on Nagle's delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError:
        sock.close()
        raise
    return sock


def _config(
    grpc_target: str,
    max_body_bytes: int,
    max_upload_bytes: int,
    cors_origins: Sequence[str] = (),
    graceful_seconds: float = SHUTDOWN_GRACE_SECONDS,
    transport: Transport | None = None,
) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(
            grpc_target,
            max_body_bytes=max_body_bytes,
            max_upload_bytes=max_upload_bytes,
            cors_origins=cors_origins,
            transport=transport,
        ),
        lifespan="on",
        log_config=None,  # leave logging to the process (JSON lines in `service serve`)
        access_log=False,  # the app logs one line per request itself
        server_header=False,
        # Annotated int, but uvicorn hands it to asyncio.wait_for, which takes seconds as a float.
        timeout_graceful_shutdown=graceful_seconds,  # type: ignore[arg-type]
    )


@dataclass
class GatewayHandle:
    """A gateway serving in a background thread."""

    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    def begin_stop(self) -> None:
        """Stop accepting new requests; those in flight go on."""
        self._server.should_exit = True

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close the channel; blocks until done."""
        self.begin_stop()
        self._thread.join()


def start_in_thread(
    http_listen: str,
    grpc_target: str,
    *,
    max_body_bytes: int = 1 << 20,
    max_upload_bytes: int = 512 << 20,
    cors_origins: Sequence[str] = (),
    graceful_seconds: float = SHUTDOWN_GRACE_SECONDS,
    sock: socket.socket | None = None,
    transport: Transport | None = None,
) -> GatewayHandle:
    """Serve the gateway on `http_listen` in front of `grpc_target`; returns once it accepts requests.

    `cors_origins`: the browser origins allowed to call it (see gateway.cors); none turns CORS off.
    `sock`: a socket already bound to the address (by a parent process that
    keeps it, so that the port outlives a gateway it restarts); `http_listen`
    is not bound again then. `transport`: how calls reach the service, if not
    over a channel to `grpc_target` (the server's in-process transport).
    """
    sock = sock if sock is not None else bind(http_listen)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        _config(grpc_target, max_body_bytes, max_upload_bytes, cors_origins, graceful_seconds, transport)
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            # uvicorn's own choice (loop="auto"): uvloop, a dependency, where it is installed;
            # a tenth less CPU per GET than asyncio's loop (bench/RESULTS.md). The gRPC server's stays asyncio's.
            with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name="http-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the HTTP gateway failed to start: {failure[0] if failure else 'exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the HTTP gateway did not start in time")
        time.sleep(0.01)
    return GatewayHandle(port, server, thread)

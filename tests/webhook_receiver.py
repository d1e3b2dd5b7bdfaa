"""A real webhook receiver for the tests: a threaded HTTP server on 127.0.0.1.

Each request is recorded (path, headers, body, when) and answered as its
path says, so one receiver serves every behaviour a test needs:

    /ok                 200
    /fail               500
    /throttle           429 with Retry-After: 1
    /slow               sleeps past any test timeout, then 200
    /close              closes the connection without answering
    /redirect           302 to /ok (never followed)
    /huge               200 with a 64 MiB body
    /switch             answers as `receiver.switch` says ("ok" or "fail")
    /hangonce           the first request hangs for 30 s (then 200), the others get 200 at once
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # The sender's port: one per connection, so reuse shows as a repeat.
    port: int = 0
    at: float = field(default_factory=time.monotonic)


class Receiver:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self.switch = "ok"
        self.huge_bytes_sent = 0
        self._hung = False
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path.split("?", 1)[0]
                with receiver._lock:
                    receiver.received.append(
                        Received(path, {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[1])
                    )
                receiver._answer(self, path)

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128  # not 5: every dispatcher of two servers may connect at once

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # HTTPS with the context's certificate
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def _answer(self, h: http.server.BaseHTTPRequestHandler, path: str) -> None:
        kind = self.switch if path.startswith("/switch") else path.strip("/").split("/")[0]
        if kind == "close":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if kind == "slow":
            time.sleep(30)
        if kind == "hangonce":
            with self._lock:
                hang, self._hung = not self._hung, True
            if hang:
                time.sleep(30)
            kind = "ok"
        if kind == "huge":
            chunk = b"x" * 65536
            h.send_response(200)
            h.send_header("Content-Length", str(len(chunk) * 1024))
            h.end_headers()
            try:
                for _ in range(1024):
                    h.wfile.write(chunk)
                    self.huge_bytes_sent += len(chunk)
            except OSError:
                pass
            return
        status, headers = {
            "ok": (200, {}),
            "fail": (500, {}),
            "throttle": (429, {"Retry-After": "1"}),
            "redirect": (302, {"Location": self.url("/ok")}),
            "slow": (200, {}),
        }.get(kind, (404, {}))
        payload = b"no" if status >= 400 else b""
        h.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(payload))}.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                seen = list(self.received)
            if condition(seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"the receiver did not get what was expected in {timeout} s: {[r.path for r in seen]}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

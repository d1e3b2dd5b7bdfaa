"""Sending one webhook attempt over HTTP(S), safely (SPEC 8.13).

httpcore (the transport under httpx, already a dependency) does the HTTP,
one connection at a time; the Sender keeps idle connections alive per
origin (scheme, host, port), so deliveries to one receiver reuse them.
httpcore never follows redirects, and its network backend can be
replaced, which is where the outbound guard sits. `VettedBackend.connect_tcp` resolves the host, refuses
it if any address it resolves to is loopback, private, link-local,
unique-local, unspecified or cloud metadata (unless allowed), and connects
to the vetted address itself, so a DNS answer that changes between the
check and the connect (rebinding) cannot slip through; TLS still verifies
the certificate against, and sends SNI for, the URL's host name. Each
attempt also re-resolves and vets before using a pooled connection, so a
name that has since moved to a private address is refused then.

An attempt's whole time (connect, send, the answer's first 64 KiB) is
bounded by the webhook timeout; at most 64 KiB of an answer is read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import urllib.parse
from typing import Any, Iterable

import anyio
import httpcore

from ..app.webhook_deliveries import Attempt
from ..domain import webhook_rules
from ..domain.times import utcnow
from ..webhook_config import WebhookSettings

USER_AGENT = "issues-service-webhooks/1"
_KEEPALIVE_SECONDS = 30.0
# What the log keeps of a refusing answer's body.
EXCERPT = 200


class Refused(Exception):
    """The destination is not one deliveries may go to."""


async def vetted_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses `host` resolves to, all of them allowed; Refused otherwise."""
    try:  # an address in the URL itself is checked as it is: no resolver thread for it
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise Refused(f"host {host!r} does not resolve: {getattr(exc, 'strerror', None) or exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refusal = webhook_rules.destination_refusal(host, addresses) if not allow_private else None
    if refusal or not addresses:
        raise Refused(refusal or f"host {host!r} has no address")
    return addresses


class _RefusedConnect(httpcore.ConnectError):
    """A new connection's destination was refused (a Refused, through httpcore)."""


class VettedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to vetted addresses of the host asked for (see the module's doc)."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await vetted_addresses(host, port, self._allow_private)
        except Refused as exc:
            raise _RefusedConnect(str(exc)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("deliveries go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_Key = tuple[bytes, bytes, int]


class Sender:
    """One process's HTTP client for deliveries, keeping idle connections per origin.

    Not httpcore's AsyncConnectionPool: matching requests to connections
    there costs time in proportion to connections times requests waiting,
    on every request (1.2 ms of CPU per POST at 16 in flight, against 0.3
    with this: Sender.post to a trivial receiver in the same process). The dispatcher bounds the attempts in flight, each using one
    connection, so this needs no bound but on the idle ones it keeps."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._settings = settings
        self._ssl = ssl.create_default_context()
        self._backend = VettedBackend(settings.allow_private)
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}

    async def _connection(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        """An idle connection to `origin` still usable (not expired, not closed by the other end), or a new one."""
        idle = self._idle.get((origin.scheme, origin.host, origin.port), [])
        while idle:
            connection = idle.pop()
            if connection.is_available() and not connection.has_expired():
                # Vetted again at each attempt: the connection may be older than
                # the name's current address. (A new one is vetted as it connects.)
                try:
                    await vetted_addresses(origin.host.decode("ascii"), origin.port, self._settings.allow_private)
                except Refused:
                    await _close(connection)
                    raise
                return connection
            await _close(connection)
        return httpcore.AsyncHTTPConnection(
            origin, ssl_context=self._ssl, keepalive_expiry=_KEEPALIVE_SECONDS, network_backend=self._backend
        )

    def _keep(self, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection) -> bool:
        idle = self._idle.setdefault((origin.scheme, origin.host, origin.port), [])
        if len(idle) >= self._settings.concurrency:
            return False
        idle.append(connection)
        return True

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        """POST `body` to `url`: an Attempt saying how it went (never raises for the receiver's faults)."""
        started = time.monotonic()
        timeout = self._settings.timeout

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            return await asyncio.wait_for(self._post(url, headers, body, took), timeout)
        except (TimeoutError, httpcore.TimeoutException):
            return Attempt(False, None, f"timed out after {timeout:g} s", took())
        except (Refused, _RefusedConnect) as exc:
            return Attempt(False, None, f"refused: {exc}", took())
        except httpcore.ConnectError as exc:
            return Attempt(False, None, f"could not connect: {exc or type(exc).__name__}", took())
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            return Attempt(False, None, f"connection failed: {exc or type(exc).__name__}", took())

    async def _post(self, url: str, headers: dict[str, str], body: bytes, took: Any) -> Attempt:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname is not None
        sent = {
            "host": parts.netloc.rpartition("@")[2],
            "content-type": "application/json",
            "content-length": str(len(body)),
            "user-agent": USER_AGENT,
            **headers,
        }
        limit = self._settings.response_bytes_max
        timeout = self._settings.timeout
        extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        target = httpcore.URL(url)
        connection = await self._connection(target.origin)
        kept = False
        try:
            response = await connection.handle_async_request(
                httpcore.Request("POST", target, headers=list(sent.items()), content=body, extensions=extensions)
            )
            try:
                answer = bytearray()
                async for chunk in response.aiter_stream():  # at most `limit` bytes of it
                    answer += chunk
                    if len(answer) >= limit:
                        break
            finally:
                await response.aclose()  # an answer not read to its end closes the connection
            status = response.status
            found = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            kept = connection.is_idle() and self._keep(target.origin, connection)
        finally:
            if not kept:
                await _close(connection)
        if 200 <= status < 300:
            return Attempt(True, status, None, took())
        retry_after = None
        if status in (429, 503):
            retry_after = webhook_rules.retry_after_seconds(found.get("retry-after"), utcnow())
        excerpt = bytes(answer[:EXCERPT]).decode("utf-8", "replace").strip()
        reason = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        return Attempt(False, status, f"{reason}: {excerpt}" if excerpt else reason, took(), retry_after)

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                await _close(connection)
        self._idle.clear()


async def _close(connection: httpcore.AsyncHTTPConnection) -> None:
    # Shielded: an attempt cut off by its timeout still closes its connection.
    with anyio.CancelScope(shield=True):
        await connection.aclose()

"""What a webhook may point at, and when its deliveries are tried again (SPEC 8.13).

Pure rules: the URL's shape, which addresses are refused (the server-side
request forgery guard), the retry schedule, `Retry-After`, and when a
webhook has failed long enough to be disabled. The callers resolve names
and keep the clock.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
import random
import urllib.parse

from .errors import Violations

URL_MAX = 2048
DESCRIPTION_MAX = 1000

# The cloud metadata services (AWS, GCP, Azure; AWS's IPv6 one).
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def check_url(v: Violations, field: str, url: str) -> str | None:
    """The URL's host if `url` is an http(s) URL with one, else None and a violation naming `field`."""
    if not url.strip():
        v.add(field, "is required")
        return None
    if len(url) > URL_MAX:
        v.add(field, f"must be at most {URL_MAX} characters, got {len(url)}")
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        v.add(field, "must not contain spaces or control characters")
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError as exc:
        v.add(field, f"is not a URL: {exc}")
        return None
    if parts.scheme.lower() not in ("http", "https"):
        v.add(field, "must be an http or https URL")
        return None
    if not host:
        v.add(field, "must have a host")
        return None
    if parts.username is not None or parts.password is not None:
        v.add(field, "must not carry credentials (put a secret in the path or rely on the signature)")
        return None
    return host


def address_refusal(address: str) -> str | None:
    """Why a delivery may not go to this IP address, as "ADDRESS, a KIND
    address" (None: it may).

    Anything that is not a globally routable unicast address is refused:
    loopback, private, link-local, unique-local, unspecified, multicast,
    reserved and the like, and the cloud metadata addresses.
    """
    ip = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip in _METADATA:
        return f"{ip}, the cloud metadata address"
    for kind, flag in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
    ):
        if flag:
            return f"{ip}, a {kind} address"
    if not ip.is_global:
        return f"{ip}, not a public address"
    return None


# IPv6 prefixes whose last 32 bits are an IPv4 address a packet may reach:
# IPv4-compatible (::/96, deprecated), IPv4-translated (::ffff:0:0:0/96) and
# NAT64's well-known prefix.
_IPV4_TAIL = tuple(ipaddress.ip_network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96"))


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one leads to (mapped, 6to4, Teredo,
    IPv4-compatible, NAT64), so that it is vetted as that address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # (server, client): the client is where packets go
    if any(ip in net for net in _IPV4_TAIL) and int(ip) & 0xFFFFFFFF and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def destination_refusal(host: str, addresses: list[str]) -> str | None:
    """Why deliveries may not go to `host`, which resolves to `addresses`
    (None: they may): it is refused if any of them is."""
    if not addresses:
        return f"host {host!r} has no address"
    for address in addresses:
        refusal = address_refusal(address)
        if refusal:
            return f"host {host!r} resolves to {refusal}: deliveries may not go there"
    return None


# -- retries ------------------------------------------------------------------


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """How long after its `attempts`-th failed attempt a delivery is tried
    again: base, 2 x base, 4 x base, ... up to `cap`, each with jitter
    (between half and all of it), so retries of many deliveries spread out."""
    delay: float = min(cap, base * 2 ** max(0, attempts - 1))  # int ** int is Any to the checker
    return delay * (0.5 + 0.5 * (rng or random).random())


def retry_after_seconds(value: str | None, now: datetime.datetime) -> float | None:
    """A `Retry-After` header's wait (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is not None:
            when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError):  # a receiver's header: any text at all
        return None
    return max(0.0, (when - now).total_seconds())


def gives_up(
    attempts: int, created_at: datetime.datetime, now: datetime.datetime, window: float, min_attempts: int
) -> bool:
    """A failed delivery is failed for good once it has been tried for the
    whole retry window and at least `min_attempts` times."""
    return attempts >= min_attempts and (now - created_at).total_seconds() >= window


def disables(
    failures_in_row: int, failing_since: datetime.datetime, now: datetime.datetime, after: float, min_failures: int
) -> bool:
    """A webhook whose attempts have all failed for `after` seconds and at
    least `min_failures` times in a row (whichever comes later) is disabled."""
    return failures_in_row >= min_failures and (now - failing_since).total_seconds() >= after

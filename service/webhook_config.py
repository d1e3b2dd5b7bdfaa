"""The webhook settings (SPEC 8.13), from ISSUES_WEBHOOK_* environment variables.

The defaults are the SPEC's; tests shorten the times so that a day of
retries runs in seconds. Durations are seconds (`0.5`, `30`) or a number
with s, m, h or d (`24h`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(name: str, default: str) -> float:
    text = (os.environ.get(name) or default).strip()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name}: expected seconds, or a number with s, m, h or d (e.g. 24h), got {text!r}")
    return value


def _count(name: str, default: int) -> int:
    text = (os.environ.get(name) or str(default)).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}: expected a whole number above 0, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class WebhookSettings:
    # Deliveries may go to loopback and private addresses (on-premises use, tests).
    allow_private: bool = False
    # The wait after the first failed attempt; it doubles after each one, up to backoff_max.
    backoff_base: float = 30.0
    backoff_max: float = 4 * 3600.0
    # A failed delivery is retried for this long, and at least min_attempts times.
    retry_window: float = 86400.0
    min_attempts: int = 8
    # An attempt's whole time: connecting, sending, the answer's first 64 KiB.
    timeout: float = 10.0
    # How long a replica holds a delivery it attempts; past it another may.
    lease: float = 60.0
    # A webhook is disabled once its attempts have all failed this long and this many times in a row.
    disable_after: float = 86400.0
    disable_failures: int = 100
    # After a rotation, the old secret signs too for this long.
    rotation_overlap: float = 86400.0
    # Attempts in flight per process, in all and per webhook.
    concurrency: int = 32
    concurrency_per_webhook: int = 16
    # How often a dispatcher looks for due deliveries besides being woken by commits.
    poll: float = 1.0
    response_bytes_max: int = 64 << 10

    @classmethod
    def from_env(cls) -> WebhookSettings:
        """The settings the environment gives; ValueError naming a malformed variable."""
        made = cls(
            allow_private=os.environ.get("ISSUES_WEBHOOK_ALLOW_PRIVATE", "") == "1",
            backoff_base=_duration("ISSUES_WEBHOOK_BACKOFF_BASE", "30"),
            backoff_max=_duration("ISSUES_WEBHOOK_BACKOFF_MAX", "4h"),
            retry_window=_duration("ISSUES_WEBHOOK_RETRY_WINDOW", "24h"),
            min_attempts=_count("ISSUES_WEBHOOK_MIN_ATTEMPTS", 8),
            timeout=_duration("ISSUES_WEBHOOK_TIMEOUT", "10"),
            lease=_duration("ISSUES_WEBHOOK_LEASE", "60"),
            disable_after=_duration("ISSUES_WEBHOOK_DISABLE_AFTER", "24h"),
            disable_failures=_count("ISSUES_WEBHOOK_DISABLE_FAILURES", 100),
            rotation_overlap=_duration("ISSUES_WEBHOOK_ROTATION_OVERLAP", "24h"),
            concurrency=_count("ISSUES_WEBHOOK_CONCURRENCY", 32),
            concurrency_per_webhook=_count("ISSUES_WEBHOOK_CONCURRENCY_PER_WEBHOOK", 16),
            poll=_duration("ISSUES_WEBHOOK_POLL", "1"),
        )
        if made.lease <= made.timeout:  # else a slow attempt's delivery would be taken by another meanwhile
            raise ValueError(
                f"ISSUES_WEBHOOK_LEASE ({made.lease:g} s) must be longer than "
                f"ISSUES_WEBHOOK_TIMEOUT ({made.timeout:g} s)"
            )
        return made


_current: WebhookSettings | None = None


def settings() -> WebhookSettings:
    """This process's settings, read from the environment once."""
    global _current
    if _current is None:
        _current = WebhookSettings.from_env()
    return _current

"""The webhook rules that need no server: the retry schedule the defaults
give, Retry-After, refused addresses, and signatures checked by the
standardwebhooks package (code we did not write)."""

from __future__ import annotations

import datetime
import random
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier, WebhookVerificationError

from service.domain import webhook_rules, webhook_signing
from service.domain.errors import Violations
from service.webhook_config import WebhookSettings

T0 = datetime.datetime(2026, 4, 13, 10, 30)


@pytest.mark.parametrize("seed", range(20))
def test_the_default_schedule_retries_for_a_day_at_least_eight_times_the_first_within_a_minute(seed):
    s, rng = WebhookSettings(), random.Random(seed)
    now, attempts, waits = T0, 0, []
    while True:
        attempts += 1  # this attempt failed
        if webhook_rules.gives_up(attempts, T0, now, s.retry_window, s.min_attempts):
            break
        waits.append(webhook_rules.backoff_seconds(attempts, s.backoff_base, s.backoff_max, rng))
        now += datetime.timedelta(seconds=waits[-1])
    assert waits[0] <= 60 and attempts >= 8
    assert (now - T0) >= datetime.timedelta(hours=24)
    assert (now - T0) < datetime.timedelta(hours=24) + datetime.timedelta(seconds=s.backoff_max)
    assert all(w <= s.backoff_max for w in waits)


def test_retry_after_takes_seconds_or_an_http_date():
    assert webhook_rules.retry_after_seconds("120", T0) == 120
    assert webhook_rules.retry_after_seconds("Mon, 13 Apr 2026 10:31:00 GMT", T0) == 60
    assert webhook_rules.retry_after_seconds("soon", T0) is None and webhook_rules.retry_after_seconds(None, T0) is None
    # A date past what a datetime holds, once moved to UTC: unreadable, not an error.
    assert webhook_rules.retry_after_seconds("Fri, 31 Dec 9999 23:59:59 -0100", T0) is None


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.0.1", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "public"),
        # IPv6 forms that lead to an IPv4 address are vetted as that address.
        ("::7f00:1", "loopback"),
        ("::ffff:0:7f00:1", "loopback"),
        ("2002:7f00:1::1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address, kind):
    assert kind in webhook_rules.address_refusal(address)


@pytest.mark.parametrize("address", ["1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address):
    assert webhook_rules.address_refusal(address) is None


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://hooks.example.com/a?b=c", True),
        ("http://[2606:4700::1111]:8080/x", True),
        ("ftp://example.com/", False),
        ("https:///x", False),
        ("https://u:p@example.com/", False),
        ("https://example.com:99999/", False),
        ("https://exa mple.com/", False),
        ("", False),
    ],
)
def test_url_shape(url, ok):
    v = Violations()
    webhook_rules.check_url(v, "url", url)
    assert (not v.items) == ok


def test_signatures_verify_with_standardwebhooks_and_both_secrets_sign_after_a_rotation():
    old, new = webhook_signing.new_secret(), webhook_signing.new_secret()
    assert old.startswith("whsec_") and old != new
    body = b'{"sequence":1,"type":"issue.created"}'
    headers = webhook_signing.headers("msg_1", int(time.time()), body, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Verifier(secret).verify(body, headers) == {"sequence": 1, "type": "issue.created"}
    with pytest.raises(WebhookVerificationError):
        Verifier(webhook_signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(new).verify(body + b" ", headers)

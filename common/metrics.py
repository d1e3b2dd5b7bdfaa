"""Prometheus metrics shared by the server and the gateway: the latency
buckets, and rendering `GET /metrics`.

Metrics live in prometheus_client's default registry, so with the gateway
in-process one scrape shows the server's and the gateway's. When
PROMETHEUS_MULTIPROC_DIR is set (`serve --workers N`: several processes), every
process writes its values to files there and a scrape adds up all the
processes' files instead; gauges declare how they add up for that.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "render"]

# The classic text format (0.0.4), which every Prometheus scraper reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Seconds. Most calls take about a millisecond, so the buckets start well below
# prometheus_client's default (5 ms), and end at the gateway's default deadline.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def render() -> bytes:
    """The text exposition of this process's metrics, or of every process's in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)

"""Database pool gauges, sampled once a second by a thread of the server.

Sampled rather than computed at scrape time: with several worker processes
the scrape runs in another process, which can only read what each worker
wrote (PROMETHEUS_MULTIPROC_DIR); so every worker writes its own figures.
"""

from __future__ import annotations

from prometheus_client import Gauge

from common.periodic import Periodic

from ..storage import pool

SAMPLE_SECONDS = 1.0

POOL_IN_USE = Gauge(
    "issues_db_pool_connections_in_use",
    "Database connections checked out of the pool now.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "issues_db_pool_connections_max",
    "The most connections the database pool opens.",
    multiprocess_mode="livesum",
)


class PoolSampler:
    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self._loop = Periodic("pool-metrics", interval, self.sample)

    def sample(self) -> None:
        in_use, size = pool.usage()
        POOL_IN_USE.set(in_use)
        POOL_SIZE.set(size)

    def start(self) -> None:
        self.sample()
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

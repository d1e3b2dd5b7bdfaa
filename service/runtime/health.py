"""The standard health service, kept in step with the database.

A background thread pings the database every `interval` seconds and sets the
overall status ("") and the IssueService's to SERVING or NOT_SERVING.
"""

from __future__ import annotations

import logging

from grpc_health.v1 import health_pb2

from common.periodic import Periodic

from ..storage.database import ping
from .tokenless_services import Health

log = logging.getLogger("service.health")


class DatabaseHealth:
    def __init__(self, services: list[str], interval: float = 2.0) -> None:
        self.servicer = Health(experimental_non_blocking=True)
        self._services = ["", *services]
        self._loop = Periodic("db-health", interval, self.check)
        self._serving: bool | None = None

    def start(self) -> None:
        self.check()
        self._loop.start()

    def check(self) -> bool:
        serving = ping()
        if serving != self._serving:
            status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in self._services:
                self.servicer.set(name, status)
            if self._serving is not None:
                log.warning("database %s", "reachable again" if serving else "unreachable")
            self._serving = serving
        return serving

    def shutdown(self) -> None:
        """Report NOT_SERVING from now on, so balancers drain this server."""
        self._loop.stop()
        self.servicer.enter_graceful_shutdown()

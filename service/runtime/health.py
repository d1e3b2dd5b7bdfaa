"""The standard health service, kept in step with the database.

A background thread pings the database every `interval` seconds and sets the
overall status ("") and the IssueService's to SERVING or NOT_SERVING.
"""

from __future__ import annotations

import logging
import threading

from grpc_health.v1 import health_pb2

from ..storage.database import ping
from .open_services import Health

log = logging.getLogger("service.health")


class DatabaseHealth:
    def __init__(self, services: list[str], interval: float = 2.0) -> None:
        self.servicer = Health(experimental_non_blocking=True)
        self._services = ["", *services]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-health", daemon=True)
        self._serving: bool | None = None

    def start(self) -> None:
        self.check()
        self._thread.start()

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

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.check()

    def shutdown(self) -> None:
        """Report NOT_SERVING from now on, so balancers drain this server."""
        self._stop.set()
        self.servicer.enter_graceful_shutdown()

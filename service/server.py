"""Assembling the gRPC server: servicer, interceptor, health and reflection."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass

import grpc
import peewee
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.descriptors import SERVICE
from issues.v1 import issue_service_pb2_grpc

from .blobs import BlobStore, open_store
from .config import Settings
from .health import DatabaseHealth
from .interceptors import CallInterceptor, required_roles
from .servicer import IssueService

log = logging.getLogger("service.server")


@dataclass
class RunningServer:
    grpc_server: grpc.Server
    port: int
    health: DatabaseHealth
    db: peewee.Database
    blobs: BlobStore

    def stop(self, grace: float) -> None:
        """Drain: NOT_SERVING first, then finish in-flight calls within `grace` seconds."""
        self.health.shutdown()
        self.grpc_server.stop(grace).wait()
        self.db.close_all()


def start(settings: Settings, db: peewee.Database) -> RunningServer:
    """Start serving on `settings.grpc_listen` (port 0 picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="rpc"),
        interceptors=[CallInterceptor(required_roles(SERVICE))],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    blobs = open_store(settings.blobs)
    issue_service_pb2_grpc.add_IssueServiceServicer_to_server(IssueService(blobs, settings.blobs), server)
    health = DatabaseHealth([SERVICE.full_name])
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    reflection.enable_server_reflection(
        (SERVICE.full_name, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    port = server.add_insecure_port(settings.grpc_listen)
    if port == 0:
        raise OSError(f"cannot listen on {settings.grpc_listen}")
    health.start()
    server.start()
    host = settings.grpc_listen.rsplit(":", 1)[0]
    log.info("serving grpc", extra={"grpc_listen": f"{host}:{port}"})
    return RunningServer(server, port, health, db, blobs)

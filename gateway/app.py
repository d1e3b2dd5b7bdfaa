"""The gateway as a Starlette application.

    app = build_app("127.0.0.1:50051")

Routes: the whole `issues.v1.IssueService` route table (one transcoding
route, raw-body blob streams included), plus `/healthz`, `/readyz`, `/metrics`
(Prometheus text, no token) and `/openapi.json`. Every error, 404 and
405 included, is answered in the error envelope. HEAD is GET without the
body, OPTIONS lists the allowed methods, CORS is on only for the origins
given, headers are bounded (limits.py), and JSON and text answers are
gzipped for clients that accept it (compression.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import AsyncIterator, Sequence

from google.protobuf.descriptor import ServiceDescriptor
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from common import metrics as prometheus_text
from common.descriptors import SERVICE

from .accesslog import AccessLog
from .compression import Compression
from .cors import Cors
from .errors import error_response, http_error
from .limits import HeaderLimits
from .metrics import observe_request
from .openapi import build_openapi
from .routing import RouteTable
from .transcoder import TranscodingRoute
from .transport import GrpcTransport, Transport, split_target

__all__ = ["SERVICE", "build_app"]

log = logging.getLogger("gateway")

# Polled by orchestrators every few seconds: logged only when they fail.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# How long closing the channel waits for in-flight calls at shutdown.
CHANNEL_CLOSE_GRACE_SECONDS = 5.0


def build_app(
    grpc_target: str,
    *,
    max_body_bytes: int = 1 << 20,
    max_upload_bytes: int = 512 << 20,
    service: ServiceDescriptor = SERVICE,
    cors_origins: Sequence[str] = (),
    transport: Transport | None = None,
) -> Starlette:
    """The gateway in front of the gRPC server at `grpc_target`, over one shared channel,
    or in front of `transport` when given (the server's in-process one: `serve`).

    `max_body_bytes` bounds JSON bodies, `max_upload_bytes` raw-body uploads.
    `service` is whose annotations make the routes: IssueService unless a test
    or another deployment says otherwise. `cors_origins`: the origins browsers
    may call from (`*` for any); none turns CORS off.
    """
    table = RouteTable.for_service(service)
    backend: Transport = transport if transport is not None else GrpcTransport(grpc_target)
    openapi_body = json.dumps(build_openapi(service, table), separators=(",", ":")).encode()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # With several servers behind it (`ipv4:A,B`), readiness asks each one on
    # a channel of its own: the gateway is ready when every one serves.
    targets = split_target(grpc_target) if transport is None else []
    health_backends: list[Transport] = [GrpcTransport(t) for t in targets] if len(targets) > 1 else [backend]

    async def readyz(request: Request) -> Response:
        problems = await asyncio.gather(*(b.not_serving() for b in health_backends))
        failing = [p for p in problems if p is not None]
        if len(health_backends) == 1 and failing:
            return error_response(http_error(503, failing[0]))
        if failing:
            return error_response(
                http_error(
                    503,
                    f"{len(failing)} of {len(health_backends)} servers are not serving: {'; '.join(sorted(set(failing)))}",
                )
            )
        if len(health_backends) > 1:
            return JSONResponse({"status": "serving", "servers": len(health_backends)})
        return JSONResponse({"status": "serving"})

    async def metrics(request: Request) -> Response:
        # Every metric of this process: the server's too when it runs the gateway in-process.
        return Response(prometheus_text.render(), media_type=prometheus_text.CONTENT_TYPE)

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    async def starlette_error(request: Request, exc: Exception) -> Response:
        # Starlette's own 404 (no route) and 405 (wrong method on a probe), in the envelope.
        assert isinstance(exc, HTTPException)
        message = str(exc.detail)
        if exc.status_code == 405 and request.method == "OPTIONS" and exc.headers and "Allow" in exc.headers:
            allowed = sorted({*(m.strip() for m in exc.headers["Allow"].split(",")), "OPTIONS"})
            return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
        if exc.status_code == 404:
            message = f"no route for {request.url.path}"
        elif exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
            message = f"{request.method} is not allowed here; allowed: {exc.headers['Allow']}"
        return error_response(http_error(exc.status_code, message, headers=exc.headers))

    async def internal_error(request: Request, exc: Exception) -> Response:
        return error_response(http_error(500, "internal error"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await backend.close(CHANNEL_CLOSE_GRACE_SECONDS)
        for health_backend in health_backends:
            if health_backend is not backend:
                await health_backend.close(0)

    own = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    transcoding = TranscodingRoute(table, backend, max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes)
    app = Starlette(
        routes=[*own, transcoding],
        middleware=[
            Middleware(AccessLog, quiet_paths=PROBE_PATHS, observers=[observe_request]),
            Middleware(Cors, origins=cors_origins),
            Middleware(HeaderLimits),
            Middleware(Compression),
            Middleware(ApiFirst, route=transcoding, others=frozenset(r.path for r in own)),
        ],
        exception_handlers={HTTPException: starlette_error, Exception: internal_error},
        lifespan=lifespan,
    )
    # An API path means one resource: `/api/v1/issues/` is a 404, not a redirect.
    app.router.redirect_slashes = False  # (ApiFirst never redirects either)
    app.state.backend = backend
    app.state.route_table = table
    return app


class ApiFirst:
    """API requests straight to the transcoding route, past Starlette's router
    and exception middleware (the route answers every error of its own in the
    envelope); the app's own paths, and paths no route knows, go on as before.
    Its own paths are exact, and they still come first."""

    def __init__(self, app: ASGIApp, route: TranscodingRoute, others: frozenset[str]) -> None:
        self.app = app
        self.route = route
        self.others = others

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.others:
            match, child = self.route.matches(scope)
            if match is not Match.NONE:
                scope.update(child)
                await self.route.handle(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""What happens around every IssueService call: authenticate the bearer token,
check the role the method's `required_role` option asks for, bind the
principal, map errors to statuses, and log one line.

Health and reflection pass straight through: they need no token.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import grpc
import peewee
from google.protobuf.descriptor import ServiceDescriptor
from grpc_status import rpc_status

from common import descriptors, logs

from . import auth
from .auth import PrincipalCache, Role
from .errors import PermissionDenied, ServiceError, Unauthenticated, Unavailable, internal_status
from .storage.database import DatabaseUnavailable, transaction

log = logging.getLogger("service.rpc")

_OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def required_roles(service: ServiceDescriptor) -> dict[str, Role | None]:
    """Full method name -> the role its `required_role` option names (None if unset)."""
    roles: dict[str, Role | None] = {}
    for method in service.methods:
        value = descriptors.required_role(method)
        roles[f"/{service.full_name}/{method.name}"] = Role(value) if value else None
    return roles


class CallInterceptor(grpc.ServerInterceptor):
    def __init__(self, roles: dict[str, Role | None], cache: PrincipalCache | None = None) -> None:
        self._roles = roles
        self._cache = cache or PrincipalCache()
        self._wrapped: dict[str, Any] = {}

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        # The wrapped handler depends only on the method: build it once.
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = continuation(details)
        if handler is None or method.startswith(_OPEN_PREFIXES) or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        required = self._roles.get(method)

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            principal = None
            try:
                principal = self._authenticate(context)
                # Fail closed: a method without a required_role option is refused.
                if required is None or principal.role < required:
                    needed = required.name.lower() if required else "an explicit role"
                    raise PermissionDenied(f"this call needs the {needed} role; the token has {principal.role.name.lower()}")
                bound = auth.bind(principal)
                try:
                    return behavior(request, context)
                finally:
                    auth.unbind(bound)
            except ServiceError as exc:
                code = exc.code
                context.abort_with_status(rpc_status.to_status(exc.to_status()))
            except DatabaseUnavailable:
                code = grpc.StatusCode.UNAVAILABLE
                error = Unavailable("the database is unavailable; retry later")
                context.abort_with_status(rpc_status.to_status(error.to_status()))
            except peewee.OperationalError:
                # A lock timeout or similar transient condition, not a bug.
                log.warning("database busy", exc_info=True, extra={"method": method})
                code = grpc.StatusCode.UNAVAILABLE
                error = Unavailable("the database is busy; retry later")
                context.abort_with_status(rpc_status.to_status(error.to_status()))
            except Exception:  # a bug: log it whole, tell the caller nothing
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error", extra={"method": method})
                context.abort_with_status(rpc_status.to_status(internal_status()))
            finally:
                logs.access_line(
                    log, "rpc", method=method, code=code.name,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    workspace=principal.workspace_slug if principal else None,
                )

        wrapped = grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = wrapped
        return wrapped

    def _authenticate(self, context: grpc.ServicerContext) -> auth.Principal:
        header = dict(context.invocation_metadata()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing credentials: send metadata 'authorization: Bearer <token>'")
        token = token.strip()
        principal = self._cache.get(token)
        if principal is None:
            principal = transaction(lambda: auth.lookup(token))
            if principal is None:
                raise Unauthenticated("the token is not valid")
            self._cache.put(token, principal)
        return principal

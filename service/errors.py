"""Errors the servicer raises, and their gRPC status with rich details.

Handlers raise these; the interceptor turns them into a google.rpc.Status
(carried in the `grpc-status-details-bin` trailer, which the gateway decodes).
Anything else that escapes a handler becomes INTERNAL with no detail.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2

from common.errors import FieldViolation, bad_request_any, summary


class ServiceError(Exception):
    """An error with a status code and a message meant for the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def to_status(self) -> status_pb2.Status:
        return status_pb2.Status(
            code=self.code.value[0], message=self.message, details=self.details()
        )


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = list(violations)
        super().__init__(summary(self.violations))

    def details(self) -> list[any_pb2.Any]:
        return [bad_request_any(self.violations)]


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


def internal_status() -> status_pb2.Status:
    """What a caller sees for a bug: no message from the exception, no trace."""
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")

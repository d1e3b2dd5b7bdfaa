"""The service's one exception hierarchy.

Use cases and rules raise these with a message meant for the caller; the
call pipeline (`service.api.pipeline`) turns them into gRPC statuses, with
`google.rpc.BadRequest` details for `InvalidArgument`. Anything else that
escapes is a bug and reaches the caller as a bare INTERNAL.
"""

from __future__ import annotations

from common.errors import FieldViolation, summary

__all__ = [
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "ServiceError",
    "Unauthenticated",
    "Unavailable",
    "Violations",
]


class ServiceError(Exception):
    """An error with a canonical status code name and a message for the caller."""

    code: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = list(violations)
        super().__init__(summary(self.violations))

    @classmethod
    def field(cls, field: str, description: str) -> "InvalidArgument":
        return cls([FieldViolation(field, description)])


class NotFound(ServiceError):
    code = "NOT_FOUND"


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    code = "PERMISSION_DENIED"


class FailedPrecondition(ServiceError):
    code = "FAILED_PRECONDITION"


class OutOfRange(ServiceError):
    """A cursor past what is kept (or there is): the caller must resync."""

    code = "OUT_OF_RANGE"


class ResourceExhausted(ServiceError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(ServiceError):
    code = "UNAVAILABLE"


class DeadlineExceeded(ServiceError):
    """The call's deadline passed while its work ran; nothing was committed."""

    code = "DEADLINE_EXCEEDED"

    def __init__(self, message: str = "the call's deadline passed before its work could finish; nothing was changed") -> None:
        super().__init__(message)


class Violations:
    """Collects field violations so that one answer can name all of them."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def check(self) -> None:
        """Raise InvalidArgument naming every violation collected, if any."""
        if self.items:
            raise InvalidArgument(self.items)

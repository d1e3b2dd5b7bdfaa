"""The service's one exception hierarchy.

Use cases and rules raise these with a message meant for the caller; the
call pipeline (`service.api.pipeline`) turns them into gRPC statuses, with
`google.rpc.BadRequest` details for `InvalidArgument` and a
`google.rpc.ErrorInfo` for an error with a `reason` (so that a client can
tell a stale etag from another failed precondition without reading the
message). Anything else that escapes is a bug and reaches the caller as a
bare INTERNAL.
"""

from __future__ import annotations

from common.errors import FieldViolation, summary

__all__ = [
    "AlreadyExists",
    "DeadlineExceeded",
    "EtagMismatch",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "RequestIdReused",
    "ResourceExhausted",
    "ServiceError",
    "Unauthenticated",
    "Unavailable",
    "Violations",
]


class ServiceError(Exception):
    """An error with a canonical status code name and a message for the caller.

    `reason` (UPPER_SNAKE_CASE), when set, is sent as a `google.rpc.ErrorInfo`
    with `metadata`: what a program may branch on.
    """

    code: str = "INTERNAL"
    reason: str | None = None

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = dict(metadata or {})


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = list(violations)
        super().__init__(summary(self.violations))

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(ServiceError):
    code = "NOT_FOUND"


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    code = "PERMISSION_DENIED"


class FailedPrecondition(ServiceError):
    code = "FAILED_PRECONDITION"


class EtagMismatch(FailedPrecondition):
    """The caller's etag (If-Match) is not the resource's current one: it changed since it was read."""

    reason = "ETAG_MISMATCH"

    def __init__(self, resource: str) -> None:
        super().__init__(
            f"{resource} has changed since the etag given was read; read it again and retry",
            metadata={"resource": resource},
        )


class AlreadyExists(ServiceError):
    code = "ALREADY_EXISTS"


class RequestIdReused(AlreadyExists):
    """A request_id (Idempotency-Key) sent before with a different request."""

    reason = "REQUEST_ID_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "request_id: was used in the last 24 hours with a different request; use a new one for a new request",
            metadata={"field": "request_id"},
        )


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

    def __init__(
        self, message: str = "the call's deadline passed before its work could finish; nothing was changed"
    ) -> None:
        super().__init__(message)


class Violations:
    """Collects field violations so that one answer can name all of them."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []
        self._prefix = ""

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(self._prefix + field, description))

    def within(self, name: str) -> Violations:
        """The violations of the message in field `name`: added here, named `name.field`."""
        inner = Violations()
        inner.items = self.items
        inner._prefix = f"{self._prefix}{name}."
        return inner

    def check(self) -> None:
        """Raise InvalidArgument naming every violation collected, if any."""
        if self.items:
            raise InvalidArgument(self.items)

"""The contract as descriptors: the service, and the options declared on it.

Authorization (`required_role`), HTTP success codes (`http_success_code`) and
required request fields (`google.api.field_behavior`) are written beside each
RPC and field in the protos; everything that acts on them reads them here.
"""

from __future__ import annotations

from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor

from issues.v1 import issue_service_pb2, options_pb2

__all__ = [
    "SERVICE",
    "full_method_name",
    "http_success_code",
    "is_output_only",
    "is_required",
    "required_role",
]

SERVICE: ServiceDescriptor = issue_service_pb2.DESCRIPTOR.services_by_name["IssueService"]


def full_method_name(method: MethodDescriptor) -> str:
    """`/issues.v1.IssueService/GetIssue`, as gRPC names a call."""
    return f"/{method.containing_service.full_name}/{method.name}"


def required_role(method: MethodDescriptor) -> int:
    """The `issues.v1.Role` number the method's `required_role` option names; 0 when unset."""
    return method.GetOptions().Extensions[options_pb2.required_role]


def http_success_code(method: MethodDescriptor) -> int:
    """The HTTP status of success the method declares; 0 when unset (the gateway's 200)."""
    return method.GetOptions().Extensions[options_pb2.http_success_code]


def _behaviors(field: FieldDescriptor) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_required(field: FieldDescriptor) -> bool:
    return field_behavior_pb2.REQUIRED in _behaviors(field)


def is_output_only(field: FieldDescriptor) -> bool:
    return field_behavior_pb2.OUTPUT_ONLY in _behaviors(field)

"""gRPC status -> HTTP status and the error envelope (no server needed)."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gateway.codec import FieldViolation, InvalidJson
from gateway.errors import (
    HTTP_STATUS,
    STATUS_FOR_HTTP,
    GatewayError,
    bad_request,
    error_response,
    from_rpc_error,
    http_error,
)

EXPECTED = {
    "OK": 200,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 412,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
}


class FakeRpcError(grpc.RpcError):
    """What a failed grpc.aio call raises, as far as the gateway looks at it."""

    def __init__(self, code: grpc.StatusCode, message: str, status: status_pb2.Status | None = None) -> None:
        self._code, self._message = code, message
        self._trailers = (("grpc-status-details-bin", status.SerializeToString()),) if status else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self):
        return self._trailers


def packed(message) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(message)
    return out


def test_one_table_covers_every_grpc_code():
    assert {code.name: status for code, status in HTTP_STATUS.items()} == EXPECTED
    assert set(HTTP_STATUS) == set(grpc.StatusCode)


@pytest.mark.parametrize("code", list(grpc.StatusCode)[1:], ids=lambda c: c.name)
def test_every_failed_call_maps_through_the_table(code):
    error = from_rpc_error(FakeRpcError(code, "boom"))
    # 500s say nothing of what broke; everything else keeps the service's message.
    expected_message = "internal error" if HTTP_STATUS[code] == 500 else "boom"
    assert (error.http_status, error.status, error.message) == (HTTP_STATUS[code], code.name, expected_message)


def test_bad_request_details_are_decoded_from_the_rich_status():
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="title", description="is required"),
            error_details_pb2.BadRequest.FieldViolation(field="tags[2]", description="must not be blank"),
        ]
    )
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="title: is required (and 1 more)", details=[packed(bad)]
    )
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, status.message, status))
    assert error.envelope() == {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "title: is required (and 1 more)",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "field_violations": [
                        {"field": "title", "description": "is required"},
                        {"field": "tags[2]", "description": "must not be blank"},
                    ],
                }
            ],
        }
    }


def test_other_known_detail_types_are_rendered_in_the_same_style():
    info = error_details_pb2.ErrorInfo(reason="QUOTA", domain="issues", metadata={"k": "v"})
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down", details=[packed(info)])
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", status))
    assert error.http_status == 429
    assert error.details == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "QUOTA",
            "domain": "issues",
            "metadata": {"k": "v"},
        }
    ]


def test_unknown_detail_types_keep_only_their_type():
    unknown = any_pb2.Any(type_url="type.googleapis.com/acme.Secret", value=b"\x01")
    status = status_pb2.Status(code=code_pb2.ABORTED, message="conflict", details=[unknown])
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.ABORTED, "conflict", status))
    assert error.details == [{"@type": "type.googleapis.com/acme.Secret"}]


def test_a_trailer_that_disagrees_with_the_call_is_ignored():
    status = status_pb2.Status(code=code_pb2.NOT_FOUND, message="other")
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "mine", status))
    assert (error.http_status, error.message, error.details) == (400, "mine", [])


def test_channel_failures_do_not_leak_addresses():
    message = "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.7:50051: Connection refused"
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, message))
    assert error.http_status == 503
    assert "10.0.0.7" not in error.message


def test_401_carries_www_authenticate():
    response = error_response(from_rpc_error(FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "the token is not valid")))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body)["error"]["status"] == "UNAUTHENTICATED"


def test_gateway_made_bad_requests_use_the_same_detail_shape():
    error = bad_request(InvalidJson([FieldViolation("colour", "is not a known field")]))
    assert error.envelope()["error"] == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": "colour: is not a known field",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": "colour", "description": "is not a known field"}],
            }
        ],
    }


def test_custom_headers_survive():
    response = error_response(GatewayError(405, "UNIMPLEMENTED", "no", headers={"Allow": "GET"}))
    assert response.headers["allow"] == "GET"
    assert "www-authenticate" not in response.headers


def test_errors_made_over_http_take_the_nearest_canonical_code():
    assert http_error(413, "too big").envelope()["error"] == {
        "code": 413,
        "status": "RESOURCE_EXHAUSTED",
        "message": "too big",
        "details": [],
    }
    assert http_error(405, "no", headers={"Allow": "GET"}).headers == {"Allow": "GET"}
    assert http_error(401, "who").headers == {"WWW-Authenticate": "Bearer"}
    # Every gRPC-derived status has a name for its way back, so no envelope says UNKNOWN.
    assert set(HTTP_STATUS.values()) - {200} <= set(STATUS_FOR_HTTP)


def test_http_errors_can_name_a_field():
    error = http_error(400, "must match the declared size", field="size_bytes")
    assert error.details == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": [{"field": "size_bytes", "description": "must match the declared size"}],
        }
    ]

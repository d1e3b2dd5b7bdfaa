"""Raw HTTP bodies over gRPC (`google.api.HttpBody`): the rules server and gateway share.

- Upload: a client-streaming method whose HTTP rule's `body` names an
  HttpBody field receives the request body as a stream of messages, each
  carrying at most CHUNK_BYTES in that field; the path and query fields are
  set on the first message only (which is sent even for an empty body).
  The server sends initial metadata with ACCEPTED once it accepts the first
  message, or ends the call to refuse it; the gateway sends the rest only
  then. Past
  that point the server reads the stream to its end before it answers, even
  when it already knows the answer, because a call ended while the client is
  still writing reaches the client as a bare INTERNAL, not its status.
- Download: a server-streaming method returning HttpBody is answered with
  the bytes of every message in turn, and the first message's content_type
  as the Content-Type.
- Response headers: initial metadata `http-header-<name>` is answered as the
  HTTP header `<name>` (Content-Disposition, Content-Length). gRPC metadata
  is printable ASCII, so such values must be too.
"""

from __future__ import annotations

from typing import Iterable, Mapping

HTTP_BODY = "google.api.HttpBody"
# Small enough that neither side ever holds much of a large body.
CHUNK_BYTES = 64 << 10
HEADER_PREFIX = "http-header-"
# An upload's first message is accepted: send the rest.
ACCEPTED = ("http-body-accepted", "1")


def header_metadata(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The initial metadata that makes the gateway answer with `headers`."""
    return tuple((HEADER_PREFIX + name.lower(), value) for name, value in headers.items())


def headers_from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    """The HTTP headers that initial metadata asks for."""
    return {
        key[len(HEADER_PREFIX) :]: value
        for key, value in metadata
        if key.startswith(HEADER_PREFIX) and isinstance(value, str)
    }

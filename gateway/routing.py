"""The route table, read from the `google.api.http` annotations of a service.

Nothing here is written per route: every method of the service that carries an
HTTP rule (and its `additional_bindings`) becomes a `Binding`, and a new
annotated RPC gets its route with no change to this code.

Resolution works like grpc-gateway's: first find the resource (the path
template that matches, where a literal segment beats a variable at the first
position they differ, so `/issues/metrics` is never read as an issue id), then
the method on it. A known path with the wrong method is a 405, not a 404.

A template may end in a custom verb (AIP-136: `/api/v1/issues:bulkUpdate`,
the annotation's `Verb = ":" LITERAL`): the request path's last segment must
then end in that verb, and a template with a verb is tried before one
without, so `/issues/{issue_id}:archive` would never be read as an issue id.

A server-streaming method of messages (not raw bytes) is an event stream,
served as Server-Sent Events: it may share its verb and path with a unary
method (WatchEvents and ListEvents on `GET /api/v1/events`), and the
client's `Accept: text/event-stream` picks the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

from common.descriptors import http_success_code, update_mask_field

from .headers import ALSO_IN_BODY, request_headers

__all__ = ["Binding", "PathTemplate", "Resolution", "RouteTable", "bindings", "request_field"]

_VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:=\*)?\}$")
_LITERAL = re.compile(r"^[^{}*:]+$")
_VERB = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class PathTemplate:
    """A parsed `/api/v1/issues/{issue_id}`: literal segments and `{field}`
    variables, and maybe a custom verb after the last (`:bulkUpdate`).

    Only single-segment variables are supported (`{x}` and `{x=*}`); anything
    else in an annotation fails when the table is built, not at request time.
    """

    text: str
    # One entry per segment: the literal text, or None where a variable sits.
    literals: tuple[str | None, ...]
    # (segment index, dotted request field path) for every variable.
    variables: tuple[tuple[int, str], ...]
    # The custom verb the path ends in, without its ':'; None for a standard method.
    verb: str | None = None

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        if not text.startswith("/") or text == "/":
            raise ValueError(f"path template {text!r} must start with '/' and name a resource")
        segments = text[1:].split("/")
        verb = None
        if ":" in segments[-1] and not segments[-1].endswith("}"):
            segments[-1], verb = segments[-1].rsplit(":", 1)
            if not _VERB.match(verb):
                raise ValueError(f"path template {text!r}: unsupported custom verb {verb!r}")
        literals: list[str | None] = []
        variables: list[tuple[int, str]] = []
        for index, segment in enumerate(segments):
            if (m := _VARIABLE.match(segment)) is not None:
                literals.append(None)
                variables.append((index, m.group(1)))
            elif _LITERAL.match(segment):
                literals.append(segment)
            else:
                raise ValueError(f"path template {text!r}: unsupported segment {segment!r}")
        return cls(text, tuple(literals), tuple(variables), verb)

    @property
    def specificity(self) -> tuple[int, ...]:
        # Compared lexicographically: a custom verb first, then a literal (1)
        # beats a variable (0) at the first position where two templates of
        # the same length differ.
        return (self.verb is not None, *(0 if lit is None else 1 for lit in self.literals))

    @property
    def variable_fields(self) -> frozenset[str]:
        return frozenset(path for _, path in self.variables)

    def match(self, segments: list[str], raw_last: str = "") -> dict[str, str] | None:
        """Field path -> value for the (already percent-decoded) segments, or
        None. `raw_last` is the last segment still percent-encoded: a verb is
        split from it there, so an encoded ':' stays inside a variable."""
        if len(segments) != len(self.literals):
            return None
        if self.verb is not None:
            suffix = ":" + self.verb
            if not raw_last.endswith(suffix):
                return None
            segments = [*segments[:-1], unquote(raw_last[: -len(suffix)])]
        for literal, segment in zip(self.literals, segments):
            if literal is None:
                if not segment:  # `/issues/` is not the issue with an empty id
                    return None
            elif literal != segment:
                return None
        return {path: segments[index] for index, path in self.variables}


@dataclass(frozen=True)
class Binding:
    """One HTTP verb and path bound to one RPC."""

    method: MethodDescriptor
    verb: str  # upper case: "GET", "PATCH", ...
    template: PathTemplate
    # "" (no body: the remaining fields come from the query), "*" (the whole
    # request except path variables), or the name of one request field.
    body: str
    # "" for the whole response, else the response field to answer with.
    response_body: str
    success_code: int

    @property
    def event_stream(self) -> bool:
        """A server-streaming method of messages: served as Server-Sent Events."""
        m = self.method
        return m.server_streaming and not m.client_streaming and m.output_type.full_name != "google.api.HttpBody"

    @property
    def full_method(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def query_fields(self) -> tuple[FieldDescriptor, ...]:
        """Top-level request fields that may come from the query string."""
        if self.body == "*":
            return ()
        taken = self.path_fields | {self.body} | set(self.header_fields)
        return tuple(f for f in self.method.input_type.fields if f.name not in taken)

    @property
    def path_fields(self) -> frozenset[str]:
        """Top-level request fields the path sets."""
        return frozenset(path.split(".")[0] for path in self.template.variable_fields)

    @property
    def header_fields(self) -> dict[str, str]:
        """Request field -> the header that sets it (headers.py: Idempotency-Key, If-Match)."""
        return request_headers(self.method.input_type)

    @property
    def body_skip(self) -> frozenset[str]:
        """Keys a `*` body may not carry: the path and the header-only fields
        (If-Match's etag) set them, and the body's keys make the update mask."""
        mask = self.update_mask_field
        header_only = set(self.header_fields) - ALSO_IN_BODY
        return self.path_fields | header_only | ({mask.name} if mask is not None else set())

    @property
    def update_mask_field(self) -> FieldDescriptor | None:
        """The request's FieldMask that a PATCH body's keys fill in (AIP-134), if any."""
        if self.verb != "PATCH" or self.body != "*":
            return None
        return update_mask_field(self.method.input_type)


@dataclass(frozen=True)
class Resolution:
    """What a request path resolved to.

    `binding` is None when the path names a known resource but no binding has
    the request's method; `allowed` then lists the methods that would work.
    """

    binding: Binding | None
    path_params: dict[str, str]
    allowed: tuple[str, ...]
    # The event stream bound to the same verb and path, if any (for `Accept: text/event-stream`).
    stream: Binding | None = None
    # The resource's path template as annotated (`/api/v1/issues/{issue_id}`).
    template: str = ""


@dataclass
class _Resource:
    template: PathTemplate
    by_verb: dict[str, Binding] = field(default_factory=dict)
    streams: dict[str, Binding] = field(default_factory=dict)


def bindings(service: ServiceDescriptor) -> list[Binding]:
    """Every HTTP binding of every annotated method of `service`, in declaration order."""
    out: list[Binding] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        success = http_success_code(method)
        for r in (rule, *rule.additional_bindings):
            out.append(_binding(method, r, success))
    return out


def _binding(method: MethodDescriptor, rule: http_pb2.HttpRule, success: int) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind in _VERBS:
        verb, path = kind.upper(), getattr(rule, kind)
    elif kind == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    else:
        raise ValueError(f"{method.full_name}: http rule has no pattern")
    template = PathTemplate.parse(path)
    for _, field_path in template.variables:
        request_field(method, field_path)
    if rule.body not in ("", "*"):
        request_field(method, rule.body)
    if rule.response_body and rule.response_body not in method.output_type.fields_by_name:
        raise ValueError(f"{method.full_name}: response_body {rule.response_body!r} is not a response field")
    if not success:
        # An Empty response has nothing to say: 204 unless the rule says otherwise.
        success = 204 if method.output_type.full_name == "google.protobuf.Empty" else 200
    return Binding(method, verb, template, rule.body, rule.response_body, success)


def request_field(method: MethodDescriptor, dotted: str) -> FieldDescriptor:
    """The request field a dotted path (`issue_id`, `issue.id`) names; ValueError if none."""
    message: Descriptor | None = method.input_type
    found: FieldDescriptor | None = None
    for part in dotted.split("."):
        if message is None or part not in message.fields_by_name:
            raise ValueError(f"{method.full_name}: {dotted!r} is not a request field")
        found = message.fields_by_name[part]
        message = found.message_type
    assert found is not None
    return found


class RouteTable:
    """Bindings grouped by path template, most specific template first."""

    def __init__(self, all_bindings: Iterable[Binding]) -> None:
        self.bindings = list(all_bindings)
        resources: dict[tuple[tuple[str | None, ...], str | None], _Resource] = {}
        for b in self.bindings:
            resource = resources.setdefault((b.template.literals, b.template.verb), _Resource(b.template))
            # One unary (or raw-body) method and one event stream per verb and path.
            slot = resource.streams if b.event_stream else resource.by_verb
            if b.verb in slot:
                other = slot[b.verb].method.full_name
                raise ValueError(f"{b.verb} {b.template.text} is bound twice ({other}, {b.method.full_name})")
            if b.template.variables != resource.template.variables:
                raise ValueError(f"{b.template.text} and {resource.template.text} name different variables")
            slot[b.verb] = b
        by_length: dict[int, list[_Resource]] = {}
        for r in resources.values():
            by_length.setdefault(len(r.template.literals), []).append(r)
        for group in by_length.values():
            group.sort(key=lambda r: r.template.specificity, reverse=True)
        self._by_length = by_length

    def templates(self) -> list[PathTemplate]:
        """One template per resource (path), in no particular order."""
        return [r.template for group in self._by_length.values() for r in group]

    @classmethod
    def for_service(cls, service: ServiceDescriptor) -> RouteTable:
        return cls(bindings(service))

    def resolve(self, verb: str, raw_path: str) -> Resolution | None:
        """The binding for `verb` on `raw_path` (still percent-encoded), or None if no resource matches."""
        if not raw_path.startswith("/"):
            return None
        # Split before decoding, so that an encoded '/' stays inside its segment.
        raw = raw_path[1:].split("/")
        segments = [unquote(s) for s in raw]
        for resource in self._by_length.get(len(segments), ()):
            params = resource.template.match(segments, raw[-1])
            if params is None:
                continue
            # HEAD is GET without the body (RFC 9110 9.3.2); OPTIONS lists what works.
            wanted = "GET" if verb == "HEAD" else verb
            stream = resource.streams.get(wanted)
            binding = resource.by_verb.get(wanted, stream)
            verbs = {*resource.by_verb, *resource.streams}
            allowed = {*verbs, "OPTIONS", *(("HEAD",) if "GET" in verbs else ())}
            return Resolution(binding, params, tuple(sorted(allowed)), stream, resource.template.text)
        return None

"""Turning request messages into the values the use cases take.

Every problem is reported with the field it is in, all of them at once.
Create and update requests carry the same issue fields under the same names,
so `issue_values` parses either: it returns the stored values for the fields
named, and treats a named field that is unset as "clear it".
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, Callable, Iterable

from google.protobuf.message import Message

from common.descriptors import field_rules
from common.enums import enum_names
from issues.v1 import issue_pb2, issue_service_pb2 as pb

from ..app.request_ids import RequestId
from ..domain import workflow
from ..domain.errors import InvalidArgument, Violations
from ..domain.identifiers import IssueRef, parse_issue_ref, parse_uuid
from ..domain.limits import (
    BULK_IDS_MAX,
    COMMENT_MAX,
    FILE_NAME_MAX,
    ISSUE_ATTACHMENTS_MAX,
    PAGE_MAX,
    SESSIONS_MAX,
    SHORT_MAX,
    TAG_MAX,
    TAGS_MAX,
    TEXT_MAX,
    TITLE_MAX,
)
from ..domain.relations import REFS_MAX, check_refs, parse_ref_filter
from . import content
from .pipeline import encode


def declared(message: Any, field: str) -> re.Pattern[str]:
    """The pattern the contract declares on a request field (`issues.v1.rules`):
    the server checks exactly what the OpenAPI document promises."""
    (pattern,) = field_rules(message.DESCRIPTOR.fields_by_name[field]).patterns
    return re.compile(pattern)


FILE_TYPE = declared(pb.AddIssueFileRequest, "file_type")
CONTENT_TYPE = declared(pb.CreateAttachmentRequest, "content_type")
SHA256 = declared(pb.CreateAttachmentRequest, "sha256")
# The same on every create that takes one.
REQUEST_ID = declared(pb.CreateIssueRequest, "request_id")
REQUEST_ID_MAX = field_rules(pb.CreateIssueRequest.DESCRIPTOR.fields_by_name["request_id"]).max_length

# Issue fields a request may set; also the valid update_mask paths.
ISSUE_FIELDS = (
    "title",
    "description",
    "status",
    "priority",
    "tags",
    "owner",
    "resolution_summary",
    "attachment_ids",
    "session_ids",
    "job_run_id",
    "parent_id",
    "refs",
)


# Statuses and priorities are stored under their contract names, by the same
# rule the gateway prints them with (STATUS_IN_PROGRESS -> in_progress).
STATUS_NAMES = enum_names(issue_pb2.Issue.Status.DESCRIPTOR)
PRIORITY_NAMES = enum_names(issue_pb2.Issue.Priority.DESCRIPTOR)


def page(v: Violations, request: Message, *, default_limit: int, max_limit: int = PAGE_MAX) -> tuple[int, int]:
    """(limit, offset) from optional `limit` and `offset` fields (a request
    without `offset`, paged by token alone, has offset 0)."""
    limit = request.limit if request.HasField("limit") else default_limit
    offset = request.offset if _has(request, "offset") else 0
    if not 1 <= limit <= max_limit:
        v.add("limit", f"must be between 1 and {max_limit}, got {limit}")
    if offset < 0:
        v.add("offset", f"must be 0 or more, got {offset}")
    return limit, offset


def _has(request: Message, name: str) -> bool:
    return name in request.DESCRIPTOR.fields_by_name and request.HasField(name)


def enum_value(v: Violations, field: str, value: int, names: dict[int, str]) -> str | None:
    if value in names:
        return names[value]
    v.add(field, f"must be one of {', '.join(names.values())}")
    return None


def text(v: Violations, field: str, value: str, *, max_len: int, allow_blank: bool = False) -> str:
    if not allow_blank and not value.strip():
        v.add(field, "must not be blank")
    elif len(value) > max_len:
        v.add(field, f"must be at most {max_len} characters, got {len(value)}")
    elif "\x00" in value:
        # PostgreSQL cannot store NUL in text; refuse it on every backend alike.
        v.add(field, "must not contain NUL characters")
    return value


def file_name(v: Violations, field: str, value: str) -> None:
    if not value.strip():
        v.add(field, "must not be blank")
    elif len(value) > FILE_NAME_MAX:
        v.add(field, f"must be at most {FILE_NAME_MAX} characters, got {len(value)}")
    elif any(c in value for c in "/\\\0"):
        v.add(field, "must not contain slashes or NUL")


def uuid_list(v: Violations, field: str, values: Iterable[str], *, max_items: int) -> list[uuid.UUID]:
    values = list(values)
    if len(values) > max_items:
        v.add(field, f"must have at most {max_items} items, got {len(values)}")
        return []
    parsed = [parse_uuid(v, f"{field}[{i}]", value) for i, value in enumerate(values)]
    unique: dict[uuid.UUID, None] = {}
    for item in parsed:
        if item is not None:
            unique[item] = None
    return list(unique)


def issue_values(
    request: Message, names: Iterable[str], *, creating: bool, v: Violations | None = None
) -> dict[str, Any]:
    """Validated storage values for the issue fields `names` of a create or update request.

    Raises InvalidArgument naming every bad field; given `v`, adds to it
    instead and leaves the raising to the caller. `attachment_ids` come back
    as UUIDs; whether they exist is checked against storage by the caller.
    """
    checking = v is None
    v = v if v is not None else Violations()
    out: dict[str, Any] = {}

    def present(name: str) -> bool:
        # Create requests carry `title` without presence; update requests with it.
        if request.DESCRIPTOR.fields_by_name[name].has_presence:
            return request.HasField(name)
        return bool(getattr(request, name))

    for name in names:
        if name == "title":
            value = request.title if present("title") else ""
            if not value:
                v.add("title", "is required")
            else:
                out["title"] = text(v, "title", value, max_len=TITLE_MAX)
        elif name == "description":
            out["description"] = content.blocks(v, "description", request.description)
        elif name == "status":
            if creating and request.status == 0:
                out["status"] = workflow.DEFAULT_STATUS
            else:
                out["status"] = enum_value(v, "status", request.status, STATUS_NAMES)
        elif name == "priority":
            if creating and request.priority == 0:
                out["priority"] = workflow.DEFAULT_PRIORITY
            else:
                out["priority"] = enum_value(v, "priority", request.priority, PRIORITY_NAMES)
        elif name == "tags":
            tags = list(request.tags)
            if len(tags) > TAGS_MAX:
                v.add("tags", f"must have at most {TAGS_MAX} items, got {len(tags)}")
            for i, tag in enumerate(tags):
                text(v, f"tags[{i}]", tag, max_len=TAG_MAX)
            out["tags"] = tags
        elif name == "owner":
            if present("owner"):
                out["owner"] = text(v, "owner", request.owner, max_len=SHORT_MAX)
            else:
                out["owner"] = workflow.UNASSIGNED
        elif name in ("resolution_summary", "job_run_id"):
            if present(name):
                limit = TEXT_MAX if name == "resolution_summary" else SHORT_MAX
                out[name] = text(v, name, getattr(request, name), max_len=limit)
            else:
                out[name] = None
        elif name == "attachment_ids":
            out["attachment_ids"] = uuid_list(
                v, "attachment_ids", request.attachment_ids, max_items=ISSUE_ATTACHMENTS_MAX
            )
        elif name == "session_ids":
            out["session_ids"] = [
                str(u) for u in uuid_list(v, "session_ids", request.session_ids, max_items=SESSIONS_MAX)
            ]
        elif name == "parent_id":
            # Unset: none on a create, detach on an update that names it.
            if present("parent_id"):
                out["parent_id"] = parse_issue_ref(v, "parent_id", request.parent_id)
            elif not creating:
                out["parent_id"] = None
        elif name == "refs":
            out["refs"] = check_refs(v, "refs", request.refs)
        else:
            v.add("update_mask", f"{name!r} is not a field that can be set")
    if checking:
        v.check()
    return out


def update_paths(request: Message, fields: tuple[str, ...]) -> list[str]:
    """The fields an update request changes (AIP-134): InvalidArgument when
    its mask names another field, or it changes none."""
    v = Violations()
    paths = mask_paths(v, request, fields)
    v.check()
    if not paths:
        raise InvalidArgument.field("update_mask", "names no field to update")
    return paths


def mask_paths(v: Violations, request: Message, fields: tuple[str, ...]) -> list[str] | None:
    """The fields `request` changes: its mask, which must name only `fields`
    (None, and each other field added to `v`, when it does not), or, with an
    empty mask, every one of `fields` set in the request (maybe none)."""
    paths = list(dict.fromkeys(request.update_mask.paths))
    if paths:
        wrong = [path for path in paths if path not in fields]
        for path in wrong:
            v.add("update_mask", f"{path!r} is not a field that can be updated")
        return None if wrong else paths
    inferred = []
    for name in fields:
        descriptor = request.DESCRIPTOR.fields_by_name[name]
        if descriptor.is_repeated:
            if len(getattr(request, name)):
                inferred.append(name)
        elif descriptor.has_presence:
            if request.HasField(name):
                inferred.append(name)
        elif getattr(request, name):
            inferred.append(name)
    return inferred


def request_id(v: Violations, request: Message, response: Callable[[Any], Message]) -> RequestId | None:
    """A create's `request_id`, if it has one, with the fingerprint a repeat
    must match (a hash of the whole request but the id) and `response`, how
    the caller's answer is made from the command's result (stored for repeats)."""
    key = request.request_id
    if not key:
        return None
    assert REQUEST_ID_MAX is not None
    if len(key) > REQUEST_ID_MAX or not REQUEST_ID.match(key):
        v.add(
            "request_id",
            f"must be 1 to {REQUEST_ID_MAX} printable ASCII characters without spaces, "
            "such as a UUID (over HTTP, the Idempotency-Key header)",
        )
        return None
    rest = type(request)()
    rest.CopyFrom(request)
    rest.ClearField("request_id")
    digest = hashlib.sha256(request.DESCRIPTOR.full_name.encode() + b"\0" + rest.SerializeToString(deterministic=True))
    # Stored as the pipeline encodes the live answer: a replay is the first one byte for byte.
    return RequestId(key, digest.hexdigest(), lambda result: encode(response(result)))


# What a bulk update may change (IssueUpdates' fields, by UpdateIssue's rules).
BULK_FIELDS = ("status", "priority", "owner", "tags", "parent_id")


def bulk_update(request: pb.BulkUpdateIssuesRequest) -> tuple[list[IssueRef], dict[str, Any]]:
    """The issues of a bulk update and the values to set on each, every problem named at once."""
    v = Violations()
    ids = list(request.ids)
    if not 1 <= len(ids) <= BULK_IDS_MAX:
        v.add("ids", f"must have 1 to {BULK_IDS_MAX} items, got {len(ids)}")
    refs = [parse_issue_ref(v, f"ids[{i}]", value) for i, value in enumerate(ids[: BULK_IDS_MAX + 1])]
    values: dict[str, Any] = {}
    if not request.HasField("updates"):
        v.add("updates", "is required")
    else:
        paths = mask_paths(v.within("updates"), request.updates, BULK_FIELDS)
        if paths:
            values = issue_values(request.updates, paths, creating=False, v=v.within("updates"))
        elif paths is not None:
            v.add("updates", f"must change at least one of {', '.join(BULK_FIELDS)}")
    v.check()
    return [r for r in refs if r is not None], values


def enum_filter(v: Violations, field: str, values: Iterable[int], names: dict[int, str]) -> list[str]:
    """A repeated enum filter as sorted distinct names (`status[1]` named when bad)."""
    out = []
    for i, value in enumerate(values):
        name = enum_value(v, f"{field}[{i}]", value, names)
        if name:
            out.append(name)
    return sorted(set(out))


def comment_ids(request: Message) -> tuple[IssueRef, uuid.UUID]:
    """The issue and comment ids of a comment request, both checked at once."""
    v = Violations()
    issue = parse_issue_ref(v, "issue_id", request.issue_id)
    comment_id = parse_uuid(v, "comment_id", request.comment_id)
    v.check()
    assert issue is not None and comment_id is not None
    return issue, comment_id


def initial_comment(v: Violations, request: Message) -> str | None:
    """CreateIssue's optional first comment, by a comment's rules, named `comment`."""
    if not request.HasField("comment"):
        return None
    return text(v, "comment", request.comment, max_len=COMMENT_MAX)


def ref_filters(v: Violations, pairs: Iterable[str]) -> list[tuple[str, str]]:
    pairs = list(pairs)
    if len(pairs) > REFS_MAX:
        v.add("ref", f"must have at most {REFS_MAX} pairs, got {len(pairs)}")
        return []
    parsed = [parse_ref_filter(v, f"ref[{i}]", pair) for i, pair in enumerate(pairs)]
    return sorted({p for p in parsed if p is not None})

import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from issues.v1 import attachment_pb2 as _attachment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Issue(_message.Message):
    __slots__ = ("uuid", "title", "description", "status", "priority", "tags", "owner", "resolution_summary", "created_by", "created_at", "sessions", "attachments", "session_attachments", "job_run_id", "updated_at", "number", "identifier", "resolved_at", "parent_id", "sub_issues_count", "refs", "etag")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Issue.Status]
        STATUS_OPEN: _ClassVar[Issue.Status]
        STATUS_IN_PROGRESS: _ClassVar[Issue.Status]
        STATUS_RESOLVED: _ClassVar[Issue.Status]
        STATUS_REJECTED: _ClassVar[Issue.Status]
    STATUS_UNSPECIFIED: Issue.Status
    STATUS_OPEN: Issue.Status
    STATUS_IN_PROGRESS: Issue.Status
    STATUS_RESOLVED: Issue.Status
    STATUS_REJECTED: Issue.Status
    class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PRIORITY_UNSPECIFIED: _ClassVar[Issue.Priority]
        PRIORITY_LOW: _ClassVar[Issue.Priority]
        PRIORITY_MEDIUM: _ClassVar[Issue.Priority]
        PRIORITY_HIGH: _ClassVar[Issue.Priority]
    PRIORITY_UNSPECIFIED: Issue.Priority
    PRIORITY_LOW: Issue.Priority
    PRIORITY_MEDIUM: Issue.Priority
    PRIORITY_HIGH: Issue.Priority
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    UUID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    JOB_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUB_ISSUES_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    title: str
    description: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    status: Issue.Status
    priority: Issue.Priority
    tags: _containers.RepeatedScalarFieldContainer[str]
    owner: str
    resolution_summary: str
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    sessions: _containers.RepeatedCompositeFieldContainer[SessionRef]
    attachments: _containers.RepeatedCompositeFieldContainer[_attachment_pb2.Attachment]
    session_attachments: _containers.RepeatedCompositeFieldContainer[_attachment_pb2.Attachment]
    job_run_id: str
    updated_at: _timestamp_pb2.Timestamp
    number: int
    identifier: str
    resolved_at: _timestamp_pb2.Timestamp
    parent_id: str
    sub_issues_count: int
    refs: _containers.ScalarMap[str, str]
    etag: str
    def __init__(self, uuid: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., status: _Optional[_Union[Issue.Status, str]] = ..., priority: _Optional[_Union[Issue.Priority, str]] = ..., tags: _Optional[_Iterable[str]] = ..., owner: _Optional[str] = ..., resolution_summary: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions: _Optional[_Iterable[_Union[SessionRef, _Mapping]]] = ..., attachments: _Optional[_Iterable[_Union[_attachment_pb2.Attachment, _Mapping]]] = ..., session_attachments: _Optional[_Iterable[_Union[_attachment_pb2.Attachment, _Mapping]]] = ..., job_run_id: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., number: _Optional[int] = ..., identifier: _Optional[str] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parent_id: _Optional[str] = ..., sub_issues_count: _Optional[int] = ..., refs: _Optional[_Mapping[str, str]] = ..., etag: _Optional[str] = ...) -> None: ...

class SessionRef(_message.Message):
    __slots__ = ("uuid",)
    UUID_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    def __init__(self, uuid: _Optional[str] = ...) -> None: ...

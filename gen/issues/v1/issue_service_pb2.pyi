import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from issues.v1 import attachment_pb2 as _attachment_pb2
from issues.v1 import comment_pb2 as _comment_pb2
from issues.v1 import event_pb2 as _event_pb2
from issues.v1 import history_pb2 as _history_pb2
from issues.v1 import issue_pb2 as _issue_pb2
from issues.v1 import issue_file_pb2 as _issue_file_pb2
from issues.v1 import metrics_pb2 as _metrics_pb2
from issues.v1 import options_pb2 as _options_pb2
from issues.v1 import webhook_pb2 as _webhook_pb2
from issues.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetWorkflowRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateWorkflowRequest(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _workflow_pb2.Transitions
    def __init__(self, transitions: _Optional[_Union[_workflow_pb2.Transitions, _Mapping]] = ...) -> None: ...

class ListIssueHistoryRequest(_message.Message):
    __slots__ = ("issue_id", "limit", "offset", "page_token")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    limit: int
    offset: int
    page_token: str
    def __init__(self, issue_id: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIssueHistoryResponse(_message.Message):
    __slots__ = ("items", "count", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_history_pb2.HistoryEntry]
    count: int
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_history_pb2.HistoryEntry, _Mapping]]] = ..., count: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSubIssuesRequest(_message.Message):
    __slots__ = ("issue_id", "limit", "offset", "page_token")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    limit: int
    offset: int
    page_token: str
    def __init__(self, issue_id: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSubIssuesResponse(_message.Message):
    __slots__ = ("items", "count", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_issue_pb2.Issue]
    count: int
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_issue_pb2.Issue, _Mapping]]] = ..., count: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddReactionRequest(_message.Message):
    __slots__ = ("issue_id", "comment_id", "emoji")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMOJI_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    comment_id: str
    emoji: str
    def __init__(self, issue_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., emoji: _Optional[str] = ...) -> None: ...

class RemoveReactionRequest(_message.Message):
    __slots__ = ("issue_id", "comment_id", "emoji")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMOJI_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    comment_id: str
    emoji: str
    def __init__(self, issue_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., emoji: _Optional[str] = ...) -> None: ...

class CreateIssueRequest(_message.Message):
    __slots__ = ("title", "description", "status", "priority", "tags", "owner", "resolution_summary", "attachment_ids", "session_ids", "job_run_id", "comment", "parent_id", "refs", "request_id")
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    JOB_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    status: _issue_pb2.Issue.Status
    priority: _issue_pb2.Issue.Priority
    tags: _containers.RepeatedScalarFieldContainer[str]
    owner: str
    resolution_summary: str
    attachment_ids: _containers.RepeatedScalarFieldContainer[str]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    job_run_id: str
    comment: str
    parent_id: str
    refs: _containers.ScalarMap[str, str]
    request_id: str
    def __init__(self, title: _Optional[str] = ..., description: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., status: _Optional[_Union[_issue_pb2.Issue.Status, str]] = ..., priority: _Optional[_Union[_issue_pb2.Issue.Priority, str]] = ..., tags: _Optional[_Iterable[str]] = ..., owner: _Optional[str] = ..., resolution_summary: _Optional[str] = ..., attachment_ids: _Optional[_Iterable[str]] = ..., session_ids: _Optional[_Iterable[str]] = ..., job_run_id: _Optional[str] = ..., comment: _Optional[str] = ..., parent_id: _Optional[str] = ..., refs: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListIssuesRequest(_message.Message):
    __slots__ = ("status", "priority", "limit", "offset", "ref", "owner", "created_by", "tag", "parent_id", "created_after", "created_before", "updated_after", "q", "order_by", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _containers.RepeatedScalarFieldContainer[_issue_pb2.Issue.Status]
    priority: _containers.RepeatedScalarFieldContainer[_issue_pb2.Issue.Priority]
    limit: int
    offset: int
    ref: _containers.RepeatedScalarFieldContainer[str]
    owner: _containers.RepeatedScalarFieldContainer[str]
    created_by: _containers.RepeatedScalarFieldContainer[str]
    tag: _containers.RepeatedScalarFieldContainer[str]
    parent_id: str
    created_after: str
    created_before: str
    updated_after: str
    q: str
    order_by: str
    page_token: str
    def __init__(self, status: _Optional[_Iterable[_Union[_issue_pb2.Issue.Status, str]]] = ..., priority: _Optional[_Iterable[_Union[_issue_pb2.Issue.Priority, str]]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., ref: _Optional[_Iterable[str]] = ..., owner: _Optional[_Iterable[str]] = ..., created_by: _Optional[_Iterable[str]] = ..., tag: _Optional[_Iterable[str]] = ..., parent_id: _Optional[str] = ..., created_after: _Optional[str] = ..., created_before: _Optional[str] = ..., updated_after: _Optional[str] = ..., q: _Optional[str] = ..., order_by: _Optional[str] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIssuesResponse(_message.Message):
    __slots__ = ("items", "count", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_issue_pb2.Issue]
    count: int
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_issue_pb2.Issue, _Mapping]]] = ..., count: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetIssueMetricsRequest(_message.Message):
    __slots__ = ("days",)
    DAYS_FIELD_NUMBER: _ClassVar[int]
    days: int
    def __init__(self, days: _Optional[int] = ...) -> None: ...

class GetIssueMetricsResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[_metrics_pb2.Chart]
    def __init__(self, metrics: _Optional[_Iterable[_Union[_metrics_pb2.Chart, _Mapping]]] = ...) -> None: ...

class GetIssueRequest(_message.Message):
    __slots__ = ("issue_id",)
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    def __init__(self, issue_id: _Optional[str] = ...) -> None: ...

class UpdateIssueRequest(_message.Message):
    __slots__ = ("issue_id", "update_mask", "title", "description", "status", "priority", "tags", "owner", "resolution_summary", "attachment_ids", "session_ids", "job_run_id", "parent_id", "refs", "etag")
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    JOB_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    update_mask: _field_mask_pb2.FieldMask
    title: str
    description: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    status: _issue_pb2.Issue.Status
    priority: _issue_pb2.Issue.Priority
    tags: _containers.RepeatedScalarFieldContainer[str]
    owner: str
    resolution_summary: str
    attachment_ids: _containers.RepeatedScalarFieldContainer[str]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    job_run_id: str
    parent_id: str
    refs: _containers.ScalarMap[str, str]
    etag: str
    def __init__(self, issue_id: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., title: _Optional[str] = ..., description: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., status: _Optional[_Union[_issue_pb2.Issue.Status, str]] = ..., priority: _Optional[_Union[_issue_pb2.Issue.Priority, str]] = ..., tags: _Optional[_Iterable[str]] = ..., owner: _Optional[str] = ..., resolution_summary: _Optional[str] = ..., attachment_ids: _Optional[_Iterable[str]] = ..., session_ids: _Optional[_Iterable[str]] = ..., job_run_id: _Optional[str] = ..., parent_id: _Optional[str] = ..., refs: _Optional[_Mapping[str, str]] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteIssueRequest(_message.Message):
    __slots__ = ("issue_id", "etag")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    etag: str
    def __init__(self, issue_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class BulkUpdateIssuesRequest(_message.Message):
    __slots__ = ("ids", "updates")
    IDS_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    updates: IssueUpdates
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., updates: _Optional[_Union[IssueUpdates, _Mapping]] = ...) -> None: ...

class IssueUpdates(_message.Message):
    __slots__ = ("update_mask", "status", "priority", "owner", "tags", "parent_id")
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    update_mask: _field_mask_pb2.FieldMask
    status: _issue_pb2.Issue.Status
    priority: _issue_pb2.Issue.Priority
    owner: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    parent_id: str
    def __init__(self, update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., status: _Optional[_Union[_issue_pb2.Issue.Status, str]] = ..., priority: _Optional[_Union[_issue_pb2.Issue.Priority, str]] = ..., owner: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., parent_id: _Optional[str] = ...) -> None: ...

class BulkUpdateIssuesResponse(_message.Message):
    __slots__ = ("updated", "results")
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    updated: int
    results: _containers.RepeatedCompositeFieldContainer[BulkUpdateResult]
    def __init__(self, updated: _Optional[int] = ..., results: _Optional[_Iterable[_Union[BulkUpdateResult, _Mapping]]] = ...) -> None: ...

class BulkUpdateResult(_message.Message):
    __slots__ = ("id", "outcome", "error")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[BulkUpdateResult.Outcome]
        OUTCOME_UPDATED: _ClassVar[BulkUpdateResult.Outcome]
        OUTCOME_UNCHANGED: _ClassVar[BulkUpdateResult.Outcome]
        OUTCOME_FAILED: _ClassVar[BulkUpdateResult.Outcome]
    OUTCOME_UNSPECIFIED: BulkUpdateResult.Outcome
    OUTCOME_UPDATED: BulkUpdateResult.Outcome
    OUTCOME_UNCHANGED: BulkUpdateResult.Outcome
    OUTCOME_FAILED: BulkUpdateResult.Outcome
    ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    outcome: BulkUpdateResult.Outcome
    error: BulkUpdateError
    def __init__(self, id: _Optional[str] = ..., outcome: _Optional[_Union[BulkUpdateResult.Outcome, str]] = ..., error: _Optional[_Union[BulkUpdateError, _Mapping]] = ...) -> None: ...

class BulkUpdateError(_message.Message):
    __slots__ = ("code", "status", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    status: str
    message: str
    def __init__(self, code: _Optional[int] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("issue_id", "limit", "offset", "page_token")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    limit: int
    offset: int
    page_token: str
    def __init__(self, issue_id: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("items", "count", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_comment_pb2.Comment]
    count: int
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_comment_pb2.Comment, _Mapping]]] = ..., count: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCommentRequest(_message.Message):
    __slots__ = ("issue_id", "content", "attachment_ids", "request_id")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    content: str
    attachment_ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, issue_id: _Optional[str] = ..., content: _Optional[str] = ..., attachment_ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateCommentRequest(_message.Message):
    __slots__ = ("issue_id", "comment_id", "update_mask", "content", "attachment_ids", "etag")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    comment_id: str
    update_mask: _field_mask_pb2.FieldMask
    content: str
    attachment_ids: _containers.RepeatedScalarFieldContainer[str]
    etag: str
    def __init__(self, issue_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., content: _Optional[str] = ..., attachment_ids: _Optional[_Iterable[str]] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteCommentRequest(_message.Message):
    __slots__ = ("issue_id", "comment_id", "etag")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    comment_id: str
    etag: str
    def __init__(self, issue_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class ListIssueFilesRequest(_message.Message):
    __slots__ = ("issue_id", "file_type")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_TYPE_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    file_type: str
    def __init__(self, issue_id: _Optional[str] = ..., file_type: _Optional[str] = ...) -> None: ...

class ListIssueFilesResponse(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[_issue_file_pb2.IssueFile]
    def __init__(self, files: _Optional[_Iterable[_Union[_issue_file_pb2.IssueFile, _Mapping]]] = ...) -> None: ...

class AddIssueFileRequest(_message.Message):
    __slots__ = ("issue_id", "attachment_id", "file_type", "file_name")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    attachment_id: str
    file_type: str
    file_name: str
    def __init__(self, issue_id: _Optional[str] = ..., attachment_id: _Optional[str] = ..., file_type: _Optional[str] = ..., file_name: _Optional[str] = ...) -> None: ...

class CreateAttachmentRequest(_message.Message):
    __slots__ = ("file_name", "content_type", "size_bytes", "sha256", "request_id")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    request_id: str
    def __init__(self, file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateAttachmentResponse(_message.Message):
    __slots__ = ("attachment", "upload_url", "expires_at", "upload_headers")
    class UploadHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_HEADERS_FIELD_NUMBER: _ClassVar[int]
    attachment: _attachment_pb2.Attachment
    upload_url: str
    expires_at: _timestamp_pb2.Timestamp
    upload_headers: _containers.ScalarMap[str, str]
    def __init__(self, attachment: _Optional[_Union[_attachment_pb2.Attachment, _Mapping]] = ..., upload_url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., upload_headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetAttachmentRequest(_message.Message):
    __slots__ = ("attachment_id",)
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    def __init__(self, attachment_id: _Optional[str] = ...) -> None: ...

class GetAttachmentResponse(_message.Message):
    __slots__ = ("attachment", "download_url", "expires_at")
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    attachment: _attachment_pb2.Attachment
    download_url: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, attachment: _Optional[_Union[_attachment_pb2.Attachment, _Mapping]] = ..., download_url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadBlobRequest(_message.Message):
    __slots__ = ("workspace_id", "attachment_id", "expires", "signature", "chunk")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    workspace_id: int
    attachment_id: str
    expires: int
    signature: str
    chunk: _httpbody_pb2.HttpBody
    def __init__(self, workspace_id: _Optional[int] = ..., attachment_id: _Optional[str] = ..., expires: _Optional[int] = ..., signature: _Optional[str] = ..., chunk: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class UploadBlobResponse(_message.Message):
    __slots__ = ("uuid", "status", "size_bytes", "sha256")
    UUID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    status: str
    size_bytes: int
    sha256: str
    def __init__(self, uuid: _Optional[str] = ..., status: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class DownloadBlobRequest(_message.Message):
    __slots__ = ("workspace_id", "attachment_id", "expires", "signature")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: int
    attachment_id: str
    expires: int
    signature: str
    def __init__(self, workspace_id: _Optional[int] = ..., attachment_id: _Optional[str] = ..., expires: _Optional[int] = ..., signature: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("after_sequence", "types", "limit", "page_token")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    types: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    page_token: str
    def __init__(self, after_sequence: _Optional[int] = ..., types: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_event_pb2.Event]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_event_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("after_sequence", "types")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, after_sequence: _Optional[int] = ..., types: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateEventsTicketRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateEventsTicketResponse(_message.Message):
    __slots__ = ("ticket", "expires_at")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, ticket: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

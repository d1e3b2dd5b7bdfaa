from google.api import field_behavior_pb2 as _field_behavior_pb2
from issues.v1 import issue_pb2 as _issue_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Workflow(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: Transitions
    def __init__(self, transitions: _Optional[_Union[Transitions, _Mapping]] = ...) -> None: ...

class Transitions(_message.Message):
    __slots__ = ("open", "in_progress", "resolved", "rejected")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    open: _containers.RepeatedScalarFieldContainer[_issue_pb2.Issue.Status]
    in_progress: _containers.RepeatedScalarFieldContainer[_issue_pb2.Issue.Status]
    resolved: _containers.RepeatedScalarFieldContainer[_issue_pb2.Issue.Status]
    rejected: _containers.RepeatedScalarFieldContainer[_issue_pb2.Issue.Status]
    def __init__(self, open: _Optional[_Iterable[_Union[_issue_pb2.Issue.Status, str]]] = ..., in_progress: _Optional[_Iterable[_Union[_issue_pb2.Issue.Status, str]]] = ..., resolved: _Optional[_Iterable[_Union[_issue_pb2.Issue.Status, str]]] = ..., rejected: _Optional[_Iterable[_Union[_issue_pb2.Issue.Status, str]]] = ...) -> None: ...

"""issues.v1.IssueService: the comment methods."""

from __future__ import annotations

import datetime
import uuid

from google.protobuf import empty_pb2

from issues.v1 import comment_pb2, issue_service_pb2 as pb

from ..app import comments
from ..app.runner import Runner
from ..blobs import BlobStore
from ..domain.errors import Violations
from ..domain.identifiers import parse_issue_ref
from ..domain.limits import COMMENT_ATTACHMENTS_MAX, COMMENT_MAX, COMMENTS_PAGE_DEFAULT
from ..domain.reactions import check_emoji
from . import messages, paging, request_values
from .pipeline import Call


class CommentsServicer:
    def __init__(self, runner: Runner, blobs: BlobStore) -> None:
        self._runner = runner
        self._blobs = blobs

    def ListComments(self, request: pb.ListCommentsRequest, call: Call) -> pb.ListCommentsResponse:
        principal = call.principal
        items, total, token = paging.under_issue(
            request,
            principal.workspace_id,
            "comments",
            (datetime.datetime, uuid.UUID),
            default_limit=COMMENTS_PAGE_DEFAULT,
            fetch=lambda ref, limit, offset, after: comments.list_comments(
                self._runner, principal, ref, limit, offset, after
            ),
            build=messages.comment,
            position=lambda view: (view.row.created_at, view.row.uuid),
        )
        return pb.ListCommentsResponse(items=items, count=total, next_page_token=token)

    def CreateComment(self, request: pb.CreateCommentRequest, call: Call) -> comment_pb2.Comment:
        v = Violations()
        issue_id = parse_issue_ref(v, "issue_id", request.issue_id)
        content = request_values.text(v, "content", request.content, max_len=COMMENT_MAX)
        attachment_ids = request_values.uuid_list(
            v, "attachment_ids", request.attachment_ids, max_items=COMMENT_ATTACHMENTS_MAX
        )
        request_id = request_values.request_id(v, request, messages.comment)
        v.check()
        assert issue_id is not None
        view = comments.add_comment(
            self._runner, call.principal, self._blobs, issue_id, content, attachment_ids, request_id=request_id
        )
        return messages.comment(view)

    def UpdateComment(self, request: pb.UpdateCommentRequest, call: Call) -> comment_pb2.Comment:
        issue_id, comment_id = request_values.comment_ids(request)
        paths = request_values.update_paths(request, ("content", "attachment_ids"))
        v = Violations()
        content = (
            request_values.text(v, "content", request.content, max_len=COMMENT_MAX) if "content" in paths else None
        )
        attachment_ids = request_values.uuid_list(
            v, "attachment_ids", request.attachment_ids, max_items=COMMENT_ATTACHMENTS_MAX
        )
        v.check()
        view = comments.edit_comment(
            self._runner,
            call.principal,
            self._blobs,
            issue_id,
            comment_id,
            content,
            attachment_ids if "attachment_ids" in paths else None,
            etag=request.etag or None,
        )
        return messages.comment(view)

    def DeleteComment(self, request: pb.DeleteCommentRequest, call: Call) -> empty_pb2.Empty:
        issue_id, comment_id = request_values.comment_ids(request)
        comments.delete_comment(self._runner, call.principal, issue_id, comment_id, etag=request.etag or None)
        return empty_pb2.Empty()

    def AddReaction(self, request: pb.AddReactionRequest, call: Call) -> comment_pb2.Comment:
        issue_id, comment_id = request_values.comment_ids(request)
        view = comments.add_reaction(self._runner, call.principal, issue_id, comment_id, check_emoji(request.emoji))
        return messages.comment(view)

    def RemoveReaction(self, request: pb.RemoveReactionRequest, call: Call) -> empty_pb2.Empty:
        issue_id, comment_id = request_values.comment_ids(request)
        comments.remove_reaction(self._runner, call.principal, issue_id, comment_id, check_emoji(request.emoji))
        return empty_pb2.Empty()

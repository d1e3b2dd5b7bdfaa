"""Attachments end to end: register, PUT the bytes to the signed URL, reference, download."""

from __future__ import annotations

import hashlib
import time
import urllib.parse

import grpc
import httpx
import pytest
from google.protobuf import field_mask_pb2

from issues.v1 import attachment_pb2
from service.blobs import SIGNING_KEY_NAME
from service.blobs.signing import Signer
from service.storage.models import ServerSecret

from .. import harness
from ..harness import bad_request_fields

READY = attachment_pb2.Attachment.STATUS_READY
PENDING = attachment_pb2.Attachment.STATUS_PENDING


def register(api, data: bytes, name: str = "layout-rev4.zip", with_sha: bool = True, **extra):
    fields = dict(file_name=name, content_type="application/zip", size_bytes=len(data), **extra)
    if with_sha:
        fields["sha256"] = hashlib.sha256(data).hexdigest()
    return api.CreateAttachment(**fields)


def uploaded(api, data: bytes, name: str = "plan.md"):
    created = register(api, data, name)
    response = httpx.put(created.upload_url, content=data)
    assert response.status_code == 200, response.text
    return created.attachment


def test_register_upload_attach_and_download(workspace):
    data = b"PK\x03\x04 layout bytes " * 1000
    created = register(workspace.member, data)
    assert created.attachment.status == PENDING
    assert not workspace.viewer.GetAttachment(attachment_id=created.attachment.uuid).HasField("download_url")

    put = httpx.put(created.upload_url, content=data)

    assert put.status_code == 200 and put.json()["status"] == "ready"
    got = workspace.viewer.GetAttachment(attachment_id=created.attachment.uuid)
    assert got.attachment.status == READY and got.attachment.sha256 == hashlib.sha256(data).hexdigest()
    download = httpx.get(got.download_url)
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "application/zip"
    assert 'filename="layout-rev4.zip"' in download.headers["content-disposition"]


def test_an_attachment_on_an_issue_shows_in_attachments_and_files(workspace):
    attachment = uploaded(workspace.member, b"# Plan\n", "troubleshooting.md")

    issue = workspace.member.CreateIssue(title="t", attachment_ids=[attachment.uuid])
    plan = workspace.member.AddIssueFile(
        issue_id=issue.uuid, attachment_id=attachment.uuid, file_type="troubleshooting_plan"
    )

    assert [a.uuid for a in issue.attachments] == [attachment.uuid]
    assert [a.uuid for a in workspace.viewer.GetIssue(issue_id=issue.uuid).attachments] == [attachment.uuid]
    files = workspace.viewer.ListIssueFiles(issue_id=issue.uuid).files
    assert sorted(f.file_type for f in files) == ["attachment", "troubleshooting_plan"]
    assert all(f.attachment_id == attachment.uuid and f.file_name == "troubleshooting.md" for f in files)
    plans = workspace.viewer.ListIssueFiles(issue_id=issue.uuid, file_type="troubleshooting_plan").files
    assert [f.uuid for f in plans] == [plan.uuid]


def test_updating_attachment_ids_replaces_the_attachment_files(workspace):
    first, second = uploaded(workspace.member, b"one"), uploaded(workspace.member, b"two")
    issue = workspace.member.CreateIssue(title="t", attachment_ids=[first.uuid])

    updated = workspace.member.UpdateIssue(
        issue_id=issue.uuid,
        update_mask=field_mask_pb2.FieldMask(paths=["attachment_ids"]),
        attachment_ids=[second.uuid],
    )

    assert [a.uuid for a in updated.attachments] == [second.uuid]
    assert [
        f.attachment_id for f in workspace.viewer.ListIssueFiles(issue_id=issue.uuid, file_type="attachment").files
    ] == [second.uuid]


def test_a_comment_keeps_its_attachments_until_deleted(workspace):
    attachment = uploaded(workspace.member, b"see layout")
    issue = workspace.member.CreateIssue(title="t")

    comment = workspace.member.CreateComment(
        issue_id=issue.uuid, content="See updated layout", attachment_ids=[attachment.uuid]
    )
    assert [a.uuid for a in comment.attachments] == [attachment.uuid]
    assert [a.uuid for a in workspace.viewer.ListComments(issue_id=issue.uuid).items[0].attachments] == [
        attachment.uuid
    ]

    workspace.member.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid)
    assert list(workspace.viewer.ListComments(issue_id=issue.uuid).items[0].attachments) == []


def test_a_pending_attachment_cannot_be_referenced(workspace):
    created = register(workspace.member, b"never uploaded")
    with pytest.raises(grpc.RpcError) as error:
        workspace.member.CreateIssue(title="t", attachment_ids=[created.attachment.uuid])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(error.value) == ["attachment_ids[0]"]
    assert workspace.viewer.ListIssues().count == 0


def test_another_workspaces_attachment_is_invisible(workspace, channel, make_token):
    attachment = uploaded(workspace.member, b"private")
    token, _ = make_token("admin")
    stranger = harness.Api(channel, token)

    with pytest.raises(grpc.RpcError) as error:
        stranger.GetAttachment(attachment_id=attachment.uuid)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        stranger.CreateIssue(title="t", attachment_ids=[attachment.uuid])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "fields, field",
    [
        (dict(file_name="", size_bytes=1), "file_name"),
        (dict(file_name="a/b.txt", size_bytes=1), "file_name"),
        (dict(file_name="x", size_bytes=-1), "size_bytes"),
        (dict(file_name="x", size_bytes=1 << 40), "size_bytes"),
        (dict(file_name="x", size_bytes=1, sha256="abc"), "sha256"),
        (dict(file_name="x", size_bytes=1, content_type="not a type"), "content_type"),
    ],
)
def test_bad_registrations_are_refused(workspace, fields, field):
    with pytest.raises(grpc.RpcError) as error:
        workspace.member.CreateAttachment(**fields)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(error.value) == [field]


def test_viewers_cannot_register_attachments(workspace):
    with pytest.raises(grpc.RpcError) as error:
        workspace.viewer.CreateAttachment(file_name="x", size_bytes=1)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


# -- the upload URL ----------------------------------------------------------


def status_after(api, attachment_id: str) -> int:
    return api.GetAttachment(attachment_id=attachment_id).attachment.status


def test_a_tampered_signature_is_forbidden(workspace):
    created = register(workspace.member, b"abc")
    tampered = created.upload_url.replace("signature=", "signature=x")
    other_object = created.upload_url.replace(created.attachment.uuid, "00000000-0000-4000-8000-000000000000")

    for url in (tampered, other_object):
        response = httpx.put(url, content=b"abc")
        assert response.status_code == 403 and response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert status_after(workspace.member, created.attachment.uuid) == PENDING


def test_an_expired_url_is_forbidden(workspace, database_url):
    created = register(workspace.member, b"abc")
    key = harness.in_database(database_url, lambda: ServerSecret.get(ServerSecret.name == SIGNING_KEY_NAME).value)
    parts = urllib.parse.urlsplit(created.upload_url)
    object_key = parts.path.removeprefix("/blobs/")
    past = int(time.time()) - 5
    signature = Signer(key).sign("PUT", object_key, int(object_key.split("/")[0]), past)
    expired = parts._replace(query=urllib.parse.urlencode({"expires": past, "signature": signature})).geturl()

    response = httpx.put(expired, content=b"abc")

    assert response.status_code == 403 and "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [b"ab", b"abcd"])
def test_a_size_mismatch_is_refused_and_stays_pending(workspace, body):
    created = register(workspace.member, b"abc")
    response = httpx.put(created.upload_url, content=body)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field_violations"][0]["field"] == "size_bytes"
    assert status_after(workspace.member, created.attachment.uuid) == PENDING


def test_a_checksum_mismatch_is_refused_then_the_right_bytes_are_accepted(workspace):
    created = register(workspace.member, b"abc")
    wrong = httpx.put(created.upload_url, content=b"abd")
    assert wrong.status_code == 400 and "sha256" in wrong.json()["error"]["message"]
    assert status_after(workspace.member, created.attachment.uuid) == PENDING

    assert httpx.put(created.upload_url, content=b"abc").status_code == 200
    assert status_after(workspace.member, created.attachment.uuid) == READY


def test_a_second_upload_is_a_conflict(workspace):
    created = register(workspace.member, b"abc")
    assert httpx.put(created.upload_url, content=b"abc").status_code == 200
    again = httpx.put(created.upload_url, content=b"abc")
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"


def test_a_download_url_cannot_upload_and_vice_versa(workspace):
    attachment = uploaded(workspace.member, b"abc")
    url = workspace.viewer.GetAttachment(attachment_id=attachment.uuid).download_url
    assert httpx.put(url, content=b"xyz").status_code == 403
    created = register(workspace.member, b"def")
    assert httpx.get(created.upload_url).status_code == 403

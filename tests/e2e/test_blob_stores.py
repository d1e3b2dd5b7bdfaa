"""The S3 store against a moto server process, garbage collection, and upload memory."""

from __future__ import annotations

import datetime
import hashlib
import pathlib
import socket
import subprocess
import sys
import time

import grpc
import httpx
import pytest

from issues.v1 import attachment_pb2
from service.api.messages import JsonRenderer
from service.app import gc, issues
from service.app.peewee_storage import PeeweeStorage
from service.app.runner import Runner
from service.blobs.filesystem import FilesystemStore
from service.blobs.signing import Signer
from service.domain.roles import Principal, Role
from service.domain.times import utcnow
from service.storage import attachments as attachments_store, database, migrate
from service.storage.attachments import AttachmentRepository

from .. import harness

READY = attachment_pb2.Attachment.STATUS_READY
PENDING = attachment_pb2.Attachment.STATUS_PENDING
BUCKET = "issues-attachments"
S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """moto's standalone S3 server in a child process, with one bucket."""
    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [str(pathlib.Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def s3_server(fresh_database_url, tmp_path, s3_endpoint):
    env = {**S3_ENV, "ISSUES_BLOB_STORE": f"s3://{BUCKET}", "ISSUES_S3_ENDPOINT_URL": s3_endpoint}
    server = harness.ServerProcess(fresh_database_url, tmp_path, env=env)
    token, _ = harness.mint_token(fresh_database_url, "member")
    with grpc.insecure_channel(server.target) as channel:
        yield harness.Api(channel, token)
    server.stop()


def test_s3_presigned_upload_reference_and_download(s3_server):
    api = s3_server
    data = b"layout rev 4\n" * 500
    created = api.CreateAttachment(
        file_name="layout rev4.txt",
        content_type="text/plain",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert created.upload_url.startswith("http://127.0.0.1") and "X-Amz-Signature" in created.upload_url

    put = httpx.put(created.upload_url, content=data, headers=dict(created.upload_headers))
    assert put.status_code == 200, put.text
    again = httpx.put(created.upload_url, content=data, headers=dict(created.upload_headers))
    assert again.status_code == 412  # If-None-Match: * refuses a second upload

    issue = api.CreateIssue(title="t", attachment_ids=[created.attachment.uuid])
    assert [a.status for a in issue.attachments] == [READY]
    got = api.GetAttachment(attachment_id=created.attachment.uuid)
    download = httpx.get(got.download_url)
    assert download.status_code == 200 and download.content == data
    assert "layout%20rev4.txt" in download.headers["content-disposition"]


def test_s3_bytes_that_do_not_match_the_checksum_are_discarded(s3_server):
    api = s3_server
    good = b"0123456789"
    created = api.CreateAttachment(
        file_name="n.txt", content_type="text/plain", size_bytes=10, sha256=hashlib.sha256(good).hexdigest()
    )
    headers = dict(created.upload_headers)

    assert httpx.put(created.upload_url, content=b"9876543210", headers=headers).status_code == 200
    assert api.GetAttachment(attachment_id=created.attachment.uuid).attachment.status == PENDING
    # The wrong bytes were removed, so the same URL takes the right ones.
    assert httpx.put(created.upload_url, content=good, headers=headers).status_code == 200
    assert api.GetAttachment(attachment_id=created.attachment.uuid).attachment.status == READY


# -- garbage collection ---------------------------------------------------------


@pytest.fixture
def file_store(fresh_database_url, tmp_path):
    db = database.open_database(fresh_database_url, pool_size=2)
    database.bind(db)
    migrate.migrate(db)
    yield FilesystemStore(tmp_path / "blobs", "http://unused", Signer("k"))
    db.close_all()


def stored(store: FilesystemStore, workspace_id: int, data: bytes | None, *, expires_in: float = 3600):
    row = database.transaction(
        lambda: AttachmentRepository(workspace_id).insert(
            "a@b.c",
            file_name="f",
            content_type="text/plain",
            size_bytes=len(data or b""),
            sha256=None,
            expires_at=utcnow() + datetime.timedelta(seconds=expires_in),
        ),
        write=True,
    )
    if data is not None:
        upload = store.new_upload()
        upload.write(data)
        assert upload.commit(row.object_key)
        database.transaction(lambda: attachments_store.mark_ready(row, hashlib.sha256(data).hexdigest()), write=True)
    return row


def test_gc_removes_expired_uploads_and_long_unreferenced_files_only(file_store):
    from service.storage.models import Workspace

    ws = database.transaction(lambda: Workspace.create(slug="gc").id, write=True)
    expired = stored(file_store, ws, None, expires_in=-1)
    waiting = stored(file_store, ws, None, expires_in=3 * 3600)
    referenced = stored(file_store, ws, b"kept")
    orphan = stored(file_store, ws, b"orphan")
    left_behind = stored(file_store, ws, b"from a deleted issue")

    values = {
        "title": "t",
        "description": [],
        "status": "open",
        "priority": "low",
        "tags": [],
        "owner": "o",
        "resolution_summary": None,
        "job_run_id": None,
        "session_ids": [],
    }
    caller = Principal(ws, "gc", "a@b.c", Role.ADMIN)
    runner = Runner(PeeweeStorage(), JsonRenderer())  # as the server builds it
    issues.create_issue(runner, caller, file_store, {**values, "attachment_ids": [referenced.uuid]})
    gone = issues.create_issue(runner, caller, file_store, {**values, "attachment_ids": [left_behind.uuid]})
    issues.delete_issue(runner, caller, gone.row.uuid)

    soon = gc.collect(file_store, 3600)
    later = gc.collect(file_store, 3600, now=utcnow() + datetime.timedelta(hours=2))

    assert (soon.expired_pending, soon.unreferenced) == (1, 0)
    assert (later.expired_pending, later.unreferenced) == (0, 2)
    remaining = database.transaction(
        lambda: set(
            AttachmentRepository(ws).by_ids(
                [expired.uuid, waiting.uuid, referenced.uuid, orphan.uuid, left_behind.uuid]
            )
        )
    )
    assert remaining == {waiting.uuid, referenced.uuid}
    assert file_store.uploaded_size(referenced.object_key) == 4
    assert file_store.uploaded_size(orphan.object_key) is None
    assert file_store.uploaded_size(left_behind.object_key) is None


def test_gc_command_runs_against_a_live_database(database_url, grpc_server):
    result = subprocess.run(
        [sys.executable, "-m", "service", "gc", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=grpc_server.workdir,
    )
    assert result.returncode == 0, result.stderr
    assert '"msg": "gc done"' in result.stderr


# -- memory ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_a_200_mib_upload_keeps_the_server_under_150_mib(backend, fresh_database_url, tmp_path):
    size = 200 << 20
    server = harness.ServerProcess(fresh_database_url, tmp_path, http=True)
    token, _ = harness.mint_token(fresh_database_url, "member")
    try:
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            created = api.CreateAttachment(file_name="big.bin", size_bytes=size)
            chunk = bytes(range(256)) * 4096  # 1 MiB

            def body():
                for _ in range(size // len(chunk)):
                    yield chunk

            put = httpx.put(created.upload_url, content=body(), headers={"Content-Length": str(size)}, timeout=120)
            assert put.status_code == 200, put.text
            assert api.GetAttachment(attachment_id=created.attachment.uuid).attachment.size_bytes == size
        peak = server.peak_rss_bytes()
    finally:
        server.stop()
    print(f"server peak RSS after a 200 MiB upload: {peak / (1 << 20):.1f} MiB")
    assert peak < 150 << 20


def test_an_upload_over_the_configured_maximum_is_413_and_stays_pending(fresh_database_url, tmp_path):
    server = harness.ServerProcess(fresh_database_url, tmp_path, http=True, env={"ISSUES_MAX_UPLOAD_BYTES": "1000"})
    token, _ = harness.mint_token(fresh_database_url, "member")
    try:
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            with pytest.raises(grpc.RpcError) as error:
                api.CreateAttachment(file_name="big.bin", size_bytes=1001)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

            created = api.CreateAttachment(file_name="ok.bin", size_bytes=1000)
            too_big = httpx.put(created.upload_url, content=b"x" * 4000)
            assert too_big.status_code == 413
            assert too_big.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
            assert api.GetAttachment(attachment_id=created.attachment.uuid).attachment.status == PENDING
    finally:
        server.stop()

"""The split deployment: `serve --no-http` and `python -m gateway` as separate
processes, attachments included (their bytes travel over gRPC), on both
databases; and memory that stays flat while large files pass through."""

from __future__ import annotations

import hashlib
import pathlib
import socket
import time
import urllib.parse
from typing import Iterator

import grpc
import httpx
import pytest

from .. import harness

CONTENT = b"# Troubleshooting plan\n1. Probe C12\n" * 3000  # several 64 KiB chunks, and a partial one


class Split:
    def __init__(self, database_url: str, workdir: pathlib.Path) -> None:
        port = harness._free_port()
        # The file store's URLs must name the gateway, which the server cannot know.
        self.server = harness.ServerProcess(
            database_url, workdir, env={"ISSUES_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        )
        try:
            self.gateway = harness.GatewayProcess(self.server.target, port, workdir)
        except Exception:
            self.server.stop()
            raise
        token, _ = harness.mint_token(database_url, "member")
        self.api = httpx.Client(base_url=self.gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def register(self, size: int, **extra: object) -> dict:
        created = self.api.post(
            "/api/v1/attachments",
            json={"file_name": "plan rev 4.md", "content_type": "text/markdown", "size_bytes": size, **extra},
        )
        assert created.status_code == 201, created.text
        return created.json()

    def download_url(self, attachment_id: str) -> str:
        return self.api.get(f"/api/v1/attachments/{attachment_id}").json()["download_url"]

    def stop(self) -> None:
        self.api.close()
        assert self.gateway.stop() == 0
        assert self.server.stop() == 0


@pytest.fixture
def split(fresh_database_url: str, tmp_path: pathlib.Path) -> Iterator[Split]:
    deployment = Split(fresh_database_url, tmp_path)
    try:
        yield deployment
    finally:
        deployment.stop()


def test_upload_and_download_through_the_standalone_gateway(split):
    created = split.register(len(CONTENT), sha256=hashlib.sha256(CONTENT).hexdigest())
    assert created["upload_url"].startswith(f"{split.gateway.url}/blobs/")

    put = httpx.put(created["upload_url"], content=CONTENT, headers={"Content-Type": "text/markdown"}, timeout=60)

    assert put.status_code == 200, put.text
    assert put.json() == {
        "uuid": created["attachment"]["uuid"],
        "status": "ready",
        "size_bytes": len(CONTENT),
        "sha256": hashlib.sha256(CONTENT).hexdigest(),
    }
    url = split.download_url(created["attachment"]["uuid"])
    download = httpx.get(url, timeout=60)
    assert download.status_code == 200 and download.content == CONTENT
    head = httpx.head(url, timeout=60)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(CONTENT))
    assert download.headers["content-type"].startswith("text/markdown")
    assert download.headers["content-length"] == str(len(CONTENT))
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"plan rev 4.md\"; filename*=UTF-8''plan%20rev%204.md"
    )
    # A second upload is a conflict, in the gateway's envelope.
    again = httpx.put(created["upload_url"], content=CONTENT, timeout=60)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"


def test_bad_uploads_are_refused_through_the_standalone_gateway(split):
    created = split.register(3)
    url = created["upload_url"]
    tampered = httpx.put(url.replace("signature=", "signature=x"), content=b"abc")
    assert tampered.status_code == 403 and tampered.json()["error"]["status"] == "PERMISSION_DENIED"
    # Several chunks each: the server answers after the first, or reads on to the end.
    assert httpx.put(url.replace("signature=", "signature=x"), content=CONTENT).status_code == 403
    for body in (b"abcd", CONTENT):
        too_long = httpx.put(url, content=body)
        assert too_long.status_code == 400, too_long.text
        assert too_long.json()["error"]["details"][0]["field_violations"][0]["field"] == "size_bytes"
    # Still pending, so the right bytes go through afterwards.
    assert httpx.put(url, content=b"abc").status_code == 200
    assert httpx.get(split.download_url(created["attachment"]["uuid"])).content == b"abc"
    # A download URL does not upload, nor an upload URL download.
    assert httpx.get(url).status_code == 403


def test_a_client_that_goes_away_mid_upload_frees_the_server(split):
    size = 1 << 20
    created = split.register(size)
    url = urllib.parse.urlsplit(created["upload_url"])
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {size}\r\n\r\n".encode()
            + b"x" * (200 << 10)
        )
        time.sleep(0.5)
    # The gateway cancels the call: the server stops waiting for the rest at once.
    # (grpcio may show the cancelled stream as ended early: then it is short.)
    deadline = time.monotonic() + 5
    while not (
        ended := [e for e in split.server.log_entries() if e.get("method") == "/issues.v1.IssueService/UploadBlob"]
    ):
        assert time.monotonic() < deadline, split.server.log.read_text()[-3000:]
        time.sleep(0.05)
    assert [e["code"] for e in ended] in (["CANCELLED"], ["INVALID_ARGUMENT"])
    assert not [e for e in split.server.log_entries() if e.get("level") == "error"]
    assert '"level": "error"' not in split.gateway.log.read_text()
    # Nothing was kept: the whole upload goes through afterwards.
    assert httpx.put(created["upload_url"], content=b"y" * size, timeout=60).status_code == 200


def test_without_a_public_url_a_split_server_says_how_to_get_attachments(fresh_database_url, tmp_path, monkeypatch):
    monkeypatch.delenv("ISSUES_PUBLIC_URL", raising=False)
    server = harness.ServerProcess(fresh_database_url, tmp_path)
    token, _ = harness.mint_token(fresh_database_url, "member")
    try:
        with grpc.insecure_channel(server.target) as channel:
            with pytest.raises(grpc.RpcError) as error:
                harness.Api(channel, token).CreateAttachment(file_name="a.txt", size_bytes=1)
    finally:
        server.stop()
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ISSUES_PUBLIC_URL" in error.value.details()


# -- memory -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_a_64_mib_upload_and_download_keep_gateway_and_server_memory_flat(backend, split):
    size = 64 << 20
    block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB, not compressible by accident
    expected = hashlib.sha256(block * 64).hexdigest()
    # Warm both processes up with a small file first, so that growth is the big one's alone.
    small = split.register(len(CONTENT))
    assert httpx.put(small["upload_url"], content=CONTENT).status_code == 200
    httpx.get(split.download_url(small["attachment"]["uuid"])).raise_for_status()
    before = split.gateway.peak_rss_bytes(), split.server.peak_rss_bytes()

    created = split.register(size, sha256=expected)
    put = httpx.put(
        created["upload_url"], content=(block for _ in range(64)), headers={"Content-Length": str(size)}, timeout=300
    )
    assert put.status_code == 200, put.text
    digest = hashlib.sha256()
    with httpx.stream("GET", split.download_url(created["attachment"]["uuid"]), timeout=300) as download:
        assert download.status_code == 200
        for piece in download.iter_bytes():
            digest.update(piece)
    assert digest.hexdigest() == expected

    after = split.gateway.peak_rss_bytes(), split.server.peak_rss_bytes()
    growth = [(a - b) / (1 << 20) for a, b in zip(after, before)]
    print(f"peak RSS growth over 64 MiB up and down: gateway {growth[0]:.1f} MiB, server {growth[1]:.1f} MiB")
    assert max(growth) < 16, growth

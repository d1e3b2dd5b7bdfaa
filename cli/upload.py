"""Attachments: register the file, PUT its bytes to the signed URL, hand back its uuid.

Bytes never travel over gRPC. The PUT streams the file in chunks (constant
memory for any size) with an explicit Content-Length, which both the file
store and S3's presigned URLs check, and shows a progress bar on a terminal
for files large enough to wait for.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import pathlib
import sys
from typing import Callable, Iterator

from .client import Client, CliError, pb

CHUNK_BYTES = 1 << 20
# Below this an upload is over before a bar would be worth drawing.
PROGRESS_FROM_BYTES = 4 << 20


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def upload(client: Client, path: pathlib.Path) -> str:
    """Upload `path` as a new attachment; returns its uuid once the server has the bytes."""
    try:
        size = path.stat().st_size
        sha256 = sha256_of(path)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    created = client.call(
        "CreateAttachment",
        pb.CreateAttachmentRequest(
            file_name=path.name,
            content_type=content_type,
            size_bytes=size,
            sha256=sha256,
        ),
    )
    headers = {"Content-Length": str(size), "Content-Type": content_type, **dict(created.upload_headers)}
    _put(created.upload_url, path, size, headers)
    return str(created.attachment.uuid)


def _put(url: str, path: pathlib.Path, size: int, headers: dict[str, str]) -> None:
    import httpx  # only uploads need it

    show = sys.stderr.isatty() and size >= PROGRESS_FROM_BYTES
    try:
        if show:
            with _progress(path.name, size) as advance:
                response = httpx.put(url, content=_chunks(path, advance), headers=headers, timeout=60.0)
        else:
            response = httpx.put(url, content=_chunks(path, lambda n: None), headers=headers, timeout=60.0)
    except httpx.HTTPError as exc:
        raise CliError(f"{path.name}: upload failed: {exc}") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    if response.status_code >= 300:
        raise CliError(f"{path.name}: upload failed: HTTP {response.status_code}: {_reason(response)}")


def _chunks(path: pathlib.Path, advance: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            advance(len(chunk))
            yield chunk


def _reason(response: object) -> str:
    """The error envelope's message, else the start of the body (S3 answers XML)."""
    text: str = getattr(response, "text", "")
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text.strip().splitlines()[0][:200] if text.strip() else "no details"


class _progress:
    """A Rich progress bar on stderr, advanced by the bytes read."""

    def __init__(self, name: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(name, total=total)

    def __enter__(self) -> Callable[[int], None]:
        self._bar.start()
        return lambda n: self._bar.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

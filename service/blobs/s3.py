"""Attachment bytes in an S3-compatible bucket, moved with presigned URLs.

The presigned PUT is SigV4-signed over Content-Length, Content-Type and
`If-None-Match: *`, so S3 refuses a second upload to the same key. The
service does not trust the store beyond that: an attachment becomes ready
when the service finds the object with the declared size and hashes it to
the declared sha256 (on GetAttachment or when it is referenced); bytes that
do not match are deleted so the client can upload again.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from ..domain.times import utcnow
from .download_headers import content_disposition


class S3Store:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None) -> S3Store:
        import boto3  # only needed for this store: the `s3` extra
        from botocore.config import Config

        bucket = url.removeprefix("s3://").strip("/")
        return cls(
            bucket, boto3.client("s3", endpoint_url=endpoint_url or None, config=Config(signature_version="s3v4"))
        )

    @staticmethod
    def _seconds(expires_at: datetime.datetime) -> int:
        now = utcnow()
        return max(1, int((expires_at - now).total_seconds()))

    def upload_target(
        self,
        object_key: str,
        *,
        workspace_id: int,
        size_bytes: int,
        content_type: str,
        sha256: str | None,
        expires_at: datetime.datetime,
    ) -> tuple[str, dict[str, str]]:
        params = {
            "Bucket": self.bucket,
            "Key": object_key,
            "ContentLength": size_bytes,
            "ContentType": content_type,
            "IfNoneMatch": "*",
        }
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=self._seconds(expires_at))
        return url, {"Content-Type": content_type, "If-None-Match": "*"}

    def download_url(
        self, object_key: str, *, workspace_id: int, file_name: str, content_type: str, expires_at: datetime.datetime
    ) -> str:

        params = {
            "Bucket": self.bucket,
            "Key": object_key,
            "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition(file_name),
        }
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self._seconds(expires_at))

    def uploaded_size(self, object_key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=object_key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def sha256(self, object_key: str) -> str:
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=self.bucket, Key=object_key)["Body"]
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, object_key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=object_key)

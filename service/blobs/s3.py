"""Attachment bytes in an S3-compatible bucket, moved with presigned URLs.

The presigned PUT is signed over Content-Length and, when the uploader
declared one, x-amz-checksum-sha256, so S3 itself refuses bytes that do not
match. An attachment becomes ready once the service sees the object exist
with the declared size (on GetAttachment or when it is referenced).
"""

from __future__ import annotations

import base64
import datetime
from typing import Any


class S3Store:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None) -> "S3Store":
        import boto3  # only needed for this store: the `s3` extra

        bucket = url.removeprefix("s3://").strip("/")
        return cls(bucket, boto3.client("s3", endpoint_url=endpoint_url or None))

    @staticmethod
    def _seconds(expires_at: datetime.datetime) -> int:
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        return max(1, int((expires_at - now).total_seconds()))

    def upload_url(self, object_key: str, *, workspace_id: int, size_bytes: int, content_type: str,
                   sha256: str | None, expires_at: datetime.datetime) -> str:
        params = {"Bucket": self.bucket, "Key": object_key, "ContentLength": size_bytes, "ContentType": content_type}
        if sha256:
            params["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256)).decode()
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=self._seconds(expires_at))

    def download_url(self, object_key: str, *, workspace_id: int, file_name: str, content_type: str,
                     expires_at: datetime.datetime) -> str:
        from .http import content_disposition

        params = {
            "Bucket": self.bucket, "Key": object_key,
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

    def delete(self, object_key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=object_key)

"""Reading an uploaded customer export from the imports bucket."""

from __future__ import annotations

from ringback.adapters import aws

MAX_EXPORT_BYTES = 200 * 1024 * 1024


class ExportTooLarge(ValueError):
    pass


def read_export(bucket: str, key: str, *, max_bytes: int = MAX_EXPORT_BYTES) -> bytes:
    """The object's bytes; refuses objects larger than ``max_bytes``."""
    s3 = aws.client("s3", connect_timeout=3.0, read_timeout=30.0, max_attempts=5)
    head = s3.head_object(Bucket=bucket, Key=key)
    if int(head.get("ContentLength", 0)) > max_bytes:
        raise ExportTooLarge(f"s3://{bucket}/{key} is larger than {max_bytes} bytes")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body

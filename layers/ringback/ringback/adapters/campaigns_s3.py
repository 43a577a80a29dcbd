"""Campaign files in the imports bucket: streamed in, error reports written beside them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ringback.adapters import aws

MAX_CAMPAIGN_BYTES = 500 * 1024 * 1024
_CHUNK = 256 * 1024


class CampaignFileTooLarge(ValueError):
    pass


def _s3() -> Any:
    return aws.client("s3", connect_timeout=3.0, read_timeout=30.0, max_attempts=5)


def stream_object(bucket: str, key: str, *, max_bytes: int = MAX_CAMPAIGN_BYTES) -> Iterator[bytes]:
    """The object's bytes in chunks (never the whole file in memory)."""
    s3 = _s3()
    answer = s3.get_object(Bucket=bucket, Key=key)
    if int(answer.get("ContentLength", 0)) > max_bytes:
        answer["Body"].close()
        raise CampaignFileTooLarge(f"s3://{bucket}/{key} is larger than {max_bytes} bytes")
    body = answer["Body"]
    try:
        yield from body.iter_chunks(chunk_size=_CHUNK)
    finally:
        body.close()


def put_text(bucket: str, key: str, text: str, content_type: str = "text/csv") -> None:
    _s3().put_object(
        Bucket=bucket,
        Key=key,
        Body=text.encode(),
        ContentType=f"{content_type}; charset=utf-8",
    )

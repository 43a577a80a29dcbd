"""What every ``ringback import ...`` command does: put the file into the running local stack's
imports bucket, exactly as on AWS, and deliver the S3 notification to the function template.yaml
names for it (through the local gateway's admin route). Returns the function's report."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from devstack.aws import aws_client


def upload_and_notify(stack_json: dict[str, Any], source: Path, key: str, *, timeout_s: float = 900) -> Any:
    """Upload ``source`` as ``key`` and return the import function's answer.

    Raises ``urllib.error.HTTPError`` when the function fails and ``URLError``/``OSError`` when
    the stack is not reachable.
    """
    bucket = stack_json["names"]["ImportsBucket"]
    aws_client("s3", stack_json["urls"]["moto"]).put_object(
        Bucket=bucket, Key=key, Body=source.read_bytes(), ContentType="text/csv"
    )
    request = urllib.request.Request(
        f"{stack_json['urls']['api'].rstrip('/')}/_local/s3-notify",
        data=json.dumps({"bucket": bucket, "key": key}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read() or b"null")

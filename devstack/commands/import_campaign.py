"""`ringback import campaign FILE`: upload a debtor-campaign CSV (or a do-not-call CSV, when its
name starts with ``dnc``) into the running local stack, exactly as on AWS: the file goes to the
imports bucket under ``campaigns/`` (``campaigns/dnc/``), and the S3 notification invokes
ImportFunction. Prints the import report (every bad row with its line and reason)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devstack.aws import aws_client


def key_for(path: Path) -> str:
    prefix = "campaigns/dnc/" if path.name.lower().startswith("dnc") else "campaigns/"
    name = path.name if path.suffix.lower() == ".csv" else f"{path.name}.csv"
    return prefix + name


def run(path: str, stack_json: dict[str, Any]) -> int:
    source = Path(path)
    if not source.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    bucket = stack_json["names"]["ImportsBucket"]
    key = key_for(source)
    aws_client("s3", stack_json["urls"]["moto"]).put_object(Bucket=bucket, Key=key, Body=source.read_bytes())
    request = urllib.request.Request(
        f"{stack_json['urls']['api']}/_local/s3-notify",
        data=json.dumps({"bucket": bucket, "key": key}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as answer:
            report = json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        print(f"import failed: {error.code} {error.read().decode()}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, ensure_ascii=False))
    problems = (report or {}).get("file_problems") or []
    return 1 if problems else 0

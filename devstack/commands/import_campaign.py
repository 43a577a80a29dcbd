"""`ringback import campaign FILE`: upload a debtor-campaign CSV (or a do-not-call CSV, when its
name starts with ``dnc``) into the running local stack, exactly as on AWS: the file goes to the
imports bucket under ``campaigns/`` (``campaigns/dnc/``), and the S3 notification invokes
ImportFunction. Prints the import report (every bad row with its line and reason)."""

from __future__ import annotations

import json
import sys
import urllib.error
from pathlib import Path
from typing import Any

from devstack.commands.s3_import import upload_and_notify


def key_for(path: Path) -> str:
    prefix = "campaigns/dnc/" if path.name.lower().startswith("dnc") else "campaigns/"
    name = path.name if path.suffix.lower() == ".csv" else f"{path.name}.csv"
    return prefix + name


def run(path: str, stack_json: dict[str, Any]) -> int:
    source = Path(path)
    if not source.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    try:
        report = upload_and_notify(stack_json, source, key_for(source))
    except urllib.error.HTTPError as error:
        print(f"import failed: {error.code} {error.read().decode()}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, ensure_ascii=False))
    problems = (report or {}).get("file_problems") or []
    return 1 if problems else 0

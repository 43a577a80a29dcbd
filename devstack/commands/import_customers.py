"""``ringback import customers FILE.csv``: import a customer export into the running local stack.

The file takes the same path as on AWS: it is put into the imports bucket under
``customers/<file name>`` and the ImportFunction receives the S3 notification (through the
local gateway's admin endpoint). The import report is printed: counts, and every rejected row
with its line number and reason.

Exit status: 0 imported without rejections, 2 imported but some rows were rejected, 1 nothing
imported (unreadable file, stack not running, import failed).
"""

from __future__ import annotations

import sys
import urllib.error
from pathlib import Path
from typing import Any, TextIO

from devstack.commands.s3_import import upload_and_notify

PREFIX = "customers/"


def print_report(report: dict[str, Any], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if report.get("error") and report.get("status") != "partial":
        print(f"import {report.get('status', 'failed')}: {report['error']}", file=out)
    print(f"source:      {report.get('source') or report.get('key')}", file=out)
    print(
        f"mode:        {report.get('mode')}   encoding: {report.get('encoding')}   "
        f"delimiter: {report.get('delimiter')!r}",
        file=out,
    )
    print(
        f"rows:        {report.get('rows', 0)}   customers: {report.get('customers', 0)}   "
        f"phone numbers: {report.get('phone_numbers', 0)}",
        file=out,
    )
    print(
        f"numbers:     {report.get('created', 0)} created, {report.get('updated', 0)} updated, "
        f"{report.get('unchanged', 0)} unchanged, {report.get('deleted', 0)} deleted",
        file=out,
    )
    if report.get("ignored_columns"):
        print(f"ignored columns: {', '.join(report['ignored_columns'])}", file=out)
    if report.get("deletions_skipped"):
        print(f"deletions skipped: {report['deletions_skipped']}", file=out)
    rejections = report.get("rejections") or []
    print(f"rejected:    {report.get('rejected', 0)} row(s)", file=out)
    for rejection in rejections:
        who = f" [{rejection['customer_id']}]" if rejection.get("customer_id") else ""
        print(f"  line {rejection['line']}{who}: {rejection['reason']}", file=out)
    if report.get("rejections_truncated"):
        print(f"  ... and {report['rejected'] - len(rejections)} more", file=out)


def run(path: str, stack_json: dict[str, Any]) -> int:
    file = Path(path)
    if not file.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 1
    try:
        report = upload_and_notify(stack_json, file, PREFIX + file.name)
    except urllib.error.HTTPError as error:
        print(
            f"the import failed: HTTP {error.code}: {error.read().decode(errors='replace')}", file=sys.stderr
        )
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"the local stack is not reachable ({error}); start it with `make run`", file=sys.stderr)
        return 1
    if not isinstance(report, dict):
        print(f"unexpected answer from the import: {report!r}", file=sys.stderr)
        return 1
    print_report(report)
    if report.get("status") == "failed" or (report.get("error") and not report.get("customers")):
        return 1
    return 2 if report.get("rejected") else 0

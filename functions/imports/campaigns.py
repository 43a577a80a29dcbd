"""``campaigns/*.csv`` in the imports bucket -> debtor-campaign members in the dialer outbox.

``campaigns/dnc/*.csv`` is a do-not-call file instead (columns phone, reason, action).
The file is streamed (never loaded whole). Every bad row is reported with its line and reason:
in the returned report, in the receipt stored in the outbox table, and as a CSV written to
``reports/<key>.errors.csv`` in the same bucket when there is any. Raises only when AWS fails.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ringback.adapters import dialer_factory as factory
from ringback.adapters.campaigns_s3 import CampaignFileTooLarge, put_text, stream_object
from ringback.adapters.clock import SystemClock
from ringback.observability import logger, metrics
from ringback.services.campaign_import import (
    ImportReport,
    ImportSettings,
    decoded_lines,
    import_campaign_csv,
    import_dnc_csv,
)

DNC_PREFIX = "campaigns/dnc/"


def _errors_csv(report: ImportReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason"])
    for problem in report.bad_rows:
        writer.writerow([problem.line if problem.line is not None else "", problem.reason])
    for text in report.receipt.file_problems:
        writer.writerow(["", text])
    return out.getvalue()


def import_campaign(bucket: str, key: str) -> dict[str, Any]:
    settings = factory.settings()
    file_name = key.rsplit("/", 1)[-1]
    try:
        lines = decoded_lines(stream_object(bucket, key))
        if key.startswith(DNC_PREFIX):
            report = import_dnc_csv(
                lines,
                file_name,
                factory.dnc(),
                SystemClock(),
                default_region=settings.default_region,
                receipts=factory.receipts(),
            )
        else:
            report = import_campaign_csv(
                lines,
                file_name,
                factory.outbox(),
                SystemClock(),
                factory.config_source().load(),
                settings=ImportSettings(
                    default_region=settings.default_region,
                    calling_window=settings.campaign_calling_window,
                    default_expiry_days=settings.campaign_default_expiry_days,
                    time_horizon_days=settings.campaign_time_horizon_days,
                    timezone_ids=dict(settings.webitel_timezone_ids),
                ),
                dnc=factory.dnc(),
                receipts=factory.receipts(),
            )
    except CampaignFileTooLarge as error:
        logger.error("campaign file refused", extra={"key": key, "error": str(error)})
        return {"key": key, "file_problems": [str(error)], "totals": {}}
    result = report.to_dict()
    if report.bad_rows or report.receipt.file_problems:
        errors_key = f"reports/{key}.errors.csv"
        put_text(bucket, errors_key, _errors_csv(report))
        result["errors_report"] = f"s3://{bucket}/{errors_key}"
    totals = report.receipt.totals()
    metrics.add_metric(name="CampaignRowsImported", unit="Count", value=totals.get("imported", 0))
    metrics.add_metric(name="CampaignRowsBad", unit="Count", value=totals.get("bad_rows", 0))
    return result

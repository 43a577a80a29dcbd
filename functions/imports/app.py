"""ImportFunction: CSV exports dropped into the imports bucket become customers or dialer members.

``customers/*.csv`` replaces the customer directory the routing lookup answers from;
``campaigns/*.csv`` adds debtor-campaign members to the dialer outbox. Each import returns a
report with every rejected row (line number and reason); the rest is imported.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.observability import logger, metrics


def _importer(key: str) -> Any:
    # Imported on demand: one import kind never pays for the other's modules.
    if key.startswith("customers/"):
        from customers import import_customers

        return import_customers
    if key.startswith("campaigns/"):
        from campaigns import import_campaign

        return import_campaign
    return None


@logger.inject_lambda_context
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    reports: list[dict[str, Any]] = []
    for record in event.records:
        bucket, key = record.s3.bucket.name, unquote_plus(record.s3.get_object.key)
        importer = _importer(key)
        if importer is None:
            logger.warning("no importer for this key", extra={"key": key})
            reports.append({"key": key, "error": "no importer for this prefix"})
            continue
        report = importer(bucket, key)
        logger.info(
            "import finished",
            extra={"key": key, "summary": {k: v for k, v in report.items() if isinstance(v, (int, str))}},
        )
        reports.append({"key": key, **report})
    return reports[0] if len(reports) == 1 else {"reports": reports}

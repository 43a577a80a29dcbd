"""Customer exports dropped into the imports bucket (``customers/*.csv``) become the directory.

``customers/<name>.csv`` replaces the directory with the file (full snapshot);
``customers/upsert/<name>.csv`` only adds and updates. The lead's ``app.py`` dispatches S3
events here; the report is returned (and logged without phone numbers).
"""

from __future__ import annotations

from typing import Any

from ringback.adapters.customers_dynamo import DynamoCustomerStore, import_client
from ringback.adapters.customers_s3 import read_export
from ringback.config import get_settings
from ringback.observability import metrics
from ringback.services.customer_import import CustomerImport, ImportMode

UPSERT_PREFIX = "customers/upsert/"


def import_customers(bucket: str, key: str) -> dict[str, Any]:
    """Import ``s3://bucket/key`` and return the import report as a dict."""
    settings = get_settings()
    mode = ImportMode.UPSERT if key.startswith(UPSERT_PREFIX) else ImportMode.FULL
    store = DynamoCustomerStore(settings.customers_table, import_client())
    report = CustomerImport(store, default_region=settings.default_region).run(
        read_export(bucket, key), source=f"s3://{bucket}/{key}", mode=mode
    )
    metrics.add_metric(name="CustomerRowsRejected", unit="Count", value=report.rejected)
    metrics.add_metric(name="CustomerNumbersWritten", unit="Count", value=report.created + report.updated)
    return report.to_dict()

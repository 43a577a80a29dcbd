"""Scratch DynamoDB tables with ringback's key shape (``pk`` / ``sk`` strings) on the session's
moto server, one new name per call: the integration tests share one server, so each test works
on tables of its own."""

from __future__ import annotations

import itertools
from typing import Any

PK_SK_TABLE: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "BillingMode": "PAY_PER_REQUEST",
}
_NAMES = itertools.count()


def new_table(client: Any, prefix: str) -> str:
    """Create a pk/sk table named ``<prefix>-<n>`` and return its name."""
    name = f"{prefix}-{next(_NAMES)}"
    client.create_table(TableName=name, **PK_SK_TABLE)
    return name

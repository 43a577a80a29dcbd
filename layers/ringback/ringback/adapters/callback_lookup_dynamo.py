"""Open callback requests of a number, from CallbacksTable's ``gsi1`` (``gsi1pk = "PHONE#<e164>"``,
``gsi1sk = "<created_at>#<id>"``, newest last; see ``domain.callback_status``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ringback.domain.callback_status import OPEN
from ringback.domain.routing import OpenCallback

_OPEN_VALUES = {f":s{i}": {"S": status.value} for i, status in enumerate(sorted(OPEN))}


class DynamoCallbackLookup:
    """Implements ``ports.callback_lookup.CallbackLookup``."""

    def __init__(
        self, table: str, client: Any, *, epoch: Callable[[], float] = time.time, max_pages: int = 3
    ) -> None:
        self._table = table
        self._client = client
        self._epoch = epoch
        self._max_pages = max_pages

    def find_open(self, e164: str) -> OpenCallback | None:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "FilterExpression": f"#s IN ({', '.join(_OPEN_VALUES)}) AND sk = :req",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":p": {"S": f"PHONE#{e164}"},
                ":req": {"S": "REQUEST"},
                **_OPEN_VALUES,
            },
            "ScanIndexForward": False,  # newest first
        }
        now = self._epoch()
        for _ in range(self._max_pages):
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                # DynamoDB deletes expired items up to days late: an expired request is not open.
                expires = item.get("expires_at", {}).get("N")
                if expires is not None and float(expires) <= now:
                    continue
                pk = item.get("pk", {}).get("S", "")
                status = item.get("status", {}).get("S", "")
                if pk.startswith("CB#"):
                    return OpenCallback(callback_id=pk.removeprefix("CB#"), status=status)
            if "LastEvaluatedKey" not in page:
                return None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return None

"""GuardTable: fixed-window counters, distinct-member caps and a shared status cache.

A submit's guards are folded per subject into one item per day (``domain.abuse.fold_guards``):
one conditional ``UpdateItem`` (``guard_item_update``) enforces the hourly and daily counters
and the distinct-numbers cap at once, so a refused limit consumes nothing on that item.
Items carry ``expires_at`` (TTL); moto never expires items, so the day is in the key.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ringback.domain.abuse import GuardItem, window_start
from ringback.ports.rate_limits import RateDecision

_TTL_SLACK_S = 300


def guard_item_update(table: str, item: GuardItem) -> dict[str, Any]:
    """One conditional ``UpdateItem`` that consumes every guard of ``item`` or none of them.

    ``ADD`` one to each counter and the member to each distinct set, on the condition that every
    counter is below its limit and every set has room or already holds the member. On a refusal
    the old item comes back (``ReturnValuesOnConditionCheckFailure``) so the caller can tell which
    window refused without another read; on success ``ALL_OLD`` says whether the member was
    new (what ``guard_item_release`` must give back).
    """
    adds: list[str] = []
    conditions: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {":one": {"N": "1"}, ":exp": {"N": str(item.expires_at + _TTL_SLACK_S)}}
    for index, guard in enumerate(item.guards):
        name, limit = f"#a{index}", f":l{index}"
        names[name] = item.attribute(guard)
        values[limit] = {"N": str(guard.limit)}
        if guard.kind == "counter":
            adds.append(f"{name} :one")
            conditions.append(f"(attribute_not_exists({name}) OR {name} < {limit})")
            continue
        if not guard.member:
            raise ValueError("a distinct guard needs a member")
        values[f":s{index}"] = {"SS": [guard.member]}
        values[f":m{index}"] = {"S": guard.member}
        adds.append(f"{name} :s{index}")
        conditions.append(
            f"(attribute_not_exists({name}) OR contains({name}, :m{index}) OR size({name}) < {limit})"
        )
    return {
        "TableName": table,
        "Key": {"pk": {"S": item.storage_key}},
        "UpdateExpression": f"ADD {', '.join(adds)} SET expires_at = if_not_exists(expires_at, :exp)",
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_OLD",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def guard_item_release(table: str, item: GuardItem, *, member_added: bool) -> dict[str, Any] | None:
    """The ``UpdateItem`` that gives back what ``guard_item_update`` took: each counter minus
    one, and the member out of its set only when this submit put it there (None: nothing)."""
    adds: list[str] = []
    deletes: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for index, guard in enumerate(item.guards):
        name = f"#a{index}"
        if guard.kind == "counter":
            names[name] = item.attribute(guard)
            values[":minus"] = {"N": "-1"}
            adds.append(f"{name} :minus")
        elif member_added and guard.member:
            names[name] = item.attribute(guard)
            values[f":s{index}"] = {"SS": [guard.member]}
            deletes.append(f"{name} :s{index}")
    if not names:
        return None
    expression = (f"ADD {', '.join(adds)}" if adds else "") + (
        f" DELETE {', '.join(deletes)}" if deletes else ""
    )
    return {
        "TableName": table,
        "Key": {"pk": {"S": item.storage_key}},
        "UpdateExpression": expression.strip(),
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def stored_counts(attributes: dict[str, Any]) -> dict[str, object]:
    """Counter and set attributes of a guard item as ``GuardItem.exhausted`` reads them."""
    decoded: dict[str, object] = {}
    for name, value in attributes.items():
        if "N" in value:
            decoded[name] = int(value["N"])
        elif "SS" in value:
            decoded[name] = frozenset(value["SS"])
    return decoded


def _conditional_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoRateLimiter:
    """Implements ``ports.rate_limits.RateLimiter`` with one conditional UpdateItem per hit."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client

    def hit(self, key: str, *, limit: int, window_s: int, now: datetime) -> RateDecision:
        start = window_start(now, window_s)
        end = start + timedelta(seconds=window_s)
        retry = max(math.ceil((end - now).total_seconds()), 1)
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RL#{key}#{int(start.timestamp())}"}},
                UpdateExpression="ADD n :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":exp": {"N": str(int(end.timestamp()) + _TTL_SLACK_S)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if _conditional_failed(error):
                return RateDecision(False, limit, retry)
            raise
        return RateDecision(True, int(answer["Attributes"]["n"]["N"]), 0)


# Kept here for existing imports; it lives in its own module so the page-view path stays lean.
from ringback.adapters.shared_cache_dynamo import DynamoSharedCache  # noqa: E402

__all__ = ["DynamoRateLimiter", "DynamoSharedCache", "guard_item_release", "guard_item_update"]

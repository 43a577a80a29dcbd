"""A number's open-request pointer in CallbacksTable: ``pk = "OPEN#<e164>"``, ``sk = "LOCK"``,
``callback_id`` (the open request) and ``lock_until`` (epoch seconds; past it the pointer is void).

The callbacks API takes it when it accepts a request (one open request per number) and the
routing lookup reads it to say ``pending_callback``. Whatever ends a request (a terminal status)
must release it: :func:`release_pointer` deletes it only while it still names that request, so a
late event for an old request never frees a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

LOCK_SK = "LOCK"


def lock_key(e164: str) -> dict[str, Any]:
    """Key of a number's open-request pointer."""
    return {"pk": {"S": f"OPEN#{e164}"}, "sk": {"S": LOCK_SK}}


def phone_of_request(item: Mapping[str, Any]) -> str | None:
    """The E.164 number of a stored request item (``gsi1pk = "PHONE#<e164>"``)."""
    gsi1pk = item.get("gsi1pk", {}).get("S", "")
    if gsi1pk.startswith("PHONE#"):
        return str(gsi1pk.removeprefix("PHONE#"))
    phone = item.get("phone", {}).get("S")
    return str(phone) if phone else None


def release_pointer(client: Any, table: str, e164: str, callback_id: str) -> bool:
    """Delete the number's pointer if it names ``callback_id``; True when it was deleted."""
    try:
        client.delete_item(
            TableName=table,
            Key=lock_key(e164),
            ConditionExpression="callback_id = :id",
            ExpressionAttributeValues={":id": {"S": callback_id}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False  # gone already, or it names a newer request
        raise
    return True

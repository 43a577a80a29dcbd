"""The routing lookup's read: one DynamoDB round trip for everything the answer needs.

One ``BatchGetItem`` fetches the caller's directory entry (CustomersTable, ``pk =
"PHONE#<e164>"``) and the number's open-request pointer (CallbacksTable, ``pk =
"OPEN#<e164>"``, ``sk = "LOCK"``, attributes ``callback_id`` and ``lock_until`` epoch seconds;
see ``adapters.callback_pointer``), and, when a GuardTable is configured, the IVR offer
snapshot (GuardTable ``pk = "CACHE#IVR#OFFER"``, ``domain.ivr``). The number has a pending callback when the pointer exists
and ``lock_until`` is still ahead: the callbacks API takes it when a request is accepted, and
what ends a request (cancel, erasure, a terminal status from Webitel's events) deletes it while
it still names that request.

Clients are botocore clients from one session, with connect/read timeouts of the routing budget
and one retry at most (:func:`routing_client`): ``import boto3`` (s3transfer, the resource
layer) costs the routing function's cold start for nothing it uses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from ringback.adapters.callback_pointer import lock_key
from ringback.adapters.customers_dynamo import entry_from_item
from ringback.domain.customers import PK_PREFIX
from ringback.domain.ivr import SNAPSHOT_KEY, OfferSnapshot, snapshot_from_json
from ringback.domain.routing import CallerRecord, OpenCallback

# Unprocessed keys are asked for again after these pauses while the budget allows.
_RETRY_PAUSES_S = (0.005, 0.01, 0.02, 0.04, 0.08)


def routing_client(service: str, budget_ms: int) -> Any:
    """A low-level client for reads that must finish within ``budget_ms``.

    One retry at most, and connect/read timeouts of the budget itself, so a thread stuck on a
    silent socket frees itself soon after the request's deadline has already answered.
    ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` (the local stack, the fault tests)
    apply as with boto3.
    """
    from botocore.config import Config

    budget_s = max(budget_ms / 1000, 0.05)
    config = Config(
        connect_timeout=budget_s,
        read_timeout=budget_s,
        tcp_keepalive=True,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return _session().create_client(service, config=config)


@lru_cache(maxsize=1)
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


class DynamoCallerLookup:
    """Implements ``ports.caller_lookup.CallerLookup``."""

    def __init__(
        self,
        customers_table: str,
        callbacks_table: str,
        client: Any,
        *,
        epoch: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        guard_table: str = "",
    ) -> None:
        self._guard = guard_table
        self._customers = customers_table
        self._callbacks = callbacks_table
        self._client = client
        self._epoch = epoch
        self._sleep = sleep

    def read(self, e164: str, *, callbacks: bool, remaining: Callable[[], float]) -> CallerRecord:
        customer_key = {"pk": {"S": PK_PREFIX + e164}}
        if not callbacks or not self._callbacks:
            return CallerRecord(self._get_entry(customer_key), None, callback_read=False)
        pointer_key = lock_key(e164)
        offer_key = {"pk": {"S": f"CACHE#{SNAPSHOT_KEY}"}} if self._guard else None
        try:
            try:
                items, unread = self._batch_get(customer_key, pointer_key, remaining, offer_key)
            except ClientError:
                if offer_key is None or remaining() <= 0:
                    raise
                # The GuardTable refused (missing, not allowed): the answer without the offer.
                items, unread = self._batch_get(customer_key, pointer_key, remaining)
        except ClientError:
            # A refusal that concerns one table (the callbacks table missing or not allowed)
            # fails the whole batch: the directory alone still answers, if time allows.
            if remaining() <= 0:
                raise
            return CallerRecord(self._get_entry(customer_key), None, callback_read=False)
        if "customer" in unread:
            raise TimeoutError("the directory entry stayed unprocessed within the budget")
        entry_item = items.get("customer")
        return CallerRecord(
            entry_from_item(entry_item) if entry_item else None,
            self._open_callback(items.get("pointer")),
            callback_read="pointer" not in unread,
            offer=_offer(items.get("offer")),
        )

    def _get_entry(self, key: dict[str, Any]) -> Any:
        item = self._client.get_item(TableName=self._customers, Key=key).get("Item")
        return entry_from_item(item) if item else None

    def _batch_get(
        self,
        customer_key: dict[str, Any],
        pointer_key: dict[str, Any],
        remaining: Callable[[], float],
        offer_key: dict[str, Any] | None = None,
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The items by role (``customer``, ``pointer``, ``offer``) and the roles left unprocessed."""
        wanted = {"customer": (self._customers, customer_key), "pointer": (self._callbacks, pointer_key)}
        if offer_key is not None:
            wanted["offer"] = (self._guard, offer_key)
        found: dict[str, dict[str, Any]] = {}
        unread = set(wanted)
        pauses = iter(_RETRY_PAUSES_S)
        while True:
            request: dict[str, Any] = {}
            for role in sorted(unread):
                table, key = wanted[role]
                request.setdefault(table, {"Keys": []})["Keys"].append(key)
            response = self._client.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    for role, (wanted_table, key) in wanted.items():
                        if table == wanted_table and _same_key(key, item):
                            found[role] = item
            left = response.get("UnprocessedKeys") or {}
            unread = {
                role
                for role, (table, key) in wanted.items()
                if any(_same_key(key, k) for k in left.get(table, {}).get("Keys", []))
            }
            pause = next(pauses, None)
            if not unread or pause is None or remaining() <= pause:
                return found, unread
            self._sleep(pause)

    def _open_callback(self, item: dict[str, Any] | None) -> OpenCallback | None:
        if not item:
            return None
        callback_id = item.get("callback_id", {}).get("S")
        until = item.get("lock_until", {}).get("N")
        if not callback_id or until is None or float(until) <= self._epoch():
            return None  # an expired pointer: the request it named is no longer open
        pending = item.get("pending_until", {}).get("N")
        if pending is not None and float(pending) <= self._epoch():
            return None  # taken by a submit that died before storing its request
        return OpenCallback(callback_id=callback_id)


def _offer(item: dict[str, Any] | None) -> OfferSnapshot | None:
    """The offer snapshot of its GuardTable item (``DynamoSharedCache`` layout); None if absent."""
    if not item or "value" not in item or "fetched_at" not in item:
        return None
    try:
        value = json.loads(item["value"]["S"])
        fetched_at = int(item["fetched_at"]["N"])
    except (KeyError, TypeError, ValueError):
        return None
    return snapshot_from_json(value, fetched_at) if isinstance(value, dict) else None


def _same_key(key: dict[str, Any], other: dict[str, Any]) -> bool:
    return all(other.get(name) == value for name, value in key.items())

"""The dialer outbox, its receipts and the do-not-call list in DialerOutboxTable.

Items (see domain/outbox.py and domain/receipts.py for the conventions):

- entry: ``pk = "OUT#<entry_id>"``, ``sk = "ENTRY"``; while pending or claimed it carries
  ``gsi1pk = "DUE#<queue_id>#<shard>"`` and ``gsi1sk = "<due ISO>#<entry_id>"``, where *due* is
  ``due_at`` for a pending entry and ``claim_until`` for a claimed one, so an entry whose
  holder died becomes due again when its lease ends. Every state change is a conditional
  write on the base table (the index is eventually consistent and only a hint). The index
  key is spread over ``DUE_SHARDS`` shards (a stable hash of the entry id): one queue's whole
  campaign under one key would be one GSI partition, and its writes (each add, claim and
  settle moves the index entry) past DynamoDB's 1,000 writes/s per partition at a large
  import or 100x the callback rate, which throttles the base table too (docs/scaling.md).
  Readers query every shard and merge by due time; ``DUE#<queue_id>`` (before the sharding)
  is read as well. A cancelled entry with a pending stop order carries
  ``gsi1pk = "STOP#<queue_id>"`` and ``gsi1sk = "<stop due ISO>#<entry_id>"`` instead (no TTL
  until the order is settled; stop orders are rare, so that key is not sharded).
- receipt: ``pk = "RUN#<run_id>"``, ``sk = "RECEIPT"``, ``gsi1pk = "RUNS"``.
- do-not-call number: ``pk = "DNC#<e164>"``, ``sk = "DNC"``.

Settled entries (delivered, rejected, cancelled, expired) and receipts get the table's TTL
attribute ``expires_at`` (epoch seconds) ``retention_days`` ahead; pending ones never do.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ringback.adapters.aws import client
from ringback.domain.outbox import OutboxEntry, OutboxState, cancelled
from ringback.domain.webitel import MemberItem
from ringback.ports.clock import Clock

if TYPE_CHECKING:  # the receipt models load with the dialer's receipts, not with a submit
    from ringback.domain.receipts import Receipt

_ENTRY_SK = "ENTRY"
_RECEIPT_SK = "RECEIPT"
_DNC_SK = "DNC"
_RUNS = "RUNS"
_TRANSACTION_LIMIT = 100
_BATCH_GET_LIMIT = 100
# How many index items the pending-age query looks at (the oldest-due ones).
_AGE_SAMPLE = 200


def iso(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order (index sort keys, conditions)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def entry_key(entry_id: str) -> dict[str, Any]:
    return {"pk": _s(f"OUT#{entry_id}"), "sk": _s(_ENTRY_SK)}


def _due_sk(moment: datetime, entry_id: str) -> str:
    return f"{iso(moment)}#{entry_id}"


DUE_SHARDS = 8


def due_pk(queue_id: str, entry_id: str) -> str:
    """The index partition of one entry of ``queue_id``."""
    return f"DUE#{queue_id}#{zlib.crc32(entry_id.encode()) % DUE_SHARDS}"


def due_pks(queue_id: str) -> list[str]:
    """Every index partition of ``queue_id``: the shards, then the one from before sharding."""
    return [f"DUE#{queue_id}#{shard}" for shard in range(DUE_SHARDS)] + [f"DUE#{queue_id}"]


class DynamoDialerOutbox:
    """Implements ``ports.outbox.DialerOutbox``."""

    def __init__(
        self, table: str, *, retention_days: int = 90, dynamodb: Any = None, clock: Clock | None = None
    ) -> None:
        if not table:
            raise ValueError("the outbox table name is not configured")
        self._table = table
        # When stop orders are armed (a test's clock; the system's otherwise).
        self._now: Callable[[], datetime] = clock.now if clock is not None else lambda: datetime.now(UTC)
        self._retention = timedelta(days=retention_days)
        self._ddb = dynamodb if dynamodb is not None else client("dynamodb")

    # -- mapping --------------------------------------------------------------------------

    def _item(self, entry: OutboxEntry, *, ready_since: datetime | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {
            **entry_key(entry.entry_id),
            "entry_id": _s(entry.entry_id),
            "source": _s(entry.source),
            "source_id": _s(entry.source_id),
            "queue_id": _s(entry.queue_id),
            "member": _s(json.dumps(entry.member.to_wire(), separators=(",", ":"))),
            "due_at": _s(iso(entry.due_at)),
            "state": _s(entry.state.value),
            "attempts": {"N": str(entry.attempts)},
            "outcome_unknown": {"BOOL": entry.outcome_unknown},
            "file_name": _s(entry.file_name),
            "ready_since": _s(iso(ready_since or entry.due_at)),
        }
        if entry.expires_at is not None:
            item["valid_until"] = _s(iso(entry.expires_at))
        if entry.webitel_member_id is not None:
            item["webitel_member_id"] = _s(entry.webitel_member_id)
        if entry.last_error is not None:
            item["last_error"] = _s(entry.last_error)
        if entry.line is not None:
            item["line"] = {"N": str(entry.line)}
        if entry.state == OutboxState.CLAIMED and entry.claim_until is not None and entry.claim_owner:
            item["claim_owner"] = _s(entry.claim_owner)
            item["claim_until"] = _s(iso(entry.claim_until))
            item["gsi1pk"] = _s(due_pk(entry.queue_id, entry.entry_id))
            item["gsi1sk"] = _s(_due_sk(entry.claim_until, entry.entry_id))
        elif entry.state == OutboxState.PENDING:
            item["gsi1pk"] = _s(due_pk(entry.queue_id, entry.entry_id))
            item["gsi1sk"] = _s(_due_sk(entry.due_at, entry.entry_id))
        elif entry.member_stop == "pending" and entry.stop_due_at is not None:
            item["gsi1pk"] = _s(f"STOP#{entry.queue_id}")
            item["gsi1sk"] = _s(_due_sk(entry.stop_due_at, entry.entry_id))
        if entry.member_stop is not None:
            item["member_stop"] = _s(entry.member_stop)
            item["stop_attempts"] = {"N": str(entry.stop_attempts)}
        if entry.stop_due_at is not None:
            item["stop_due_at"] = _s(iso(entry.stop_due_at))
        if entry.erased:
            item["erased"] = {"BOOL": True}
        if entry.state in (OutboxState.CANCELLED, OutboxState.EXPIRED) and entry.member_stop != "pending":
            item["expires_at"] = self._ttl()
        return item

    @staticmethod
    def _entry(item: dict[str, Any]) -> OutboxEntry:
        def text(name: str) -> str | None:
            value = item.get(name)
            return value["S"] if value else None

        return OutboxEntry(
            entry_id=item["entry_id"]["S"],
            source=item["source"]["S"],
            source_id=item["source_id"]["S"],
            queue_id=item["queue_id"]["S"],
            member=MemberItem.model_validate_json(item["member"]["S"]),
            due_at=_from_iso(item["due_at"]["S"]),
            expires_at=_from_iso(text("valid_until")),
            state=OutboxState(item["state"]["S"]),
            webitel_member_id=text("webitel_member_id"),
            attempts=int(item.get("attempts", {"N": "0"})["N"]),
            last_error=text("last_error"),
            claim_owner=text("claim_owner"),
            claim_until=_from_iso(text("claim_until")),
            file_name=text("file_name") or "",
            outcome_unknown=bool(item.get("outcome_unknown", {"BOOL": False})["BOOL"]),
            line=int(item["line"]["N"]) if "line" in item else None,
            member_stop=text("member_stop"),
            stop_due_at=_from_iso(text("stop_due_at")),
            stop_attempts=int(item.get("stop_attempts", {"N": "0"})["N"]),
            erased=bool(item.get("erased", {"BOOL": False})["BOOL"]),
        )

    def _ttl(self) -> dict[str, str]:
        return {"N": str(int((datetime.now(UTC) + self._retention).timestamp()))}

    def _update(
        self,
        entry_id: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        *,
        names: dict[str, str] | None = None,
        returns: str = "NONE",
    ) -> dict[str, Any] | None:
        """One conditional update; None when the condition failed."""
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key=entry_key(entry_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    **({"#s": "state"} if "#s" in update + condition else {}),
                    **(names or {}),
                },
                ExpressionAttributeValues=values,
                ReturnValues=returns,
            )
        except ClientError as error:
            if _conditional_failed(error):
                return None
            raise
        attributes: dict[str, Any] = answer.get("Attributes", {})
        return attributes

    # -- adding ---------------------------------------------------------------------------

    def add(self, entry: OutboxEntry) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table, Item=self._item(entry), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def add_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        """Conditional puts, 100 per transaction; an existing id cancels only its own put."""
        results: list[bool] = []
        for start in range(0, len(entries), _TRANSACTION_LIMIT):
            results.extend(self._add_chunk(entries[start : start + _TRANSACTION_LIMIT]))
        return results

    def _add_chunk(self, chunk: Sequence[OutboxEntry]) -> list[bool]:
        outcome: dict[int, bool] = {}
        todo = list(range(len(chunk)))
        for _ in range(len(chunk) + 1):
            if not todo:
                break
            if len(todo) == 1:
                outcome[todo[0]] = self.add(chunk[todo[0]])
                break
            try:
                self._ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": self._item(chunk[index]),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                        for index in todo
                    ]
                )
            except ClientError as error:
                reasons = error.response.get("CancellationReasons")
                if (
                    error.response.get("Error", {}).get("Code") != "TransactionCanceledException"
                    or not reasons
                ):
                    raise
                failed = [
                    index
                    for index, reason in zip(todo, reasons, strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                ]
                if not failed:
                    raise
                for index in failed:
                    outcome[index] = False
                todo = [index for index in todo if index not in outcome]
                continue
            for index in todo:
                outcome[index] = True
            todo = []
        return [outcome[index] for index in range(len(chunk))]

    def get(self, entry_id: str) -> OutboxEntry | None:
        answer = self._ddb.get_item(TableName=self._table, Key=entry_key(entry_id), ConsistentRead=True)
        item = answer.get("Item")
        return self._entry(item) if item else None

    # -- claiming -------------------------------------------------------------------------

    def _claim_one(
        self, entry_id: str, now: datetime, lease_s: int, owner: str, *, looks_pending: bool, due_only: bool
    ) -> OutboxEntry | None:
        until = now + timedelta(seconds=lease_s)
        values = {
            ":claimed": _s(OutboxState.CLAIMED.value),
            ":owner": _s(owner),
            ":until": _s(iso(until)),
        }
        update = "SET #s = :claimed, claim_owner = :owner, claim_until = :until, gsi1sk = :sk"
        # The index only hints at the state: try the likely condition first, then the other.
        for kind in ("pending", "expired") if looks_pending else ("expired", "pending"):
            if kind == "pending":
                condition = "#s = :pending" + (" AND due_at <= :now" if due_only else "")
                extra: dict[str, Any] = {":pending": _s(OutboxState.PENDING.value)}
                if due_only:
                    extra[":now"] = _s(iso(now))
                this_update = update
            else:
                # Taken over from a holder whose lease ended: it may have sent before dying.
                condition = "#s = :claimed AND claim_until < :now"
                extra = {":true": {"BOOL": True}, ":now": _s(iso(now))}
                this_update = update + ", outcome_unknown = :true"
            item = self._update(
                entry_id,
                this_update,
                condition,
                {**values, **extra, ":sk": _s(_due_sk(until, entry_id))},
                returns="ALL_NEW",
            )
            if item:
                return self._entry(item)
        return None

    def claim_due(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        """Claim up to ``limit`` due entries, the longest-due first across every index shard."""
        claimed: list[OutboxEntry] = []
        # Per shard: where its next page starts (None: from the beginning; absent: exhausted).
        cursors: dict[str, dict[str, Any] | None] = dict.fromkeys(due_pks(queue_id))
        for _ in range(10):
            candidates: list[tuple[str, str, bool]] = []
            for pk, start_key in list(cursors.items()):
                query: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk <= :upto",
                    "ExpressionAttributeValues": {":pk": _s(pk), ":upto": _s(f"{iso(now)}#~")},
                    "ProjectionExpression": "entry_id, #s, gsi1sk",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "Limit": max(limit * 2, 10),
                }
                if start_key:
                    query["ExclusiveStartKey"] = start_key
                answer = self._ddb.query(**query)
                candidates += [
                    (
                        item["gsi1sk"]["S"],
                        item["entry_id"]["S"],
                        item["state"]["S"] == OutboxState.PENDING.value,
                    )
                    for item in answer.get("Items", [])
                ]
                if answer.get("LastEvaluatedKey"):
                    cursors[pk] = answer["LastEvaluatedKey"]
                else:
                    del cursors[pk]
            for _, entry_id, looks_pending in sorted(candidates):
                entry = self._claim_one(
                    entry_id, now, lease_s, owner, looks_pending=looks_pending, due_only=True
                )
                if entry is not None:
                    claimed.append(entry)
                    if len(claimed) >= limit:
                        return claimed
            if not cursors:
                break
        return claimed

    def claim(
        self, entry_ids: Sequence[str], now: datetime, *, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        claimed = []
        for entry_id in entry_ids:
            entry = self._claim_one(entry_id, now, lease_s, owner, looks_pending=True, due_only=False)
            if entry is not None:
                claimed.append(entry)
        return claimed

    # -- settling -------------------------------------------------------------------------

    def mark_delivered(self, entry_id: str, webitel_member_id: str, *, owner: str) -> OutboxState | None:
        old = self._update(
            entry_id,
            "SET #s = :delivered, webitel_member_id = :member, outcome_unknown = :false, "
            "delivered_by = :owner, expires_at = :ttl "
            "REMOVE gsi1pk, gsi1sk, claim_owner, claim_until",
            "#s IN (:pending, :claimed)",
            {
                ":delivered": _s(OutboxState.DELIVERED.value),
                ":member": _s(webitel_member_id),
                ":false": {"BOOL": False},
                ":owner": _s(owner),
                ":ttl": self._ttl(),
                ":pending": _s(OutboxState.PENDING.value),
                ":claimed": _s(OutboxState.CLAIMED.value),
            },
            returns="ALL_OLD",
        )
        if old:
            return OutboxState(old["state"]["S"])
        current = self.get(entry_id)
        if current is None:
            return None
        if current.state == OutboxState.CANCELLED:
            # Sent although cancelled meanwhile: (re-)arm the stop order with the member, due now.
            now = self._now()
            self._update(
                entry_id,
                "SET webitel_member_id = if_not_exists(webitel_member_id, :member), member_stop = :pending, "
                "stop_due_at = :now, gsi1pk = :pk, gsi1sk = :sk, "
                "stop_attempts = if_not_exists(stop_attempts, :zero) REMOVE expires_at",
                "#s = :cancelled",
                {
                    ":member": _s(webitel_member_id),
                    ":cancelled": _s(OutboxState.CANCELLED.value),
                    ":pending": _s("pending"),
                    ":now": _s(iso(now)),
                    ":pk": _s(f"STOP#{current.queue_id}"),
                    ":sk": _s(_due_sk(now, entry_id)),
                    ":zero": {"N": "0"},
                },
            )
        return current.state

    def _close_held(
        self, entry_id: str, owner: str, state: OutboxState, extra_set: str, values: dict[str, Any]
    ) -> None:
        self._update(
            entry_id,
            f"SET #s = :state, expires_at = :ttl{extra_set} REMOVE gsi1pk, gsi1sk, claim_owner, claim_until",
            "#s = :claimed AND claim_owner = :owner",
            {
                ":state": _s(state.value),
                ":ttl": self._ttl(),
                ":owner": _s(owner),
                ":claimed": _s(OutboxState.CLAIMED.value),
                **values,
            },
        )

    def mark_rejected(self, entry_id: str, reason: str, *, owner: str) -> None:
        self._close_held(
            entry_id,
            owner,
            OutboxState.REJECTED,
            ", last_error = :reason, outcome_unknown = :false",
            {":reason": _s(reason[:2000]), ":false": {"BOOL": False}},
        )

    def mark_expired(self, entry_id: str, *, owner: str) -> None:
        self._close_held(entry_id, owner, OutboxState.EXPIRED, "", {})

    def release(
        self, entry_id: str, *, owner: str, error: str, retry_at: datetime, outcome_unknown: bool = False
    ) -> None:
        update = (
            "SET #s = :pending, due_at = :due, gsi1sk = :sk, last_error = :error, "
            "attempts = if_not_exists(attempts, :zero) + :one"
        )
        values: dict[str, Any] = {
            ":pending": _s(OutboxState.PENDING.value),
            ":due": _s(iso(retry_at)),
            ":sk": _s(_due_sk(retry_at, entry_id)),
            ":error": _s(error[:2000] or "released"),
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":owner": _s(owner),
            ":claimed": _s(OutboxState.CLAIMED.value),
        }
        if outcome_unknown:
            update += ", outcome_unknown = :true"
            values[":true"] = {"BOOL": True}
        self._update(
            entry_id,
            update + " REMOVE claim_owner, claim_until",
            "#s = :claimed AND claim_owner = :owner",
            values,
        )

    def defer(self, entry_id: str, *, owner: str, until: datetime, reason: str) -> None:
        self._update(
            entry_id,
            "SET #s = :pending, due_at = :due, gsi1sk = :sk, ready_since = :due, last_error = :reason "
            "REMOVE claim_owner, claim_until",
            "#s = :claimed AND claim_owner = :owner",
            {
                ":pending": _s(OutboxState.PENDING.value),
                ":due": _s(iso(until)),
                ":sk": _s(_due_sk(until, entry_id)),
                ":reason": _s(reason),
                ":owner": _s(owner),
                ":claimed": _s(OutboxState.CLAIMED.value),
            },
        )

    def replace(self, entry: OutboxEntry, *, expected: OutboxState) -> bool:
        stored = entry.model_copy(update={"state": expected})
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(stored),
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":expected": _s(expected.value)},
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def cancel(
        self, entry_id: str, *, reason: str = "cancelled", owner: str | None = None, erase: bool = False
    ) -> OutboxEntry | None:
        for _ in range(5):
            raw = self._ddb.get_item(TableName=self._table, Key=entry_key(entry_id), ConsistentRead=True)
            item = raw.get("Item")
            if not item:
                return None
            current = self._entry(item)
            after = cancelled(current, reason=reason, now=self._now(), owner=owner, erase=erase)
            if after is None:
                return current
            if self._put_if_unchanged(after, item):
                return current
        raise RuntimeError(f"outbox entry {entry_id} kept changing while being cancelled")

    def _put_if_unchanged(self, entry: OutboxEntry, seen: dict[str, Any]) -> bool:
        """Write ``entry`` if the stored item still has the state, claim and member it was read with."""
        names = {"#s": "state"}
        values: dict[str, Any] = {":state": seen["state"]}
        parts = ["#s = :state"]
        for name in ("claim_owner", "claim_until", "webitel_member_id", "member_stop", "stop_due_at"):
            if name in seen:
                parts.append(f"{name} = :{name}")
                values[f":{name}"] = seen[name]
            else:
                parts.append(f"attribute_not_exists({name})")
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(entry),
                ConditionExpression=" AND ".join(parts),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    # -- stop orders ------------------------------------------------------------------------

    def claim_stops(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        answer = self._ddb.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :upto",
            ExpressionAttributeValues={":pk": _s(f"STOP#{queue_id}"), ":upto": _s(f"{iso(now)}#~")},
            ProjectionExpression="entry_id",
            Limit=max(limit, 10),
        )
        until = now + timedelta(seconds=lease_s)
        taken: list[OutboxEntry] = []
        for found in answer.get("Items", []):
            entry_id = found["entry_id"]["S"]
            item = self._update(
                entry_id,
                "SET stop_due_at = :until, gsi1sk = :sk, stop_owner = :owner",
                "member_stop = :pending AND stop_due_at <= :now",
                {
                    ":until": _s(iso(until)),
                    ":sk": _s(_due_sk(until, entry_id)),
                    ":owner": _s(owner),
                    ":pending": _s("pending"),
                    ":now": _s(iso(now)),
                },
                returns="ALL_NEW",
            )
            if item:
                taken.append(self._entry(item))
                if len(taken) >= limit:
                    break
        return taken

    @staticmethod
    def _seen_order(entry: OutboxEntry) -> tuple[str, dict[str, Any]]:
        # The order as it was read: a re-arm meanwhile (a send that committed late) moves
        # ``stop_due_at``, so settling what was read never settles the re-armed order.
        if entry.stop_due_at is None:
            return "member_stop = :pending AND attribute_not_exists(stop_due_at)", {}
        return "member_stop = :pending AND stop_due_at = :seen", {":seen": _s(iso(entry.stop_due_at))}

    def arm_stop(self, entry_id: str, *, due: datetime) -> bool:
        queue = self._queue_of(entry_id)
        done = self._update(
            entry_id,
            "SET member_stop = :pending, stop_due_at = :due, gsi1pk = :pk, gsi1sk = :sk, "
            "stop_attempts = if_not_exists(stop_attempts, :zero)",
            "#s = :delivered AND (attribute_not_exists(member_stop) OR member_stop <> :pending)",
            {
                ":pending": _s("pending"),
                ":due": _s(iso(due)),
                ":pk": _s(f"STOP#{queue}"),
                ":sk": _s(_due_sk(due, entry_id)),
                ":zero": {"N": "0"},
                ":delivered": _s(OutboxState.DELIVERED.value),
            },
            returns="UPDATED_NEW",
        )
        return done is not None

    def stop_void(self, entry: OutboxEntry) -> None:
        condition, seen = self._seen_order(entry)
        self._update(
            entry.entry_id,
            "REMOVE member_stop, stop_due_at, gsi1pk, gsi1sk, stop_owner",
            condition + " AND #s = :delivered",
            {":pending": _s("pending"), ":delivered": _s(OutboxState.DELIVERED.value), **seen},
        )

    def stop_done(self, entry: OutboxEntry) -> None:
        condition, seen = self._seen_order(entry)
        self._update(
            entry.entry_id,
            "SET member_stop = :done, expires_at = :ttl REMOVE gsi1pk, gsi1sk, stop_due_at, stop_owner",
            condition,
            {":done": _s("done"), ":pending": _s("pending"), ":ttl": self._ttl(), **seen},
        )

    def stop_failed(self, entry: OutboxEntry, *, error: str, retry_at: datetime) -> None:
        condition, seen = self._seen_order(entry)
        entry_id = entry.entry_id
        self._update(
            entry_id,
            "SET stop_due_at = :due, gsi1sk = :sk, stop_error = :error, "
            "stop_attempts = if_not_exists(stop_attempts, :zero) + :one REMOVE stop_owner",
            condition,
            {
                ":due": _s(iso(retry_at)),
                ":sk": _s(_due_sk(retry_at, entry_id)),
                ":error": _s(error[:2000] or "failed"),
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":pending": _s("pending"),
                **seen,
            },
        )

    def requeue(self, entry_ids: Sequence[str], now: datetime) -> int:
        count = 0
        for entry_id in entry_ids:
            done = self._update(
                entry_id,
                "SET #s = :pending, due_at = :now, ready_since = :now, gsi1pk = :pk, gsi1sk = :sk, "
                "outcome_unknown = :false REMOVE expires_at",
                "#s = :rejected",
                {
                    ":pending": _s(OutboxState.PENDING.value),
                    ":now": _s(iso(now)),
                    ":pk": _s(due_pk(self._queue_of(entry_id), entry_id)),
                    ":sk": _s(_due_sk(now, entry_id)),
                    ":false": {"BOOL": False},
                    ":rejected": _s(OutboxState.REJECTED.value),
                },
                returns="UPDATED_NEW",
            )
            count += done is not None
        return count

    def _queue_of(self, entry_id: str) -> str:
        answer = self._ddb.get_item(
            TableName=self._table,
            Key=entry_key(entry_id),
            ProjectionExpression="queue_id",
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return str(item["queue_id"]["S"]) if item else "-"

    def oldest_due(self, queue_id: str, now: datetime) -> datetime | None:
        moments: list[datetime | None] = []
        for pk in due_pks(queue_id):
            answer = self._ddb.query(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": _s(pk)},
                ProjectionExpression="ready_since",
                Limit=_AGE_SAMPLE,
            )
            moments += [
                _from_iso(item["ready_since"]["S"])
                for item in answer.get("Items", [])
                if "ready_since" in item
            ]
        waiting = [moment for moment in moments if moment is not None and moment <= now]
        return min(waiting) if waiting else None

    def rejected(self, limit: int = 100) -> list[OutboxEntry]:
        """Rejected entries (for the re-drive command); a scan, for people, not hot paths."""
        found: list[OutboxEntry] = []
        paginator = self._ddb.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="sk = :sk AND #s = :rejected",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":sk": _s(_ENTRY_SK), ":rejected": _s(OutboxState.REJECTED.value)},
        ):
            found.extend(self._entry(item) for item in page.get("Items", []))
            if len(found) >= limit:
                break
        return found[:limit]


RECEIPT_SLOTS = 20


def receipt_slot_key(slot: int) -> dict[str, Any]:
    return {"pk": _s(f"RUNS#SLOT#{slot:02d}"), "sk": _s(_RECEIPT_SK)}


class DynamoReceipts:
    """Implements ``ports.receipts.ReceiptStore``."""

    def __init__(self, table: str, *, retention_days: int = 90, dynamodb: Any = None) -> None:
        self._table = table
        self._retention = timedelta(days=retention_days)
        self._ddb = dynamodb if dynamodb is not None else client("dynamodb")

    def save(self, receipt: Receipt) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": _s(f"RUN#{receipt.run_id}"),
                "sk": _s(_RECEIPT_SK),
                "gsi1pk": _s(_RUNS),
                "gsi1sk": _s(f"{iso(receipt.started_at)}#{receipt.run_id}"),
                "kind": _s(receipt.kind),
                "job": _s(receipt.job),
                "body": _s(receipt.model_dump_json()),
                "expires_at": {"N": str(int((datetime.now(UTC) + self._retention).timestamp()))},
            },
        )
        self._ring(receipt)

    def _ring(self, receipt: Receipt) -> None:
        """The console's ring of the newest receipts (read by key with its other aggregates):
        the next slot of ``RECEIPT_SLOTS``, taken with an atomic ``ADD`` on ``RUNS#SEQ``."""
        answer = self._ddb.update_item(
            TableName=self._table,
            Key={"pk": _s("RUNS#SEQ"), "sk": _s(_RECEIPT_SK)},
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        slot = int(answer["Attributes"]["n"]["N"]) % RECEIPT_SLOTS
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **receipt_slot_key(slot),
                "run_id": _s(receipt.run_id),
                "started_at": _s(iso(receipt.started_at)),
                "body": _s(receipt.model_dump_json()),
            },
        )

    def get(self, run_id: str) -> Receipt | None:
        answer = self._ddb.get_item(
            TableName=self._table, Key={"pk": _s(f"RUN#{run_id}"), "sk": _s(_RECEIPT_SK)}
        )
        item = answer.get("Item")
        from ringback.domain.receipts import Receipt

        return Receipt.model_validate_json(item["body"]["S"]) if item else None

    def recent(self, limit: int = 20) -> list[Receipt]:
        answer = self._ddb.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": _s(_RUNS)},
            ScanIndexForward=False,
            Limit=limit,
        )
        run_ids = [item["pk"]["S"].removeprefix("RUN#") for item in answer.get("Items", [])]
        return [receipt for run_id in run_ids if (receipt := self.get(run_id)) is not None]


class DynamoDoNotCall:
    """Implements ``ports.dnc.DoNotCallList``: one item per blocked E.164 number."""

    def __init__(self, table: str, *, dynamodb: Any = None) -> None:
        self._table = table
        self._ddb = dynamodb if dynamodb is not None else client("dynamodb")

    @staticmethod
    def _key(number: str) -> dict[str, Any]:
        return {"pk": _s(f"DNC#{number}"), "sk": _s(_DNC_SK)}

    def blocked(self, numbers: Iterable[str]) -> set[str]:
        wanted = sorted(set(numbers))
        found: set[str] = set()
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            keys: list[dict[str, Any]] = [self._key(n) for n in wanted[start : start + _BATCH_GET_LIMIT]]
            for _ in range(10):
                answer = self._ddb.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, "ProjectionExpression": "pk"}}
                )
                for item in answer.get("Responses", {}).get(self._table, []):
                    found.add(item["pk"]["S"].removeprefix("DNC#"))
                keys = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not keys:
                    break
            else:
                raise RuntimeError("do-not-call lookup: DynamoDB kept keys unprocessed")
        return found

    def add(self, number: str, *, reason: str, source: str) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **self._key(number),
                "reason": _s(reason or "do-not-call"),
                "source": _s(source),
                "added_at": _s(iso(datetime.now(UTC))),
            },
        )

    def remove(self, number: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=self._key(number))

"""CallbacksTable over the low-level DynamoDB client (implements ``ports.callbacks.CallbackRepository``).

Items (see ``domain/callback_status.py`` for the shared part of the convention):

- ``CB#<id>`` / ``REQUEST``: the request; ``gsi1pk = PHONE#<e164>``, ``gsi1sk = <created ISO>#<id>``;
  ``status`` / ``status_at`` are also advanced by the event fan-out; ``expires_at`` TTL.
- ``CB#<id>`` / ``CONSENT``: consent evidence; ``gsi1pk = CONSENT#<e164>``; own TTL.
- ``CB#<id>`` / ``REPEAT#<created ISO>#<repeat id>``: a repeat linked to the open request.
- ``OPEN#<e164>`` / ``LOCK``: which request of the number is open (``callback_id``,
  ``lock_until`` epoch s); makes "one open request per number" one conditional write.
- ``SLOTS#<operator day>`` / ``SLOT#<UTC start>``: ``booked`` count of a slot.

A submit is two round trips, each a few requests issued concurrently (the low-level client is
thread-safe): ``reserve`` (one conditional ``UpdateItem`` per folded GuardTable item, i.e. one for
the number and one for the client IP whatever the number of windows, plus the lock and the slot;
a refusal gives back what was taken) and then ``store`` (request and consent in one
``BatchWriteItem``) beside the conditional put of the outbox entry. No transactions: moto's
TransactWriteItems copies whole tables, and single-item writes let refusals name their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from ringback.adapters.dynamo import from_item, to_item
from ringback.adapters.rate_limits_dynamo import guard_item_release, guard_item_update, stored_counts
from ringback.domain.abuse import Guard, GuardItem, fold_guards
from ringback.domain.callback_status import CallbackStatus, may_advance
from ringback.domain.callbacks import CallbackRecord, RepeatRecord
from ringback.domain.consent import ConsentEvidence
from ringback.domain.schedule import slot_key as slot_key_of
from ringback.ports.callbacks import Reservation, SlotBooking, WriteRefused

_REQUEST = "REQUEST"
_CONSENT = "CONSENT"
_LOCK = "LOCK"
# How long a lock ``reserve`` took stays valid before ``store`` commits it: far longer than the
# function may run (10 s), so a live submit never loses it; a dead one's lock is void after it.
PENDING_LOCK_S = 60
# The conditional writes of one submit run concurrently (the low-level client is thread-safe).
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="callbacks-ddb")


class _Outcome(NamedTuple):
    taken: bool
    attributes: dict[str, Any]  # the item before the write (ALL_OLD), taken or not


def _member_added(item: GuardItem, old: dict[str, Any]) -> bool:
    """Whether a taken counter update put the submit's member into a distinct set."""
    for guard in item.guards:
        if guard.kind == "distinct" and guard.member:
            return guard.member not in old.get(item.attribute(guard), {}).get("SS", [])
    return False


def _first_refused(items: Sequence[GuardItem], outcomes: Sequence[_Outcome]) -> Guard:
    return next(item.guards[0] for item, outcome in zip(items, outcomes, strict=True) if not outcome.taken)


def _error_of(call: Callable[[], object]) -> Exception | None:
    try:
        call()
    except Exception as error:
        return error
    return None


def _pk(callback_id: str) -> str:
    return f"CB#{callback_id}"


def _lock_key(e164: str) -> dict[str, Any]:
    return {"pk": {"S": f"OPEN#{e164}"}, "sk": {"S": _LOCK}}


def _slot_key(slot: SlotBooking) -> dict[str, Any]:
    return {"pk": {"S": f"SLOTS#{slot.day}"}, "sk": {"S": f"SLOT#{slot.key}"}}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def holder(record: CallbackRecord) -> str:
    """Who holds a slot place: ``<created epoch s>#<request id>`` (the sweep's grace reads it)."""
    return f"{_epoch(record.created_at)}#{record.id}"


def record_item(record: CallbackRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True)
    data.update(
        {
            "pk": _pk(record.id),
            "sk": _REQUEST,
            "gsi1pk": f"PHONE#{record.phone}",
            "gsi1sk": f"{record.created_at.astimezone(UTC).isoformat()}#{record.id}",
        }
    )
    return to_item(data)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _reasons(error: ClientError) -> list[dict[str, Any]]:
    reasons: Any = error.response.get("CancellationReasons")
    if reasons is None:  # some clients only carry them in the message
        message = str(error.response.get("Error", {}).get("Message", ""))
        codes = message.partition("[")[2].rstrip("]").split(",")
        return [{"Code": code.strip()} for code in codes if code.strip()]
    return [dict(reason) for reason in reasons]


def _failed_index(error: ClientError) -> list[int]:
    return [i for i, reason in enumerate(_reasons(error)) if reason.get("Code") == "ConditionalCheckFailed"]


class CallbacksTable:
    def __init__(self, table: str, guard_table: str, client: Any) -> None:
        self._table = table
        self._guard_table = guard_table
        self._client = client

    # -- reserve and store -------------------------------------------------------------------

    def reserve(
        self,
        record: CallbackRecord,
        *,
        lock_until: datetime,
        guards: Sequence[Guard],
        slot: SlotBooking | None,
        now: datetime,
        replace_lock_of: str | None = None,
    ) -> Reservation:
        lock_condition = "attribute_not_exists(pk) OR lock_until < :now OR pending_until < :now"
        lock_values: dict[str, Any] = {":now": {"N": str(_epoch(now))}}
        if replace_lock_of:
            lock_condition += " OR callback_id = :old"
            lock_values[":old"] = {"S": replace_lock_of}
        lock = {
            "TableName": self._table,
            "ConditionExpression": lock_condition,
            "ExpressionAttributeValues": lock_values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "Item": {
                **self._lock_item(record, lock_until),
                "pending_until": {"N": str(_epoch(now) + PENDING_LOCK_S)},
            },
        }
        items = fold_guards(guards)
        calls: list[Callable[[], _Outcome]] = [partial(self._attempt, self._client.put_item, lock)]
        calls += [
            partial(self._attempt, self._client.update_item, guard_item_update(self._guard_table, item))
            for item in items
        ]
        if slot is not None:
            calls.append(
                partial(self._attempt, self._client.update_item, self._slot_update(slot, +1, holder(record)))
            )
        outcomes = list(_POOL.map(lambda call: call(), calls))
        lock_outcome, counter_outcomes = outcomes[0], outcomes[1 : 1 + len(items)]
        slot_taken = outcomes[-1].taken if slot is not None else True
        counters = tuple(
            (item, _member_added(item, outcome.attributes))
            for item, outcome in zip(items, counter_outcomes, strict=True)
            if outcome.taken
        )
        taken = Reservation(
            counters=counters, lock=lock_outcome.taken, slot=slot if slot is not None and slot_taken else None
        )
        if all(outcome.taken for outcome in outcomes):
            return taken
        refused = [
            item.exhausted(stored_counts(outcome.attributes))
            for item, outcome in zip(items, counter_outcomes, strict=True)
            if not outcome.taken
        ]
        if refused or not slot_taken:
            self.release(record, taken)  # a refused submit consumes nothing
            if refused:
                # A window that filled between reading and writing names no guard: the first.
                failed = next((guard for guard in refused if guard is not None), None)
                raise WriteRefused("guard", guard=failed or _first_refused(items, counter_outcomes))
            raise WriteRefused("slot_full")
        # Only the lock: another fresh request holds it. A repeat is an accepted request, so the
        # counters stay taken; the slot is given back (the repeat does not book it).
        self.release(record, Reservation(slot=taken.slot))
        raise WriteRefused(
            "phone_open",
            open_id=lock_outcome.attributes.get("callback_id", {}).get("S"),
            kept=Reservation(counters=counters),
        )

    @staticmethod
    def _attempt(call: Callable[..., Any], kwargs: dict[str, Any]) -> _Outcome:
        """A conditional write: taken (with the old item) or refused (with the item)."""
        try:
            answer = call(**kwargs)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                item: Any = error.response.get("Item") or {}
                return _Outcome(False, dict(item))
            raise
        return _Outcome(True, dict(answer.get("Attributes") or {}))

    @staticmethod
    def _lock_item(record: CallbackRecord, lock_until: datetime) -> dict[str, Any]:
        return {
            **_lock_key(record.phone),
            "callback_id": {"S": record.id},
            "lock_until": {"N": str(_epoch(lock_until))},
            "expires_at": {"N": str(_epoch(lock_until) + 86400)},
        }

    def store(
        self, record: CallbackRecord, consent: ConsentEvidence | None, *, lock_until: datetime | None = None
    ) -> None:
        # One BatchWriteItem: both items are new, under a fresh 128-bit id, so the puts need no
        # condition and a retried write is harmless (it writes the same values again). The lock's
        # commit needs none either: this submit holds it, pending for far longer than it runs.
        puts: list[dict[str, Any]] = [{"PutRequest": {"Item": record_item(record)}}]
        if consent is not None:
            puts.append({"PutRequest": {"Item": self._consent_item(consent, record)}})
        if lock_until is not None:
            puts.append({"PutRequest": {"Item": self._lock_item(record, lock_until)}})
        pending: dict[str, Any] = {self._table: puts}
        for _ in range(5):
            pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
        raise RuntimeError("DynamoDB left the request unwritten; retry")

    def release(self, record: CallbackRecord, reservation: Reservation) -> None:
        """Give back a reservation, every part concurrently (one round trip)."""
        calls: list[Callable[[], object]] = []
        if reservation.lock:
            calls.append(partial(self._release_lock, record))
        if reservation.slot is not None:
            calls.append(partial(self._release_slot, reservation.slot, holder(record)))
        for item, member_added in reservation.counters:
            update = guard_item_release(self._guard_table, item, member_added=member_added)
            if update is not None:
                calls.append(partial(self._attempt, self._client.update_item, update))
        errors = [error for error in _POOL.map(_error_of, calls) if error is not None]
        if errors:
            raise errors[0]

    def _slot_update(self, slot: SlotBooking, delta: int, holder: str) -> dict[str, Any]:
        """Take (+1) or give back (-1) a place; ``holders`` names who holds each place, so a
        give-back happens once per taker (a retried or swept release finds it gone)."""
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _slot_key(slot),
            "ExpressionAttributeValues": {
                ":d": {"N": str(delta)},
                ":exp": {"N": str(slot.expires_at)},
                ":h": {"SS": [holder]},
            },
        }
        if delta > 0:
            update["UpdateExpression"] = (
                "ADD booked :d, holders :h SET expires_at = if_not_exists(expires_at, :exp)"
            )
            update["ConditionExpression"] = "attribute_not_exists(booked) OR booked < :cap"
            update["ExpressionAttributeValues"][":cap"] = {"N": str(slot.capacity)}
        else:
            update["UpdateExpression"] = (
                "ADD booked :d DELETE holders :h SET expires_at = if_not_exists(expires_at, :exp)"
            )
            # Places booked before holders were recorded have none to match.
            update["ConditionExpression"] = (
                "booked > :zero AND (contains(holders, :hs) OR attribute_not_exists(holders))"
            )
            update["ExpressionAttributeValues"][":zero"] = {"N": "0"}
            update["ExpressionAttributeValues"][":hs"] = {"S": holder}
        return update

    def _consent_item(self, consent: ConsentEvidence, record: CallbackRecord) -> dict[str, Any]:
        data = consent.model_dump(mode="json", exclude_none=True)
        data.update(
            {
                "pk": _pk(record.id),
                "sk": _CONSENT,
                "gsi1pk": f"CONSENT#{record.phone}",
                "gsi1sk": f"{record.created_at.astimezone(UTC).isoformat()}#{record.id}",
            }
        )
        return to_item(data)

    def _transact(self, items: list[dict[str, Any]], refusal: Any) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            failed = _failed_index(error)
            if not failed:
                raise
            raise refusal(failed[0]) from None

    # -- repeats ----------------------------------------------------------------------------

    def add_repeat(
        self, primary: CallbackRecord, repeat: RepeatRecord, *, priority: int, now: datetime
    ) -> CallbackRecord:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(primary.id)}, "sk": {"S": _REQUEST}},
                UpdateExpression="SET repeat_count = if_not_exists(repeat_count, :zero) + :one, "
                "priority = :p, last_repeat_at = :at",
                ConditionExpression="attribute_exists(pk) AND #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":p": {"N": str(priority)},
                    ":at": {"S": now.isoformat()},
                    ":s": {"S": primary.status.value},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise WriteRefused("changed") from None
            raise
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    **repeat.model_dump(mode="json", exclude_none=True),
                    "pk": _pk(primary.id),
                    "sk": f"REPEAT#{repeat.created_at.astimezone(UTC).isoformat()}#{repeat.id}",
                }
            ),
        )
        return primary.model_copy(
            update={"repeat_count": primary.repeat_count + 1, "priority": priority, "last_repeat_at": now}
        )

    # -- reads and updates ------------------------------------------------------------------

    def get(self, callback_id: str) -> CallbackRecord | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": _pk(callback_id)}, "sk": {"S": _REQUEST}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        data = from_item(item)
        # DynamoDB deletes expired items up to days late (moto never): expired = gone.
        if data.get("expires_at") and data["expires_at"] <= datetime.now(UTC).timestamp():
            return None
        return CallbackRecord.model_validate(data)

    def delete_new(self, record: CallbackRecord, reservation: Reservation) -> None:
        key = {"pk": {"S": _pk(record.id)}}
        self._client.batch_write_item(
            RequestItems={
                self._table: [
                    {"DeleteRequest": {"Key": {**key, "sk": {"S": _REQUEST}}}},
                    {"DeleteRequest": {"Key": {**key, "sk": {"S": _CONSENT}}}},
                ]
            }
        )
        self.release(record, reservation)

    def _release_lock(self, record: CallbackRecord) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_lock_key(record.phone),
                ConditionExpression="callback_id = :id",
                ExpressionAttributeValues={":id": {"S": record.id}},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    def _release_slot(self, slot: SlotBooking, holder: str) -> bool:
        try:
            self._client.update_item(**self._slot_update(slot, -1, holder))
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
            return False  # given back already
        return True

    def cancel(self, record: CallbackRecord, *, now: datetime, slot: SlotBooking | None) -> CallbackRecord:
        status_at = int(now.timestamp() * 1000)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(record.id)}, "sk": {"S": _REQUEST}},
                UpdateExpression="SET #s = :c, status_at = :at, cancelled_at = :when",
                ConditionExpression="#s = :current",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":c": {"S": CallbackStatus.CANCELLED.value},
                    ":at": {"N": str(status_at)},
                    ":when": {"S": now.isoformat()},
                    ":current": {"S": record.status.value},
                },
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise WriteRefused("changed") from None
            raise
        self._release_lock(record)
        if slot is not None:
            self._release_slot(slot, holder(record))
        return record.model_copy(
            update={"status": CallbackStatus.CANCELLED, "status_at": status_at, "cancelled_at": now}
        )

    def update(self, callback_id: str, **fields: object) -> None:
        if not fields:
            return
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = to_item({f":v{i}": value for i, value in enumerate(fields.values())})
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)) if f":v{i}" in values)
        removes = ", ".join(f"#f{i}" for i in range(len(fields)) if f":v{i}" not in values)
        expression = (f"SET {sets}" if sets else "") + (f" REMOVE {removes}" if removes else "")
        kwargs: dict[str, Any] = {}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": _pk(callback_id)}, "sk": {"S": _REQUEST}},
            UpdateExpression=expression.strip(),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            **kwargs,
        )

    def advance_status(self, callback_id: str, status: CallbackStatus, at_ms: int) -> bool:
        earlier = [s for s in CallbackStatus if may_advance(s, status)]
        if not earlier:
            return False
        values = {f":s{i}": {"S": s.value} for i, s in enumerate(earlier)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(callback_id)}, "sk": {"S": _REQUEST}},
                UpdateExpression="SET #s = :new, status_at = :at",
                ConditionExpression=f"#s IN ({', '.join(values)})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={**values, ":new": {"S": status.value}, ":at": {"N": str(at_ms)}},
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def reschedule(
        self,
        before: CallbackRecord,
        after: CallbackRecord,
        *,
        old_slot: SlotBooking | None,
        new_slot: SlotBooking,
        lock_until: datetime,
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": record_item(after),
                    "ConditionExpression": "#s = :s AND reschedule_count = :rc",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":s": {"S": before.status.value},
                        ":rc": {"N": str(before.reschedule_count)},
                    },
                }
            },
            {"Update": self._slot_update(new_slot, +1, holder(after))},
        ]
        self._transact(items, lambda index: WriteRefused("slot_full" if index == 1 else "changed"))
        if old_slot is not None:
            self._release_slot(old_slot, holder(before))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_lock_key(after.phone),
                UpdateExpression="SET lock_until = :u, expires_at = :e",
                ConditionExpression="callback_id = :id",
                ExpressionAttributeValues={
                    ":u": {"N": str(_epoch(lock_until))},
                    ":e": {"N": str(_epoch(lock_until) + 86400)},
                    ":id": {"S": after.id},
                },
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    # -- slots ------------------------------------------------------------------------------

    def sweep_slot_holds(self, days: Sequence[str], *, older_than: datetime) -> int:
        """``ports.callbacks.CallbackRepository.sweep_slot_holds`` (a query per day)."""
        given_back = 0
        for day in days:
            for item in self._query(
                KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": f"SLOTS#{day}"}}
            ):
                key = item["sk"]["S"].removeprefix("SLOT#")
                slot = SlotBooking(
                    day=day, key=key, capacity=0, expires_at=int(item.get("expires_at", {}).get("N", "0"))
                )
                for held in item.get("holders", {}).get("SS", []):
                    taken_at, _, callback_id = held.partition("#")
                    if not taken_at.isdigit() or int(taken_at) >= _epoch(older_than):
                        continue
                    record = self.get(callback_id)
                    if (
                        record is None
                        or record.status == CallbackStatus.CANCELLED
                        or (record.slot_start is None or slot_key_of(record.slot_start) != key)
                    ):
                        given_back += self._release_slot(slot, held)
        return given_back

    def slot_counts(self, days: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for day in days:
            for item in self._query(
                KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": f"SLOTS#{day}"}}
            ):
                counts[item["sk"]["S"].removeprefix("SLOT#")] = int(item.get("booked", {}).get("N", "0"))
        return counts

    def _query(self, **kwargs: Any) -> Iterable[dict[str, Any]]:
        kwargs["TableName"] = self._table
        while True:
            page = self._client.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- erasure ----------------------------------------------------------------------------

    def ids_for_phone(self, e164: str) -> list[str]:
        ids: list[str] = []
        for prefix in ("PHONE#", "CONSENT#"):
            for item in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues={":p": {"S": f"{prefix}{e164}"}},
                ProjectionExpression="pk",
            ):
                callback_id = item["pk"]["S"].removeprefix("CB#")
                if callback_id not in ids:
                    ids.append(callback_id)
        return ids

    def erase(self, callback_ids: Sequence[str], e164: str) -> int:
        keys: list[dict[str, Any]] = []
        for callback_id in callback_ids:
            for item in self._query(
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": _pk(callback_id)}},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
            ):
                keys.append({"pk": item["pk"], "sk": item["sk"]})
        keys.append(_lock_key(e164))
        for start in range(0, len(keys), 25):
            requests: list[dict[str, Any]] = [
                {"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]
            ]
            pending: dict[str, Any] = {self._table: requests}
            for _ in range(5):
                answer = self._client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
            if pending:
                raise RuntimeError("DynamoDB left deletions unprocessed; run the erasure again")
        return len(keys) - 1

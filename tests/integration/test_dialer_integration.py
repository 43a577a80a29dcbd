"""The dialer against moto (the DynamoDB outbox) and the Webitel sandbox with its fault knobs.

Issue point 8: down, 5xx, timeout after commit, a bulk with one invalid item, two uploaders
at once. Every case asserts on the sandbox's member list: each member is in Webitel exactly
once, or it is reported rejected. Each test uses its own queue id, so tests never share due
entries in the shared outbox table.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack.aws import aws_client
from ringback.adapters.outbox_dynamo import DynamoDialerOutbox, DynamoDoNotCall, DynamoReceipts
from ringback.adapters.projections_dynamo import DynamoCallbackStatus
from ringback.adapters.routing_dynamo import DynamoCallerLookup
from ringback.adapters.webitel_http import HttpWebitelClient
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.events.projections import CallbackAdvance
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import CALLBACK_TAG, ID_TAG, OutboxEntry, OutboxState
from ringback.domain.webitel import Lookup, MemberCommunication, MemberItem
from ringback.services.dialer_upload import UploadSettings, run_upload
from tests.unit.dialer_fakes import FakeClock

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
_queue_ids = itertools.count(7100)
_phones = itertools.count(int(uuid.uuid4().int % 400_000))


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda sets POWERTOOLS_METRICS_NAMESPACE before the layer is imported; the test session
    imported it earlier, so give the shared Metrics its namespace as Lambda would."""
    from ringback.observability import metrics

    if not metrics.provider.namespace:
        monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


@pytest.fixture
def ddb(moto_stack: Any) -> Any:
    return aws_client("dynamodb", moto_stack.endpoint)


@pytest.fixture
def outbox(moto_stack: Any, ddb: Any) -> DynamoDialerOutbox:
    return DynamoDialerOutbox(moto_stack.names["DialerOutboxTable"], dynamodb=ddb)


@pytest.fixture
def queue(webitel_sandbox: Any) -> str:
    queue_id = str(next(_queue_ids))
    webitel_sandbox.add_queue(queue_id, f"dialer test {queue_id}", 5)
    return queue_id


@pytest.fixture
def webitel(webitel_sandbox: Any) -> HttpWebitelClient:
    webitel_sandbox.faults.reset()
    client = HttpWebitelClient(
        webitel_sandbox.url, webitel_sandbox.token, timeout=httpx.Timeout(1.0, connect=1.0)
    )
    yield client
    webitel_sandbox.faults.reset()
    client.close()


def make_entries(
    queue: str, count: int, *, type_ids: dict[int, str] | None = None, at: datetime | None = None
) -> list[OutboxEntry]:
    now = at or datetime.now(UTC)
    run = uuid.uuid4().hex[:10]
    entries = []
    for n in range(count):
        entry_id = f"it-{run}-{n:04d}"
        phone = f"+420603{next(_phones) % 1_000_000:06d}"
        entries.append(
            OutboxEntry(
                entry_id=entry_id,
                source="campaign",
                source_id=entry_id,
                queue_id=queue,
                file_name="it.csv",
                member=MemberItem(
                    name=f"IT {n}",
                    variables={ID_TAG: entry_id},
                    communications=[
                        MemberCommunication(destination=phone, type=Lookup(id=(type_ids or {}).get(n, "1")))
                    ],
                ),
                due_at=now - timedelta(seconds=1),
                line=n + 2,
            )
        )
    return entries


def config_for(queue: str) -> OperatorConfig:
    return OperatorConfig(callback_queue_id=queue, debtor_queue_id=queue)


def tags_in_webitel(sandbox: Any, queue: str) -> Counter[str]:
    return Counter(m["variables"].get(ID_TAG, "") for m in sandbox.members(queue))


def assert_exactly_once_or_rejected(
    sandbox: Any, outbox: DynamoDialerOutbox, queue: str, entries: list[OutboxEntry]
) -> None:
    members = sandbox.members(queue)
    tags = Counter(m["variables"].get(ID_TAG, "") for m in members)
    ids_by_tag = {m["variables"].get(ID_TAG, ""): m["id"] for m in members}
    for entry in entries:
        stored = outbox.get(entry.entry_id)
        assert stored is not None
        if stored.state == OutboxState.REJECTED:
            assert tags[entry.entry_id] == 0 and stored.last_error
        else:
            assert stored.state == OutboxState.DELIVERED, (entry.entry_id, stored.state)
            assert tags[entry.entry_id] == 1, (entry.entry_id, tags[entry.entry_id])
            assert ids_by_tag[entry.entry_id] == stored.webitel_member_id


def seed(outbox: DynamoDialerOutbox, entries: list[OutboxEntry]) -> None:
    assert outbox.add_many(entries) == [True] * len(entries)


# -- the DynamoDB outbox on its own ------------------------------------------------------------


def test_add_many_reports_existing_ids_and_get_round_trips(outbox: DynamoDialerOutbox, queue: str) -> None:
    entries = make_entries(queue, 130)
    assert outbox.add(entries[5])
    assert outbox.add_many(entries) == [index != 5 for index in range(130)]
    stored = outbox.get(entries[7].entry_id)
    assert stored == entries[7]
    assert outbox.get("it-missing-entry") is None


def test_one_queue_is_spread_over_index_shards_and_claimed_longest_due_first(
    outbox: DynamoDialerOutbox, ddb: Any, moto_stack: Any
) -> None:
    """A campaign's entries are not one hot index partition; claims still take the oldest first,
    across shards and the pre-sharding partition."""
    from ringback.adapters.outbox_dynamo import DUE_SHARDS, due_pk

    queue = f"shards-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    entries = [
        entry.model_copy(update={"due_at": now - timedelta(minutes=60 - n)})
        for n, entry in enumerate(make_entries(queue, 40, at=now))
    ]
    seed(outbox, entries)
    assert len({due_pk(queue, e.entry_id) for e in entries}) == DUE_SHARDS
    # One entry indexed the way it was before the sharding (the oldest of all).
    legacy = entries[0]
    ddb.update_item(
        TableName=moto_stack.names["DialerOutboxTable"],
        Key={"pk": {"S": f"OUT#{legacy.entry_id}"}, "sk": {"S": "ENTRY"}},
        UpdateExpression="SET gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"DUE#{queue}"}},
    )
    assert outbox.oldest_due(queue, now) is not None
    claimed = outbox.claim_due(queue, now, limit=10, lease_s=60, owner="a")
    assert [e.entry_id for e in claimed] == [e.entry_id for e in entries[:10]]


def test_claims_are_exclusive_and_leases_expire_into_doubt(outbox: DynamoDialerOutbox, queue: str) -> None:
    now = datetime.now(UTC)
    seed(outbox, make_entries(queue, 5, at=now))
    first = outbox.claim_due(queue, now, limit=3, lease_s=60, owner="a")
    second = outbox.claim_due(queue, now, limit=10, lease_s=60, owner="b")
    assert len(first) == 3 and len(second) == 2
    assert not {e.entry_id for e in first} & {e.entry_id for e in second}
    assert outbox.claim_due(queue, now + timedelta(seconds=30), limit=10, lease_s=60, owner="c") == []
    later = outbox.claim_due(queue, now + timedelta(seconds=61), limit=10, lease_s=60, owner="c")
    assert len(later) == 5 and all(e.outcome_unknown and e.claim_owner == "c" for e in later)


def test_settling_needs_the_claim_and_states_move_as_documented(
    outbox: DynamoDialerOutbox, queue: str
) -> None:
    now = datetime.now(UTC)
    a, b, c, d = make_entries(queue, 4, at=now)
    seed(outbox, [a, b, c, d])
    outbox.claim_due(queue, now, limit=4, lease_s=60, owner="a")
    outbox.mark_rejected(a.entry_id, "not mine", owner="someone-else")
    assert outbox.get(a.entry_id).state == OutboxState.CLAIMED  # type: ignore[union-attr]
    outbox.mark_rejected(a.entry_id, "bad type", owner="a")
    outbox.release(
        b.entry_id, owner="a", error="503", retry_at=now + timedelta(seconds=30), outcome_unknown=True
    )
    outbox.defer(c.entry_id, owner="a", until=now + timedelta(hours=2), reason="outside calling window")
    assert outbox.mark_delivered(d.entry_id, "5001", owner="a") == OutboxState.CLAIMED
    assert outbox.mark_delivered(d.entry_id, "5002", owner="a") == OutboxState.DELIVERED
    stored = {e.entry_id: outbox.get(e.entry_id) for e in (a, b, c, d)}
    assert stored[a.entry_id].state == OutboxState.REJECTED  # type: ignore[union-attr]
    assert stored[b.entry_id].attempts == 1 and stored[b.entry_id].outcome_unknown  # type: ignore[union-attr]
    assert stored[c.entry_id].attempts == 0  # type: ignore[union-attr]
    assert stored[d.entry_id].webitel_member_id == "5001"  # type: ignore[union-attr]
    # The released one is due in 30 s, the deferred one in 2 h; b waits since it was due.
    assert outbox.oldest_due(queue, now + timedelta(seconds=40)) == now - timedelta(seconds=1)
    assert [
        e.entry_id
        for e in outbox.claim_due(queue, now + timedelta(seconds=31), limit=9, lease_s=60, owner="x")
    ] == [b.entry_id]
    assert outbox.requeue([a.entry_id, d.entry_id], now) == 1
    assert outbox.get(a.entry_id).state == OutboxState.PENDING  # type: ignore[union-attr]
    cancelled = outbox.cancel(a.entry_id, reason="do-not-call")
    assert cancelled is not None and cancelled.state == OutboxState.PENDING
    assert outbox.get(a.entry_id).state == OutboxState.CANCELLED  # type: ignore[union-attr]
    assert outbox.mark_delivered(a.entry_id, "5003", owner="x") == OutboxState.CANCELLED
    assert outbox.get(a.entry_id).webitel_member_id == "5003"  # type: ignore[union-attr]


def test_replace_only_in_the_expected_state(outbox: DynamoDialerOutbox, queue: str) -> None:
    (entry,) = make_entries(queue, 1)
    seed(outbox, [entry])
    renamed = entry.model_copy(update={"member": entry.member.model_copy(update={"name": "Renamed"})})
    assert outbox.replace(renamed, expected=OutboxState.PENDING)
    assert not outbox.replace(renamed, expected=OutboxState.REJECTED)
    assert outbox.get(entry.entry_id).member.name == "Renamed"  # type: ignore[union-attr]


def test_receipts_and_dnc_items(moto_stack: Any, ddb: Any) -> None:
    from ringback.domain.receipts import Receipt

    table = moto_stack.names["DialerOutboxTable"]
    receipts = DynamoReceipts(table, dynamodb=ddb)
    receipt = Receipt(
        run_id=f"run-{uuid.uuid4().hex[:8]}", kind="upload", job="callbacks", started_at=datetime.now(UTC)
    )
    receipt.group("1").add("delivered", 3)
    receipts.save(receipt)
    assert receipts.get(receipt.run_id) == receipt
    assert receipt.run_id in [r.run_id for r in receipts.recent(50)]
    dnc = DynamoDoNotCall(table, dynamodb=ddb)
    numbers = [f"+420604{n:06d}" for n in range(150)]
    dnc.add(numbers[3], reason="asked", source="test")
    dnc.add(numbers[140], reason="asked", source="test")
    assert dnc.blocked(numbers) == {numbers[3], numbers[140]}
    dnc.remove(numbers[3])
    assert dnc.blocked(numbers) == {numbers[140]}


# -- issue point 8: the sandbox's faults ---------------------------------------------------------


def test_healthy_upload(
    outbox: DynamoDialerOutbox, webitel: HttpWebitelClient, webitel_sandbox: Any, queue: str
) -> None:
    entries = make_entries(queue, 230)
    seed(outbox, entries)
    receipt = run_upload("campaigns", outbox, webitel, FakeClock(datetime.now(UTC)), config_for(queue), "it")
    assert receipt.total("delivered") == 230
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)
    member = webitel_sandbox.members(queue)[0]
    assert member["import_id"] == "it.csv"


def test_webitel_down_then_back(
    outbox: DynamoDialerOutbox, webitel: HttpWebitelClient, webitel_sandbox: Any, queue: str
) -> None:
    entries = make_entries(queue, 20)
    seed(outbox, entries)
    clock = FakeClock(datetime.now(UTC))
    webitel_sandbox.faults.down = True
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "it")
    assert receipt.stopped and receipt.total("deferred") == 20
    assert webitel_sandbox.members(queue) == []
    webitel_sandbox.faults.down = False
    clock.advance(31)
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "it")
    assert receipt.total("delivered") + receipt.total("reconciled") == 20
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)


def test_5xx_then_recovery(
    outbox: DynamoDialerOutbox, webitel: HttpWebitelClient, webitel_sandbox: Any, queue: str
) -> None:
    entries = make_entries(queue, 10)
    seed(outbox, entries)
    clock = FakeClock(datetime.now(UTC))
    webitel_sandbox.faults.update({"fail_5xx": 1})
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "it")
    assert receipt.total("deferred") == 10
    assert all(outbox.get(e.entry_id).outcome_unknown for e in entries)  # type: ignore[union-attr]
    clock.advance(31)
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "it")
    assert receipt.total("delivered") == 10 and receipt.total("reconciled") == 0
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)


def test_timeout_after_commit_is_reconciled(
    outbox: DynamoDialerOutbox, webitel: HttpWebitelClient, webitel_sandbox: Any, queue: str
) -> None:
    entries = make_entries(queue, 15)
    seed(outbox, entries)
    clock = FakeClock(datetime.now(UTC))
    webitel_sandbox.faults.update({"timeout_after_commit": 1, "hang_ms": 3000})
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "it")
    assert receipt.total("deferred") == 15
    assert len(webitel_sandbox.members(queue)) == 15  # committed; the answer was lost
    clock.advance(31)
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "it")
    assert receipt.total("reconciled") == 15 and receipt.total("delivered") == 0
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)


def test_a_bulk_with_one_invalid_item(
    outbox: DynamoDialerOutbox, webitel: HttpWebitelClient, webitel_sandbox: Any, queue: str
) -> None:
    # Communication type 99 does not exist in the sandbox: Webitel rejects the whole bulk.
    entries = make_entries(queue, 40, type_ids={17: "99"})
    seed(outbox, entries)
    receipt = run_upload("campaigns", outbox, webitel, FakeClock(datetime.now(UTC)), config_for(queue), "it")
    assert receipt.total("delivered") == 39 and receipt.total("rejected") == 1
    rejected = outbox.get(entries[17].entry_id)
    assert rejected is not None and rejected.state == OutboxState.REJECTED
    assert "communication_type" in (rejected.last_error or "") and "request_id=" in (
        rejected.last_error or ""
    )
    (problem,) = receipt.groups[0].problems
    assert problem.line == 19 and problem.entry_id == entries[17].entry_id
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)


def test_two_uploaders_at_once(
    outbox: DynamoDialerOutbox, webitel_sandbox: Any, queue: str, moto_stack: Any
) -> None:
    entries = make_entries(queue, 120)
    seed(outbox, entries)
    webitel_sandbox.faults.reset()
    webitel_sandbox.faults.latency_ms = 20
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def uploader(owner: str) -> None:
        # Each uploader has its own clients, as two Lambda containers would.
        own_outbox = DynamoDialerOutbox(
            moto_stack.names["DialerOutboxTable"], dynamodb=aws_client("dynamodb", moto_stack.endpoint)
        )
        client = HttpWebitelClient(webitel_sandbox.url, webitel_sandbox.token, timeout=httpx.Timeout(5.0))
        try:
            barrier.wait()
            run_upload(
                "campaigns",
                own_outbox,
                client,
                FakeClock(datetime.now(UTC)),
                config_for(queue),
                owner,
                settings=UploadSettings(batch_size=10),
            )
        except BaseException as error:
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=uploader, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    webitel_sandbox.faults.reset()
    assert errors == []
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)


def test_a_run_that_died_mid_push_is_finished(
    outbox: DynamoDialerOutbox, webitel: HttpWebitelClient, webitel_sandbox: Any, queue: str
) -> None:
    entries = make_entries(queue, 8)
    seed(outbox, entries)
    now = datetime.now(UTC)
    # A run claims everything, its bulk commits, and the Lambda is killed before recording.
    claimed = outbox.claim_due(queue, now, limit=10, lease_s=300, owner="killed")
    webitel.create_members_bulk(queue, [e.member for e in claimed[:5]], "it.csv")
    clock = FakeClock(now + timedelta(seconds=301))
    receipt = run_upload("campaigns", outbox, webitel, clock, config_for(queue), "next")
    assert receipt.total("reconciled") == 5 and receipt.total("delivered") == 3
    assert_exactly_once_or_rejected(webitel_sandbox, outbox, queue, entries)


# -- the functions, with their sample events -------------------------------------------------------


def test_campaign_import_and_upload_through_the_functions(
    lambda_env: Any, load_handler: Any, lambda_context: Any, moto_stack: Any, webitel_sandbox: Any
) -> None:
    webitel_sandbox.faults.reset()
    bucket = moto_stack.names["ImportsBucket"]
    run = uuid.uuid4().hex[:8]
    base = next(_phones) % 900_000
    expiry = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()  # inside the import's horizon
    csv_text = (
        "name,phone,debt_amount,debt_currency,expire_at,var_contract\n"
        f"Ada {run},+420 605 {base:06d},100,CZK,{expiry},K-{run}\n"
        f"Bad {run},12,,,,\n"
        f"Ada again {run},00420605{base:06d},120,CZK,,\n"
        f"Bob {run},+420605{base + 1:06d},,,,\n"
    )
    key = f"campaigns/it-{run}.csv"
    aws_client("s3", moto_stack.endpoint).put_object(Bucket=bucket, Key=key, Body=csv_text.encode())
    event = json.loads((EVENTS / "s3-campaign-upload.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"]["key"] = key

    lambda_env("ImportFunction", RINGBACK_CAMPAIGN_CALLING_WINDOW="mon-sun 00:00-24:00")
    report = load_handler("ImportFunction").lambda_handler(event, lambda_context)
    assert report["totals"]["imported"] == 2 and report["totals"]["duplicates_merged"] == 1
    assert report["bad_rows"] == [{"line": 3, "reason": "phone: not a valid number for CZ"}]
    errors = aws_client("s3", moto_stack.endpoint).get_object(Bucket=bucket, Key=f"reports/{key}.errors.csv")
    assert b"3,phone: not a valid number for CZ" in errors["Body"].read()

    lambda_env("DialerFunction")
    dialer = load_handler("DialerFunction")
    schedule = json.loads((EVENTS / "dialer-campaigns-schedule.json").read_text())
    summary = dialer.lambda_handler(schedule, lambda_context)
    assert summary["job"] == "campaigns" and summary["stopped"] is None
    ours = [
        m
        for m in webitel_sandbox.members("2")
        if m["variables"].get("contract") == f"K-{run}" or m["name"] == f"Bob {run}"
    ]
    assert sorted(m["name"] for m in ours) == sorted([f"Ada again {run}", f"Bob {run}"])
    ada = next(m for m in ours if m["name"].startswith("Ada"))
    assert ada["variables"]["debt_amount"] == "120.00"
    assert ada["communications"][0]["destination"] == f"+420605{base:06d}"
    assert ada["communications"][0]["type"]["id"] == "1"
    # The 24-hour window reaches Webitel as 24:00, not 23:59 (closed in its last minute).
    assert ada["variables"]["ringback_window"].endswith(" 00:00-24:00")
    # expire_at: the end of that day in the member's zone, as epoch ms (what Webitel stores).
    end_of_day = datetime.fromisoformat(expiry).replace(tzinfo=ZoneInfo("Europe/Prague")) + timedelta(days=1)
    assert ada["expire_at"] == str(int(end_of_day.timestamp() * 1000))
    # A second run sends nothing again.
    dialer.lambda_handler(schedule, lambda_context)
    assert (
        len([m for m in webitel_sandbox.members("2") if m["name"] in {f"Ada again {run}", f"Bob {run}"}]) == 2
    )
    # The receipts are readable through the admin action.
    listed = dialer.lambda_handler({"action": "receipts", "limit": 50}, lambda_context)
    assert any(r["kind"] == "import" and r["totals"].get("imported") == 2 for r in listed["receipts"])


def test_callbacks_schedule_event_runs_and_rejects_a_bad_job(
    lambda_env: Any, load_handler: Any, lambda_context: Any
) -> None:
    lambda_env("DialerFunction")
    dialer = load_handler("DialerFunction")
    event = json.loads((EVENTS / "dialer-callbacks-schedule.json").read_text())
    summary = dialer.lambda_handler(event, lambda_context)
    assert summary["job"] == "callbacks" and summary["kind"] == "upload"
    with pytest.raises(ValueError, match="job"):
        dialer.lambda_handler({"job": "everything"}, lambda_context)


def test_redrive_through_the_admin_action(
    lambda_env: Any, load_handler: Any, lambda_context: Any, outbox: DynamoDialerOutbox, webitel_sandbox: Any
) -> None:
    webitel_sandbox.faults.reset()
    (entry,) = make_entries("2", 1, type_ids={0: "99"})
    seed(outbox, [entry])
    claimed = outbox.claim([entry.entry_id], datetime.now(UTC), lease_s=60, owner="t")
    assert claimed
    outbox.mark_rejected(entry.entry_id, "app.member.valid.communication_type: unknown", owner="t")
    lambda_env("DialerFunction")
    dialer = load_handler("DialerFunction")
    rejected = dialer.lambda_handler({"action": "rejected", "limit": 1000}, lambda_context)
    assert entry.entry_id in [r["entry_id"] for r in rejected["rejected"]]
    fix = {
        entry.entry_id: {
            "communications": [
                {"destination": entry.member.communications[0].destination, "type": {"id": "1"}}
            ]
        }
    }
    answer = dialer.lambda_handler(
        {"action": "redrive", "entry_ids": [entry.entry_id], "fixes": fix}, lambda_context
    )
    assert answer["results"] == {entry.entry_id: "re-driven"}
    dialer.lambda_handler({"job": "campaigns"}, lambda_context)
    assert tags_in_webitel(webitel_sandbox, "2")[entry.entry_id] == 1


# -- callback requests follow their entries: rejected -> failed, expired -> expired ----------------


def callback_request(
    moto_stack: Any, ddb: Any, queue: str, *, type_id: str = "1", expired: bool = False
) -> OutboxEntry:
    """A received callback request holding its number's lock (as the callbacks API stores it),
    and its outbox entry."""
    callback_id = f"cb-it-{uuid.uuid4().hex[:12]}"
    phone = f"+420603{next(_phones) % 1_000_000:06d}"
    now = datetime.now(UTC)
    table = moto_stack.names["CallbacksTable"]
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"CB#{callback_id}"},
            "sk": {"S": "REQUEST"},
            "status": {"S": "received"},
            "status_at": {"N": str(int(now.timestamp() * 1000) - 60_000)},
            "gsi1pk": {"S": f"PHONE#{phone}"},
            "gsi1sk": {"S": f"{now.strftime('%Y-%m-%dT%H:%M:%SZ')}#{callback_id}"},
        },
    )
    lock_until = int(now.timestamp()) + 3600
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"OPEN#{phone}"},
            "sk": {"S": "LOCK"},
            "callback_id": {"S": callback_id},
            "lock_until": {"N": str(lock_until)},
            "expires_at": {"N": str(lock_until + 86400)},
        },
    )
    entry_id = f"cbe-{uuid.uuid4().hex[:16]}"
    return OutboxEntry(
        entry_id=entry_id,
        source="callback",
        source_id=callback_id,
        queue_id=queue,
        member=MemberItem(
            name="Callback IT",
            priority=100,
            variables={ID_TAG: entry_id, CALLBACK_TAG: callback_id},
            communications=[MemberCommunication(destination=phone, type=Lookup(id=type_id))],
        ),
        due_at=now - timedelta(minutes=10),
        expires_at=now - timedelta(minutes=1) if expired else now + timedelta(hours=1),
    )


def request_status(ddb: Any, moto_stack: Any, callback_id: str) -> dict[str, Any]:
    item = ddb.get_item(
        TableName=moto_stack.names["CallbacksTable"],
        Key={"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "REQUEST"}},
        ConsistentRead=True,
    )["Item"]
    return {"status": item["status"]["S"], "reason": item.get("status_reason", {}).get("S", "")}


def pending_callback(moto_stack: Any, ddb: Any, entry: OutboxEntry) -> str | None:
    """What the routing lookup reads for the number: the open request, or None."""
    lookup = DynamoCallerLookup(moto_stack.names["CustomersTable"], moto_stack.names["CallbacksTable"], ddb)
    record = lookup.read(entry.member.communications[0].destination, callbacks=True, remaining=lambda: 5.0)
    assert record.callback_read
    return record.callback.callback_id if record.callback else None


def test_the_callbacks_schedule_fails_a_rejected_request_and_releases_its_lock(
    lambda_env: Any,
    load_handler: Any,
    lambda_context: Any,
    moto_stack: Any,
    ddb: Any,
    outbox: DynamoDialerOutbox,
    webitel_sandbox: Any,
) -> None:
    webitel_sandbox.faults.reset()
    # The operator configuration's callback queue is "1"; type "99" is unknown to Webitel.
    bad = callback_request(moto_stack, ddb, "1", type_id="99")
    good = callback_request(moto_stack, ddb, "1")
    seed(outbox, [bad, good])
    assert pending_callback(moto_stack, ddb, bad) == bad.source_id

    lambda_env("DialerFunction")
    dialer = load_handler("DialerFunction")
    summary = dialer.lambda_handler(
        json.loads((EVENTS / "dialer-callbacks-schedule.json").read_text()), lambda_context
    )
    assert summary["job"] == "callbacks"

    rejected = outbox.get(bad.entry_id)
    assert rejected is not None and rejected.state == OutboxState.REJECTED and rejected.last_error
    failed = request_status(ddb, moto_stack, bad.source_id)
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("rejected by Webitel: ") and rejected.last_error in failed["reason"]
    assert pending_callback(moto_stack, ddb, bad) is None  # routing: pending_callback false

    delivered = outbox.get(good.entry_id)
    assert delivered is not None and delivered.state == OutboxState.DELIVERED
    assert request_status(ddb, moto_stack, good.source_id)["status"] == "queued"
    assert pending_callback(moto_stack, ddb, good) == good.source_id  # still open: Webitel calls
    assert tags_in_webitel(webitel_sandbox, "1")[good.entry_id] == 1
    assert tags_in_webitel(webitel_sandbox, "1")[bad.entry_id] == 0


def test_an_expired_callback_entry_expires_its_request_and_releases_its_lock(
    moto_stack: Any,
    ddb: Any,
    outbox: DynamoDialerOutbox,
    queue: str,
    webitel: HttpWebitelClient,
    webitel_sandbox: Any,
) -> None:
    late = callback_request(moto_stack, ddb, queue, expired=True)
    seed(outbox, [late])
    assert pending_callback(moto_stack, ddb, late) == late.source_id
    store = DynamoCallbackStatus(moto_stack.names["CallbacksTable"], client=ddb)
    receipt = run_upload(
        "callbacks",
        outbox,
        webitel,
        FakeClock(datetime.now(UTC)),
        config_for(queue),
        "it",
        callback_status=store,
    )
    assert receipt.total("expired") == 1
    stored = outbox.get(late.entry_id)
    assert stored is not None and stored.state == OutboxState.EXPIRED
    assert request_status(ddb, moto_stack, late.source_id)["status"] == "expired"
    assert pending_callback(moto_stack, ddb, late) is None
    assert webitel_sandbox.members(queue) == []
    # Idempotent: the same decision again changes nothing and raises nothing.
    again = CallbackAdvance(
        late.source_id, CallbackStatus.EXPIRED, int(datetime.now(UTC).timestamp() * 1000), "again", "dialer:x"
    )
    assert not store.advance(again)
    assert (
        request_status(ddb, moto_stack, late.source_id)["reason"]
        == "not delivered to Webitel before it expired"
    )

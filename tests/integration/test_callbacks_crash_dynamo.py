"""Crash safety on the real adapters (moto): a submit that dies after its first round leaves a
pending lock the routing lookup ignores once it lapses, a slot place the callbacks schedule
gives back, and an outbox entry the dialer cancels instead of sending."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from devstack import aws
from devstack.aws import aws_client
from ringback.adapters.callbacks_dynamo import CallbacksTable, holder
from ringback.adapters.outbox_dynamo import DynamoDialerOutbox
from ringback.adapters.projections_dynamo import DynamoCallbackStatus
from ringback.adapters.routing_dynamo import DynamoCallerLookup
from ringback.domain.callbacks import CallbackRequest
from ringback.domain.outbox import OutboxState
from ringback.domain.schedule import slot_day, slot_key
from ringback.services.callbacks import CallbackService, Caller
from ringback.services.dialer_upload import run_upload
from ringback.services.reservations import sweep_slot_holds
from tests.unit.callbacks_fakes import KEYS, CallbacksWebitel, FakeCaptcha, StaticConfig, at, make_config
from tests.unit.crash_points import crashed
from tests.unit.dialer_fakes import FakeClock

pytestmark = pytest.mark.integration

NOW = at("2026-11-18T10:00:00+00:00")


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from ringback.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


class Parts:
    def __init__(self, stack: aws.ProvisionedStack) -> None:
        self.ddb = aws_client("dynamodb", stack.endpoint)
        self.names = stack.names
        self.clock = FakeClock(NOW)
        self.queue = str(8000 + uuid.uuid4().int % 1000)  # its own queue: no other test's entries
        self.config = StaticConfig(make_config(callback_queue_id=self.queue))
        self.repo = CallbacksTable(stack.names["CallbacksTable"], stack.names["GuardTable"], self.ddb)
        self.outbox = DynamoDialerOutbox(
            stack.names["DialerOutboxTable"], dynamodb=self.ddb, clock=self.clock
        )
        self.states = DynamoCallbackStatus(stack.names["CallbacksTable"], client=self.ddb)
        self.webitel = CallbacksWebitel()

    def service(self, point: Any) -> CallbackService:
        return CallbackService(
            repo=point.wrap(self.repo, "repo"),
            outbox=point.wrap(self.outbox, "outbox"),
            config=self.config,
            clock=self.clock,
            keys=lambda: KEYS,
            captcha=FakeCaptcha,
            webitel=lambda: self.webitel,
            deliver=None,
            default_region="CZ",
        )

    def lock(self, phone: str) -> dict[str, Any]:
        key = {"pk": {"S": f"OPEN#{phone}"}, "sk": {"S": "LOCK"}}
        return dict(
            self.ddb.get_item(TableName=self.names["CallbacksTable"], Key=key, ConsistentRead=True).get(
                "Item", {}
            )
        )

    def routing_says_pending(self, phone: str) -> bool:
        lookup = DynamoCallerLookup(
            self.names["CustomersTable"],
            self.names["CallbacksTable"],
            self.ddb,
            epoch=lambda: self.clock.now().timestamp(),
        )
        return lookup.read(phone, callbacks=True, remaining=lambda: 1.0).callback is not None


def test_a_submit_dead_after_its_first_round_leaves_nothing_behind(moto_stack: aws.ProvisionedStack) -> None:
    parts = Parts(moto_stack)
    phone = f"+420601{uuid.uuid4().int % 10**6:06d}"
    body = CallbackRequest.model_validate(
        {"mode": "scheduled", "phone": phone, "scheduled_at": "2026-11-19T15:00:00+01:00"}
    )
    # Round one is the entry and the reservations (issued concurrently): die after both.
    point = crashed(lambda p: parts.service(p).submit(body, Caller()), 2)
    assert sorted(point.writes) == ["add", "reserve"]
    lock = parts.lock(phone)
    assert "pending_until" in lock and parts.routing_says_pending(phone)  # within the minute
    (entry_id,) = [
        e["pk"]["S"].removeprefix("OUT#")
        for e in parts.ddb.scan(
            TableName=moto_stack.names["DialerOutboxTable"],
            FilterExpression="queue_id = :q",
            ExpressionAttributeValues={":q": {"S": parts.queue}},
        )["Items"]
    ]
    callback_id = entry_id.removeprefix("cb_")
    start = at("2026-11-19T14:00:00+00:00")
    place = {
        "pk": {"S": f"SLOTS#{slot_day(parts.config.config, start)}"},
        "sk": {"S": f"SLOT#{slot_key(start)}"},
    }
    slot = parts.ddb.get_item(TableName=moto_stack.names["CallbacksTable"], Key=place, ConsistentRead=True)[
        "Item"
    ]
    assert slot["booked"]["N"] == "1" and slot["holders"]["SS"] == [f"{int(NOW.timestamp())}#{callback_id}"]

    parts.clock.advance(180)  # past the pending lock and the grace
    assert not parts.routing_says_pending(phone)
    assert sweep_slot_holds(parts.repo, parts.clock, parts.config.config) == 1
    assert sweep_slot_holds(parts.repo, parts.clock, parts.config.config) == 0  # given back once
    slot = parts.ddb.get_item(TableName=moto_stack.names["CallbacksTable"], Key=place, ConsistentRead=True)[
        "Item"
    ]
    assert slot["booked"]["N"] == "0" and "holders" not in slot

    parts.clock.current = at("2026-11-19T14:01:00+00:00")  # the slot comes: the dialer's run
    run_upload(
        "callbacks",
        parts.outbox,
        parts.webitel,
        parts.clock,
        parts.config.config,
        "it",
        callback_states=parts.states,
    )
    entry = parts.outbox.get(entry_id)
    assert entry is not None and entry.state == OutboxState.CANCELLED and parts.webitel.members == {}

    # The number is free again: a new submit takes the lapsed lock and is stored and committed.
    later = CallbackRequest.model_validate(
        {"mode": "scheduled", "phone": phone, "scheduled_at": "2026-11-20T10:00:00+01:00"}
    )
    answer = parts.service(_NoCrash()).submit(later, Caller())
    committed = parts.lock(phone)
    assert committed["callback_id"]["S"] == answer.id and "pending_until" not in committed
    record = parts.repo.get(answer.id)
    assert record is not None and holder(record).endswith(answer.id)


class _NoCrash:
    def wrap(self, port: Any, kind: str) -> Any:
        return port


def test_the_slot_sweep_keeps_places_of_stored_requests(moto_stack: aws.ProvisionedStack) -> None:
    parts = Parts(moto_stack)
    phone = f"+420601{uuid.uuid4().int % 10**6:06d}"
    body = CallbackRequest.model_validate(
        {"mode": "scheduled", "phone": phone, "scheduled_at": "2026-11-19T16:00:00+01:00"}
    )
    parts.service(_NoCrash()).submit(body, Caller())
    parts.clock.advance(timedelta(minutes=10).total_seconds())
    assert sweep_slot_holds(parts.repo, parts.clock, parts.config.config) == 0

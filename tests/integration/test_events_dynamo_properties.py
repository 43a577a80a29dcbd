"""The order/duplication property again, through the real DynamoDB adapters on the session's
moto server: conditional register writes, callback advances and idempotent puts behave like
the fakes.

Not ``mock_aws``: leaving it resets every moto backend of the process, which would wipe the
tables and secrets the other integration tests share."""

from __future__ import annotations

import itertools
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import aws
from ringback.adapters.event_log_dynamo import DynamoEventLog
from ringback.adapters.projections_dynamo import DynamoCallbackStatus, DynamoProjections
from ringback.domain.events.envelope import EventSource
from ringback.services.ingest import Ingest
from ringback.services.projector import Projector
from ringback.services.read_models import ReadModels
from tests.support.tables import PK_SK_TABLE
from tests.unit.events_fakes import FixedClock
from tests.unit.test_event_projections import BASE, CALLS, histories

pytestmark = pytest.mark.integration
KEYS = PK_SK_TABLE
RUNS = itertools.count()


@pytest.fixture(scope="module")
def dynamo(moto_stack: Any) -> Any:
    return aws.aws_client("dynamodb", moto_stack.endpoint)


def run(client: Any, sequence: list[tuple[EventSource, dict[str, Any]]]) -> tuple[Any, ...]:
    n = next(RUNS)
    names = {kind: f"prop-{kind}{n}" for kind in ("log", "projections", "callbacks")}
    for name in (names["log"], names["projections"]):
        client.create_table(TableName=name, **KEYS)
    client.create_table(
        TableName=names["callbacks"],
        **{
            **KEYS,
            "AttributeDefinitions": [
                *KEYS["AttributeDefinitions"],
                {"AttributeName": "gsi1pk", "AttributeType": "S"},
                {"AttributeName": "gsi1sk", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "gsi1",
                    "Projection": {"ProjectionType": "ALL"},
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                }
            ],
        },
    )
    for callback, status in (("cb1", "queued"), ("cb2", "received")):
        client.put_item(
            TableName=names["callbacks"],
            Item={
                "pk": {"S": f"CB#{callback}"},
                "sk": {"S": "REQUEST"},
                "status": {"S": status},
                "status_at": {"N": str(BASE - 60_000)},
                "gsi1pk": {"S": "PHONE#+420777666555"},
                "gsi1sk": {"S": f"2026-03-02T09:00:00+00:00#{callback}"},
            },
        )
    projections = DynamoProjections(names["projections"], client=client)
    callbacks = DynamoCallbackStatus(names["callbacks"], client=client)
    log = DynamoEventLog(names["log"], retention_days=1, client=client)
    projector = Projector(projections, callbacks, zone=ZoneInfo("Europe/Prague"), default_region="CZ")
    ingest = Ingest(log, FixedClock())
    for source, body in sequence:
        ingest.ingest(source, ingest.parse(source, body))
    projector.apply_all(log.scan())  # the stream's delivery, once every event is logged
    views = ReadModels(projections, callbacks)
    calls = {u: views.call(u) for u in CALLS if projections.records(f"CALL#{u}")}
    statuses = {c: callbacks.status(c) for c in ("cb1", "cb2")}
    # ``v`` is the write version of the console's shard items (how many writes changed them),
    # not projected data: an older register applied first takes one write more.
    items = sorted(
        str(sorted((k, v) for k, v in item.items() if k != "v"))
        for item in client.scan(TableName=names["projections"])["Items"]
    )
    return calls, views.agents(), views.funnel("2026-03-01", "2026-03-02"), statuses, items


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=histories(), data=st.data())
def test_adapters_give_the_same_projections_in_any_order(
    dynamo: Any, history: list[Any], data: st.DataObject
) -> None:
    mixed = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history), max_size=5))))
    assert run(dynamo, mixed) == run(dynamo, history)

"""The local moto server's Query of a table's own key walks the queried partition only
(``devstack.moto_server.partition_queries``): the answers must be DynamoDB's, for key
conditions, order, paging, filters, projections, an index and a table without a sort key."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from devstack import aws
from devstack.aws import aws_client

PARTITIONS = ("P#a", "P#b", "P#c", "P#empty-neighbour")


@pytest.fixture(scope="module")
def seeded(moto_stack: aws.ProvisionedStack) -> tuple[Any, str, dict[str, list[tuple[str, int]]]]:
    """A table of 3 partitions (~40 items each, written in random order) with an index on ``g``."""
    dynamodb = aws_client("dynamodb", moto_stack.endpoint)
    name = f"partition-queries-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(20261203)
    stored: dict[str, list[tuple[str, int]]] = {pk: [] for pk in PARTITIONS[:3]}
    writes = [(pk, f"{kind}#{n:03d}") for pk in stored for kind in ("x", "y") for n in range(20)]
    rng.shuffle(writes)
    for pk, sk in writes:
        value = rng.randrange(100)
        stored[pk].append((sk, value))
        dynamodb.put_item(
            TableName=name,
            Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(value)}, "g": {"S": f"G#{value % 3}"}},
        )
    return dynamodb, name, {pk: sorted(rows) for pk, rows in stored.items()}


def _query_all(dynamodb: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = dynamodb.query(**kwargs)
        pages += 1
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items, pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_partition_is_answered_whole_in_sort_key_order_and_others_are_untouched(seeded: Any) -> None:
    from moto.dynamodb.models.table import Table

    assert getattr(Table.query, "partition_only", False)  # the server under test runs the patch
    dynamodb, name, stored = seeded
    for pk in PARTITIONS:
        items, _ = _query_all(
            dynamodb,
            TableName=name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
        )
        assert [(i["sk"]["S"], int(i["n"]["N"])) for i in items] == stored.get(pk, [])
        assert all(i["pk"]["S"] == pk for i in items)


def test_sort_key_conditions_reverse_order_paging_filters_and_projections(seeded: Any) -> None:
    dynamodb, name, stored = seeded
    rows = stored["P#b"]
    items, pages = _query_all(
        dynamodb,
        TableName=name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :k)",
        FilterExpression="n >= :low",
        ProjectionExpression="sk",
        ExpressionAttributeValues={":p": {"S": "P#b"}, ":k": {"S": "y#"}, ":low": {"N": "50"}},
        ScanIndexForward=False,
        Limit=7,
    )
    expected = [sk for sk, n in reversed(rows) if sk.startswith("y#") and n >= 50]
    assert [i["sk"]["S"] for i in items] == expected
    assert all(set(i) == {"sk"} for i in items)
    assert pages == 3  # 20 items read, 7 a page: the Limit counts items read, before the filter
    between, _ = _query_all(
        dynamodb,
        TableName=name,
        KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "P#c"}, ":a": {"S": "x#005"}, ":b": {"S": "x#012"}},
    )
    assert [i["sk"]["S"] for i in between] == [f"x#{n:03d}" for n in range(5, 13)]


def test_an_index_query_still_reads_every_partition(seeded: Any) -> None:
    dynamodb, name, stored = seeded
    items, _ = _query_all(
        dynamodb,
        TableName=name,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "G#1"}},
    )
    expected = {(pk, sk) for pk, rows in stored.items() for sk, n in rows if n % 3 == 1}
    assert {(i["pk"]["S"], i["sk"]["S"]) for i in items} == expected
    assert len({i["pk"]["S"] for i in items}) > 1


def test_a_table_without_a_sort_key_answers_its_one_item(moto_stack: aws.ProvisionedStack) -> None:
    dynamodb = aws_client("dynamodb", moto_stack.endpoint)
    name = f"hash-only-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for key in ("a", "b", "c"):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": key}, "v": {"S": key.upper()}})
    for key, expected in (("b", ["B"]), ("missing", [])):
        items, _ = _query_all(
            dynamodb,
            TableName=name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": key}},
        )
        assert [i["v"]["S"] for i in items] == expected

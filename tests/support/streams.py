"""The event log's DynamoDB stream records, as Lambda's event source mapping hands them over."""

from __future__ import annotations

import json
from typing import Any

from devstack import aws
from devstack.aws import aws_client


def stream_records(stack: aws.ProvisionedStack, event_ids: set[str]) -> list[dict[str, Any]]:
    """The event log's records of ``event_ids``, oldest first."""
    return table_stream_records(
        stack, "EventLogTable", lambda keys: keys["pk"]["S"].removeprefix("EVENT#") in event_ids
    )


def table_stream_records(stack: aws.ProvisionedStack, table: str, keep: Any) -> list[dict[str, Any]]:
    """Every record of ``table``'s stream (by its logical name) whose keys ``keep(keys)`` accepts,
    oldest first, as the event source mapping hands them over."""
    streams = aws_client("dynamodbstreams", stack.endpoint)
    arn = aws_client("dynamodb", stack.endpoint).describe_table(TableName=stack.names[table])["Table"][
        "LatestStreamArn"
    ]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += answer["Records"]
            if not answer["Records"]:
                break
            iterator = answer.get("NextShardIterator")
    mine = [r for r in records if keep(r["dynamodb"]["Keys"])]
    plain: list[dict[str, Any]] = json.loads(
        json.dumps([{**r, "eventSourceARN": arn} for r in mine], default=str)
    )
    return plain

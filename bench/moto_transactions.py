"""What a DynamoDB transaction costs on moto, against a plain put, as the table grows.

    python bench/moto_transactions.py            # tables of 0, 2000 and 8000 items
    python bench/moto_transactions.py --quick    # tables of 0 and 1000 items (seconds)

moto's ``TransactWriteItems`` deep-copies every table a transaction touches (to roll back), so
its cost grows with the table while a put's does not. This is why the crash safety of the
callbacks (docs/callbacks.md, "Crash safety") rests on write order, a pending lock and swept slot
holders, not on transactions: the local stack and the tests would slow down as data piles up.
(On DynamoDB a transaction costs two writes per item and one round trip, whatever the size.)
Prints a table, then one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import boto3
from moto import mock_aws


def measure(sizes: list[int], rounds: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-central-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        filled = 0
        for size in sizes:
            for n in range(filled, size):
                ddb.put_item(TableName="t", Item={"pk": {"S": f"fill-{n}"}, "v": {"S": "x" * 200}})
            filled = max(filled, size)
            started = time.perf_counter()
            for n in range(rounds):
                ddb.put_item(TableName="t", Item={"pk": {"S": f"put-{size}-{n}"}})
            put_ms = (time.perf_counter() - started) / rounds * 1000
            started = time.perf_counter()
            for n in range(rounds):
                ddb.transact_write_items(
                    TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": f"tx-{size}-{n}"}}}}]
                )
            tx_ms = (time.perf_counter() - started) / rounds * 1000
            figures[f"put_ms_{size}_items"] = round(put_ms, 2)
            figures[f"transaction_ms_{size}_items"] = round(tx_ms, 2)
            print(f"{size:>6} items: put {put_ms:7.2f} ms   transaction (1 put) {tx_ms:7.2f} ms")
    return figures


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    figures = measure([0, 1000] if quick else [0, 2000, 8000], 20 if quick else 50)
    print(json.dumps({"bench": "moto_transactions", "quick": quick, **figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Callback submit benchmark: the handler against the same writes done bare, in the same run.

    python bench/callbacks.py            # 2000 submits, 3000 through the gateway
    python bench/callbacks.py --quick    # 300 submits, 600 through the gateway (well under a minute)

Measures, against a local moto server (its own process, so it does not share our GIL):
  1. warm latency of ``POST /v1/callbacks`` through the handler (API Gateway v2 event in, 202 out:
     validation, phone parsing, round trip one: the number's and the client's folded rate-limit
     items + the number's lock + the dialer outbox entry; round trip two: request + consent +
     the lock's commit in one BatchWriteItem) vs one bare boto3 ``put_item`` of a request-sized item (the baseline),
     interleaved so both see the same load; also the same submit with an ``Idempotency-Key``
     (Powertools Idempotency adds its own reads and writes) for information;
  2. sustained submits per second through the local API gateway (devstack) over HTTP with
     concurrent callers and a pool of function workers.
Mode ``later`` in an always-open configuration: the request is stored and queued for the
scheduled uploader (``now`` would add a Webitel round trip that is not ringback's latency).
Also measured, for reading the ratio: the bare writes a submit cannot avoid, issued the same
way without the handler (``floor_p99_ms``: four folded counter updates, the lock and the outbox
put, then the request + consent + lock-commit batch, each round concurrent). ``p99_ratio_vs_floor`` shows
what ringback adds on top of its own writes. The handler's DynamoDB client is instrumented:
``dynamodb_requests_per_submit`` and ``dynamodb_round_trips_per_submit`` (a round trip starts
when a request leaves with none in flight) are the design's cost on DynamoDB, where concurrent
requests are served in parallel. moto is one Python process and serves them one after the
other under its own GIL (two concurrent UpdateItems take as long as two sequential ones), so
on moto a submit costs about the sum of its requests, not its round trips.
The baseline is that floor: a submit must write the request and its outbox entry (and its
guards), so the handler is measured against those writes done bare in the same rounds.
Prints a table, then one JSON line. Targets: ``p99_ratio_vs_floor`` <= 1.2 and at most two
DynamoDB round trips per submit (``dynamodb_round_trips_per_submit``); one bare ``put_item``
(``p99_ratio``) is reported for reference only.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import (  # noqa: E402
    RoundTrips,
    arguments,
    bare_request_put,
    config_parameter,
    environment,
    finish,
    function_env,
    gateway_load,
    interleaved,
    latency_ms,
    load_function,
    moto_stack,
    numbers,
    table,
    targets_met,
    verdict,
    warm_up,
)
from devstack import aws, template  # noqa: E402

TARGETS = {"p99_ratio_vs_floor": 1.2, "dynamodb_round_trips_per_submit": 2}
FUNCTION = "CallbacksFunction"
CONFIG = {
    "timezone": "Europe/Prague",
    "business_hours": {},
    "holidays": [],
    "callback_queue_id": "1",
    "allowed_countries": ["CZ"],
    "slot_minutes": 30,
    "slot_capacity": 2,
    "booking_horizon_days": 14,
    "callbacks": {
        "per_number_per_hour": 1000,
        "per_number_per_day": 1000,
        "per_ip_per_hour": 100000,
        "distinct_numbers_per_ip_per_day": 10000,
        # The gateway part sends every submit from 127.0.0.1: its network and the global cap must
        # not refuse what measures the machinery (the limits' cost is measured all the same).
        "per_network_per_hour": 100000,
        "new_callbacks_per_minute": 1000000,
    },
}

phone = numbers("+42060")  # distinct valid Czech mobiles (+420 60x xxx xxx)


def body() -> dict[str, Any]:
    return {
        "mode": "later",
        "phone": phone(),
        "name": "Jana Novakova",
        "email": "jana@example.com",
        "provider": "web",
        "page_url": "https://www.example.com/pricing",
        "utm_source": "newsletter",
        "utm_campaign": "autumn",
        "consent": True,
        "extra": {"plan": "business"},
    }


def warm_latency(
    stack: aws.ProvisionedStack, tpl: template.StackTemplate, config_name: str, requests: int
) -> dict[str, float]:
    with environment(function_env(stack, tpl, FUNCTION, config_name)):
        app = load_function("callbacks", "bench_callbacks_app", "form_api.py")
        from devstack.lambda_context import LambdaContext
        from tests.support.events import http_event

        context = LambdaContext("bench")
        bare = aws.aws_client("dynamodb", stack.endpoint)
        table = stack.names["CallbacksTable"]
        # Same item shape and key schema, another table: the baseline does not grow the table the
        # handler writes (moto's transactions copy whole tables, so their size matters there).
        baseline_table = stack.names["ProjectionsTable"]
        rng = random.Random(5)

        from ringback.adapters import callbacks_factory

        trips = RoundTrips(callbacks_factory.dynamodb())

        def handler_once(idempotent: bool = False) -> float:
            headers = {"idempotency-key": str(uuid.uuid4())} if idempotent else {}
            event = http_event(
                "POST",
                "/v1/callbacks",
                body=body(),
                headers=headers,
                source_ip=f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            )
            if not idempotent:  # the idempotent submit's requests are Powertools' own
                trips.start()
            started = time.perf_counter()
            response = app.lambda_handler(event, context)
            elapsed = time.perf_counter() - started
            if not idempotent:
                trips.stop()
            assert response["statusCode"] == 202, response["body"]
            return elapsed

        guard_table = stack.names["GuardTable"]

        floor_pool = ThreadPoolExecutor(max_workers=8)

        def floor_once() -> float:
            """The writes a submit cannot avoid, bare and in the same two concurrent rounds: the
            folded counter items of the number, the client, its network and the global cap's
            shard, the lock and the conditional put of
            the outbox entry (the submit's journal); then the request with its consent and the
            lock's commit (one BatchWriteItem)."""
            callback_id = uuid.uuid4().hex
            number = phone()
            window = str(int(time.time()) // 86400)
            first: list[Any] = [
                partial(
                    bare.update_item,
                    TableName=guard_table,
                    Key={"pk": {"S": f"RL#{n}#{uuid.uuid4().hex}#{window}"}},
                    UpdateExpression="ADD h :one, d :one SET expires_at = if_not_exists(expires_at, :e)",
                    ConditionExpression="(attribute_not_exists(h) OR h < :l) AND (attribute_not_exists(d) OR d < :l)",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":l": {"N": "100"}, ":e": {"N": "1"}},
                )
                for n in range(4)
            ]
            first.append(
                partial(
                    bare.put_item,
                    TableName=table,
                    Item={"pk": {"S": f"OPEN#{number}"}, "sk": {"S": "LOCK"}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            )
            second: list[Any] = [
                partial(
                    bare.batch_write_item,
                    RequestItems={
                        table: [
                            {
                                "PutRequest": {
                                    "Item": {
                                        "pk": {"S": f"CB#{callback_id}"},
                                        "sk": {"S": "REQUEST"},
                                        "payload": {"S": json.dumps(body())},
                                    }
                                }
                            },
                            {
                                "PutRequest": {
                                    "Item": {"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "CONSENT"}}
                                }
                            },
                            {"PutRequest": {"Item": {"pk": {"S": f"OPEN#{number}"}, "sk": {"S": "LOCK"}}}},
                        ]
                    },
                ),
            ]
            first.append(
                partial(
                    bare.put_item,
                    TableName=stack.names["DialerOutboxTable"],
                    Item={"pk": {"S": f"OUT#cb_{callback_id}"}, "sk": {"S": "ENTRY"}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            )
            started = time.perf_counter()
            list(floor_pool.map(lambda call: call(), first))
            list(floor_pool.map(lambda call: call(), second))
            return time.perf_counter() - started

        def baseline_once() -> float:
            return bare_request_put(bare, baseline_table, phone(), body())

        idempotent_once = partial(handler_once, True)
        warm_up([handler_once, baseline_once, idempotent_once, floor_once], 10)
        trips.clear()
        handler_times, baseline_times, idem_times, floor_times = interleaved(
            [handler_once, baseline_once, idempotent_once, floor_once], requests
        )
    return {
        **latency_ms("handler", handler_times),
        **latency_ms("idempotent", idem_times),
        **latency_ms("baseline", baseline_times),
        **latency_ms("floor", floor_times),
        "dynamodb_requests_per_submit": statistics.median(trips.requests),
        "dynamodb_round_trips_per_submit": statistics.median(trips.rounds),
    }


def through_gateway(
    stack: aws.ProvisionedStack,
    tpl: template.StackTemplate,
    config_name: str,
    requests: int,
    callers: int = 8,
    workers: int = 2,
) -> dict[str, float]:
    bodies = [body() for _ in range(requests + workers * 3)]
    try:
        load = gateway_load(
            tpl,
            FUNCTION,
            function_env(stack, tpl, FUNCTION, config_name),
            lambda client, item: client.post("/v1/callbacks", json=item),
            warm=bodies[: workers * 3],
            measured=bodies[workers * 3 :],
            callers=callers,
            workers=workers,
            expect=202,
        )
    except ImportError as error:  # the local gateway is optional for this benchmark
        print(f"local gateway not available ({error}); skipping the sustained rate", flush=True)
        return {}
    return {
        "gateway_submits_per_s": load.per_s,
        **latency_ms("gateway", load.latencies),
        "gateway_errors": load.errors,
        "gateway_callers": callers,
        "gateway_workers": workers,
    }


def main() -> int:
    args = arguments(__doc__ or "")
    requests = 60 if args.quick else 600
    gateway_requests = 100 if args.quick else 1000

    with moto_stack() as (tpl, stack):
        config_name = config_parameter(stack, "/ringback/bench/callbacks-config", CONFIG)
        warm = warm_latency(stack, tpl, config_name, requests)
        gateway = through_gateway(stack, tpl, config_name, gateway_requests)

    figures: dict[str, Any] = {
        "submits": requests,
        **warm,
        **gateway,
        "p50_ratio": warm["handler_p50_ms"] / warm["baseline_p50_ms"],
        "p99_ratio": warm["handler_p99_ms"] / warm["baseline_p99_ms"],
        "idempotent_p99_ratio": warm["idempotent_p99_ms"] / warm["baseline_p99_ms"],
        "p99_ratio_vs_floor": warm["handler_p99_ms"] / warm["floor_p99_ms"],
        "targets": TARGETS,
    }
    figures["meets_targets"] = targets_met(figures, TARGETS)
    figures["p50_ratio_vs_floor"] = warm["handler_p50_ms"] / warm["floor_p50_ms"]
    table(
        f"callback submits, {requests} of each (baseline: the same writes done bare)",
        ["measure", "handler", "bare writes", "ratio", "target", ""],
        [
            [
                "submit p50 (ms)",
                warm["handler_p50_ms"],
                warm["floor_p50_ms"],
                figures["p50_ratio_vs_floor"],
                None,
                "",
            ],
            [
                "submit p99 (ms)",
                warm["handler_p99_ms"],
                warm["floor_p99_ms"],
                figures["p99_ratio_vs_floor"],
                TARGETS["p99_ratio_vs_floor"],
                verdict(figures["p99_ratio_vs_floor"], TARGETS["p99_ratio_vs_floor"]),
            ],
            [
                "idempotent submit p99 (ms)",
                warm["idempotent_p99_ms"],
                warm["floor_p99_ms"],
                warm["idempotent_p99_ms"] / warm["floor_p99_ms"],
                None,
                "",
            ],
            [
                "one bare put_item p99 (ms)",
                warm["baseline_p99_ms"],
                None,
                figures["p99_ratio"],
                None,
                "reference",
            ],
        ],
    )
    print(
        f"\nDynamoDB per submit: {warm['dynamodb_requests_per_submit']:.0f} requests in "
        f"{warm['dynamodb_round_trips_per_submit']:.0f} round trips (target <= "
        f"{TARGETS['dynamodb_round_trips_per_submit']}: "
        f"{verdict(warm['dynamodb_round_trips_per_submit'], TARGETS['dynamodb_round_trips_per_submit'])})"
    )
    if gateway:
        print(
            f"\nthrough the local gateway: {gateway['gateway_submits_per_s']:.0f} submits/s sustained, "
            f"{gateway['gateway_callers']} callers, {gateway['gateway_workers']} workers, "
            f"p50 {gateway['gateway_p50_ms']:.1f} ms, p99 {gateway['gateway_p99_ms']:.1f} ms, "
            f"{gateway['gateway_errors']} errors"
        )
    finish(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

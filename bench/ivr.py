"""IVR callback accept benchmark: the handler against one bare ``put_item``, in the same run.

    python bench/ivr.py            # 600 accepts
    python bench/ivr.py --quick    # 60 accepts (well under a minute)

Measures, against a local moto server (its own process), the warm latency of
``POST /v1/callbacks/ivr`` through the handler (API Gateway v2 event in, 200 out: the token
check, the fields, the deadline-bound use case: round trip one, the number's lock beside the
dialer outbox entry; round trip two, the request and the lock's commit) against one bare boto3
``put_item`` of a request-sized item, interleaved so both see the same load. The push to
Webitel runs after the answer is settled and is not the caller's latency: it is left out here
(the handler's ``deliver`` is off). The offer snapshot is read once per container every 15 s
(``adapters.ivr_factory``), as in a warm Lambda. The handler's DynamoDB client is instrumented:
``dynamodb_requests_per_accept`` and ``dynamodb_round_trips_per_accept`` (a round trip starts
when a request leaves with none in flight). Prints a table, then one JSON line. Targets: at
most two DynamoDB round trips per accept and an accept p99 within the 800 ms budget; the ratio
to the bare ``put_item`` is reported (on moto concurrent requests are served one after the
other, so an accept costs about the sum of its requests).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
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

FUNCTION = "IvrCallbacksFunction"
BUDGET_MS = 800
TARGETS = {"dynamodb_round_trips_per_accept": 2, "accept_p99_ms": BUDGET_MS}
CONFIG = {
    "timezone": "Europe/Prague",
    "business_hours": {},
    "holidays": [],
    "callback_queue_id": "1",
    "inbound_queue_id": "3",
    "allowed_countries": ["CZ"],
    "ivr_callback": {"enabled": True, "max_open": 100_000},
}

phone = numbers("+42073")


def warm_latency(stack: aws.ProvisionedStack, tpl: template.StackTemplate, requests: int) -> dict[str, float]:
    config = config_parameter(stack, "/ringback/bench/ivr-config", CONFIG)
    env = function_env(
        stack, tpl, FUNCTION, config, RINGBACK_IVR_BUDGET_MS=str(BUDGET_MS), POWERTOOLS_LOG_LEVEL="ERROR"
    )
    with environment(env):
        app = load_function("ivr", "bench_ivr_app")
        from devstack.lambda_context import LambdaContext
        from ringback.adapters import ivr_factory
        from tests.support.events import http_event

        context = LambdaContext("bench")
        token = stack.tokens["ivr"]
        bare = aws.aws_client("dynamodb", stack.endpoint)
        baseline_table = stack.names["ProjectionsTable"]
        ivr_factory.service().core.deliver = None  # the push runs after the answer: not measured

        trips = RoundTrips(ivr_factory.dynamodb())

        def handler_once() -> float:
            body = {
                "cid": phone(),
                "queue_id": "3",
                "joined_at": str(int(time.time() * 1000) - 45_000),
                "call_id": str(uuid.uuid4()),
                "language": "cs",
            }
            event = http_event(
                "POST", "/v1/callbacks/ivr", body=body, headers={"authorization": f"Bearer {token}"}
            )
            trips.start()
            started = time.perf_counter()
            response = app.lambda_handler(event, context)
            elapsed = time.perf_counter() - started
            trips.stop()
            answer = json.loads(response["body"])
            assert response["statusCode"] == 200 and answer["accepted"] == "true", response["body"]
            return elapsed

        def baseline_once() -> float:
            payload = {"source": "ivr", "mode": "now", "call_id": uuid.uuid4().hex}
            return bare_request_put(bare, baseline_table, phone(), payload)

        warm_up([handler_once, baseline_once], 10)
        trips.clear()
        handler_times, baseline_times = interleaved([handler_once, baseline_once], requests)
    return {
        **latency_ms("accept", handler_times),
        **latency_ms("baseline", baseline_times),
        "dynamodb_requests_per_accept": statistics.median(trips.requests),
        "dynamodb_round_trips_per_accept": statistics.median(trips.rounds),
        "dynamodb_round_trips_per_accept_max": max(trips.rounds),
    }


def main() -> int:
    args = arguments(__doc__ or "")
    requests = 60 if args.quick else 600
    with moto_stack() as (tpl, stack):
        warm = warm_latency(stack, tpl, requests)
    figures: dict[str, Any] = {
        "accepts": requests,
        **warm,
        "p50_ratio": warm["accept_p50_ms"] / warm["baseline_p50_ms"],
        "p99_ratio": warm["accept_p99_ms"] / warm["baseline_p99_ms"],
        "targets": TARGETS,
    }
    figures["meets_targets"] = targets_met(figures, TARGETS)
    table(
        f"IVR callback accepts, {requests} of each (baseline: one bare put_item)",
        ["measure", "accept", "put_item", "ratio", "target", ""],
        [
            ["p50 (ms)", warm["accept_p50_ms"], warm["baseline_p50_ms"], figures["p50_ratio"], None, ""],
            [
                "p99 (ms)",
                warm["accept_p99_ms"],
                warm["baseline_p99_ms"],
                figures["p99_ratio"],
                BUDGET_MS,
                verdict(warm["accept_p99_ms"], BUDGET_MS),
            ],
        ],
    )
    print(
        f"\nDynamoDB per accept: {warm['dynamodb_requests_per_accept']:.0f} requests in "
        f"{warm['dynamodb_round_trips_per_accept']:.0f} round trips (target <= "
        f"{TARGETS['dynamodb_round_trips_per_accept']}: "
        f"{verdict(warm['dynamodb_round_trips_per_accept'], TARGETS['dynamodb_round_trips_per_accept'])})"
    )
    finish(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

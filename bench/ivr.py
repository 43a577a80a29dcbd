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
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import (  # noqa: E402
    arguments,
    environment,
    finish,
    interleaved,
    latency_ms,
    load_function,
    moto_stack,
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

_counter = iter(range(10**8))


def phone() -> str:
    n = next(_counter)
    return f"+42073{1 + n // 1_000_000 % 8}{n % 1_000_000:06d}"


def put_config(stack: aws.ProvisionedStack) -> str:
    name = "/ringback/bench/ivr-config"
    ssm = aws.aws_client("ssm", stack.endpoint)
    ssm.put_parameter(Name=name, Value=json.dumps(CONFIG), Type="String", Overwrite=True)
    return name


def warm_latency(stack: aws.ProvisionedStack, tpl: template.StackTemplate, requests: int) -> dict[str, float]:
    env = stack.function_environment(tpl, FUNCTION)
    env.update(
        {
            "RINGBACK_CONFIG_PARAMETER": put_config(stack),
            "RINGBACK_IVR_BUDGET_MS": str(BUDGET_MS),
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
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

        calls = {"requests": 0, "rounds": 0, "in_flight": 0, "on": False}
        lock = threading.Lock()

        def before_call(**_: Any) -> None:
            with lock:
                if calls["on"]:
                    calls["rounds"] += calls["in_flight"] == 0
                    calls["requests"] += 1
                    calls["in_flight"] += 1

        def after_call(**_: Any) -> None:
            with lock:
                if calls["on"]:
                    calls["in_flight"] -= 1

        events = ivr_factory.dynamodb().meta.events
        events.register("before-call.dynamodb", before_call)
        events.register("after-call.dynamodb", after_call)
        events.register("after-call-error.dynamodb", after_call)
        requests_per: list[int] = []
        rounds_per: list[int] = []

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
            with lock:
                calls.update(requests=0, rounds=0, in_flight=0, on=True)
            started = time.perf_counter()
            response = app.lambda_handler(event, context)
            elapsed = time.perf_counter() - started
            with lock:
                calls["on"] = False
            answer = json.loads(response["body"])
            assert response["statusCode"] == 200 and answer["accepted"] == "true", response["body"]
            requests_per.append(calls["requests"])
            rounds_per.append(calls["rounds"])
            return elapsed

        def baseline_once() -> float:
            callback_id = uuid.uuid4().hex
            item = {
                "pk": {"S": f"CB#{callback_id}"},
                "sk": {"S": "REQUEST"},
                "gsi1pk": {"S": f"PHONE#{phone()}"},
                "gsi1sk": {"S": f"2026-11-18T10:00:00+00:00#{callback_id}"},
                "status": {"S": "received"},
                "payload": {"S": json.dumps({"source": "ivr", "mode": "now", "call_id": callback_id})},
            }
            started = time.perf_counter()
            bare.put_item(TableName=baseline_table, Item=item)
            return time.perf_counter() - started

        warm_up([handler_once, baseline_once], 10)
        requests_per.clear()
        rounds_per.clear()
        handler_times, baseline_times = interleaved([handler_once, baseline_once], requests)
    return {
        **latency_ms("accept", handler_times),
        **latency_ms("baseline", baseline_times),
        "dynamodb_requests_per_accept": statistics.median(requests_per),
        "dynamodb_round_trips_per_accept": statistics.median(rounds_per),
        "dynamodb_round_trips_per_accept_max": max(rounds_per),
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

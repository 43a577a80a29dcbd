"""Callback submit benchmark: the handler against one bare DynamoDB ``put_item``, in the same run.

    python bench/callbacks.py            # 2000 submits, 3000 through the gateway
    python bench/callbacks.py --quick    # 300 submits, 600 through the gateway (well under a minute)

Measures, against a local moto server (its own process, so it does not share our GIL):
  1. warm latency of ``POST /v1/callbacks`` through the handler (API Gateway v2 event in, 202 out:
     validation, phone parsing, round trip one: the number's and the client's folded rate-limit
     items + the number's lock; round trip two: request + consent (one BatchWriteItem) and the
     dialer outbox entry) vs one bare boto3 ``put_item`` of a request-sized item (the baseline),
     interleaved so both see the same load; also the same submit with an ``Idempotency-Key``
     (Powertools Idempotency adds its own reads and writes) for information;
  2. sustained submits per second through the local API gateway (devstack) over HTTP with
     concurrent callers and a pool of function workers.
Mode ``later`` in an always-open configuration: the request is stored and queued for the
scheduled uploader (``now`` would add a Webitel round trip that is not ringback's latency).
Also measured, for reading the ratio: the bare writes a submit cannot avoid, issued the same
way without the handler (``floor_p99_ms``: two folded counter updates and the lock, then the
request + consent batch and the outbox put, each round concurrent). ``p99_ratio_vs_floor`` shows
what ringback adds on top of its own writes. The handler's DynamoDB client is instrumented:
``dynamodb_requests_per_submit`` and ``dynamodb_round_trips_per_submit`` (a round trip starts
when a request leaves with none in flight) are the design's cost on DynamoDB, where concurrent
requests are served in parallel. moto is one Python process and serves them one after the
other under its own GIL (two concurrent UpdateItems take as long as two sequential ones), so
on moto a submit costs about the sum of its requests, not its round trips.
Prints a table, then one JSON line. Target: ``p99_ratio`` <= 2.0.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from devstack import aws, template  # noqa: E402

TARGETS = {"p99_ratio": 2.0}
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
    },
}


def _moto_process(conn: Any) -> None:
    from devstack.moto_server import MotoServer

    server = MotoServer()
    conn.send(server.start())
    conn.recv()
    server.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


_counter = iter(range(10**8))


def phone() -> str:
    """Distinct valid Czech mobiles (+420 60x xxx xxx)."""
    n = next(_counter)
    return f"+42060{1 + n // 1_000_000 % 8}{n % 1_000_000:06d}"


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


def function_env(
    stack: aws.ProvisionedStack, tpl: template.StackTemplate, config_name: str
) -> dict[str, str]:
    env = stack.function_environment(tpl, FUNCTION)
    env.update(
        {
            "RINGBACK_CONFIG_PARAMETER": config_name,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    return env


def put_config(stack: aws.ProvisionedStack) -> str:
    import boto3

    name = "/ringback/bench/callbacks-config"
    ssm = boto3.client(
        "ssm",
        endpoint_url=stack.endpoint,
        region_name=aws.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ssm.put_parameter(Name=name, Value=json.dumps(CONFIG), Type="String", Overwrite=True)
    return name


def warm_latency(
    stack: aws.ProvisionedStack, tpl: template.StackTemplate, config_name: str, requests: int
) -> dict[str, float]:
    import importlib.util

    import boto3

    saved = dict(os.environ)
    os.environ.update(function_env(stack, tpl, config_name))
    try:
        sys.path.insert(0, str(ROOT / "functions" / "callbacks"))
        spec = importlib.util.spec_from_file_location(
            "bench_callbacks_app", ROOT / "functions/callbacks/app.py"
        )
        assert spec and spec.loader
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        from devstack.lambda_context import LambdaContext
        from tests.support.events import http_event

        context = LambdaContext("bench")
        bare = boto3.client(
            "dynamodb",
            endpoint_url=stack.endpoint,
            region_name=aws.REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        table = stack.names["CallbacksTable"]
        # Same item shape and key schema, another table: the baseline does not grow the table the
        # handler writes (moto's transactions copy whole tables, so their size matters there).
        baseline_table = stack.names["ProjectionsTable"]
        rng = random.Random(5)

        from ringback.adapters import callbacks_factory

        calls = {"requests": 0, "rounds": 0, "in_flight": 0, "on": False}
        calls_lock = threading.Lock()

        def before_call(**_: Any) -> None:
            with calls_lock:
                if calls["on"]:
                    calls["rounds"] += calls["in_flight"] == 0  # nothing in flight: a new round trip
                    calls["requests"] += 1
                    calls["in_flight"] += 1

        def after_call(**_: Any) -> None:
            with calls_lock:
                if calls["on"]:
                    calls["in_flight"] -= 1

        events = callbacks_factory.dynamodb().meta.events  # type: ignore[attr-defined]
        events.register("before-call.dynamodb", before_call)
        events.register("after-call.dynamodb", after_call)
        events.register("after-call-error.dynamodb", after_call)
        requests_per_submit: list[int] = []
        rounds_per_submit: list[int] = []

        def handler_once(idempotent: bool = False) -> float:
            headers = {"idempotency-key": str(uuid.uuid4())} if idempotent else {}
            event = http_event(
                "POST",
                "/v1/callbacks",
                body=body(),
                headers=headers,
                source_ip=f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            )
            with calls_lock:
                calls.update(requests=0, rounds=0, in_flight=0, on=not idempotent)
            started = time.perf_counter()
            response = app.lambda_handler(event, context)
            elapsed = time.perf_counter() - started
            with calls_lock:
                calls["on"] = False
            assert response["statusCode"] == 202, response["body"]
            if not idempotent:
                requests_per_submit.append(calls["requests"])
                rounds_per_submit.append(calls["rounds"])
            return elapsed

        guard_table = stack.names["GuardTable"]

        floor_pool = ThreadPoolExecutor(max_workers=8)

        def floor_once() -> float:
            """The writes a submit cannot avoid, bare and in the same two concurrent rounds: the
            number's and the client's folded counter items and the lock; then the request with
            its consent (one BatchWriteItem) and the conditional put of the outbox entry."""
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
                for n in range(2)
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
                        ]
                    },
                ),
                partial(
                    bare.put_item,
                    TableName=stack.names["DialerOutboxTable"],
                    Item={"pk": {"S": f"OUT#cb_{callback_id}"}, "sk": {"S": "ENTRY"}},
                    ConditionExpression="attribute_not_exists(pk)",
                ),
            ]
            started = time.perf_counter()
            list(floor_pool.map(lambda call: call(), first))
            list(floor_pool.map(lambda call: call(), second))
            return time.perf_counter() - started

        def baseline_once() -> float:
            callback_id = uuid.uuid4().hex
            item = {
                "pk": {"S": f"CB#{callback_id}"},
                "sk": {"S": "REQUEST"},
                "gsi1pk": {"S": f"PHONE#{phone()}"},
                "gsi1sk": {"S": f"2026-11-18T10:00:00+00:00#{callback_id}"},
                "status": {"S": "received"},
                "payload": {"S": json.dumps(body())},
            }
            started = time.perf_counter()
            bare.put_item(TableName=baseline_table, Item=item)
            return time.perf_counter() - started

        for _ in range(10):
            handler_once()
            baseline_once()
            handler_once(True)
            floor_once()
        requests_per_submit.clear()
        rounds_per_submit.clear()
        handler_times, baseline_times, idem_times, floor_times = [], [], [], []
        for i in range(requests):
            order = [0, 1, 2, 3] if i % 2 else [3, 2, 1, 0]
            for which in order:
                if which == 0:
                    handler_times.append(handler_once())
                elif which == 1:
                    baseline_times.append(baseline_once())
                elif which == 2:
                    idem_times.append(handler_once(True))
                else:
                    floor_times.append(floor_once())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    ms = 1000
    return {
        "handler_p50_ms": statistics.median(handler_times) * ms,
        "handler_p99_ms": percentile(handler_times, 99) * ms,
        "idempotent_p50_ms": statistics.median(idem_times) * ms,
        "idempotent_p99_ms": percentile(idem_times, 99) * ms,
        "baseline_p50_ms": statistics.median(baseline_times) * ms,
        "baseline_p99_ms": percentile(baseline_times, 99) * ms,
        "floor_p50_ms": statistics.median(floor_times) * ms,
        "floor_p99_ms": percentile(floor_times, 99) * ms,
        "dynamodb_requests_per_submit": statistics.median(requests_per_submit),
        "dynamodb_round_trips_per_submit": statistics.median(rounds_per_submit),
    }


def through_gateway(
    stack: aws.ProvisionedStack,
    tpl: template.StackTemplate,
    config_name: str,
    requests: int,
    callers: int = 8,
    workers: int = 2,
) -> dict[str, float]:
    try:
        import httpx

        from devstack.functions import FunctionPool
        from devstack.gateway import LocalGateway
    except ImportError as error:  # the local gateway is optional for this benchmark
        print(f"local gateway not available ({error}); skipping the sustained rate", flush=True)
        return {}
    spec = tpl.functions[FUNCTION]
    pool = FunctionPool(
        spec, function_env(stack, tpl, config_name), tpl.layer_dirs, max_workers=workers, echo_logs=False
    )
    routes = [r for r in tpl.routes if r.function == FUNCTION]
    gateway = LocalGateway(routes, {FUNCTION: pool}, port=0, quiet=True)
    gateway.start()
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    bodies = [body() for _ in range(requests + workers * 3)]
    try:
        with ThreadPoolExecutor(max_workers=workers) as warm:
            list(
                warm.map(
                    lambda b: httpx.post(f"{gateway.url}/v1/callbacks", json=b, timeout=30),
                    bodies[: workers * 3],
                )
            )

        def caller(share: list[dict[str, Any]]) -> None:
            nonlocal errors
            with httpx.Client(base_url=gateway.url, timeout=30) as client:
                for item in share:
                    started = time.perf_counter()
                    response = client.post("/v1/callbacks", json=item)
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies.append(elapsed)
                        if response.status_code != 202:
                            errors += 1

        measured = bodies[workers * 3 :]
        shares = [measured[i::callers] for i in range(callers)]
        started = time.perf_counter()
        threads = [threading.Thread(target=caller, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        gateway.stop()
        pool.close()
    return {
        "gateway_submits_per_s": len(latencies) / wall,
        "gateway_p50_ms": statistics.median(latencies) * 1000,
        "gateway_p99_ms": percentile(latencies, 99) * 1000,
        "gateway_errors": errors,
        "gateway_callers": callers,
        "gateway_workers": workers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer submits (well under a minute)")
    args = parser.parse_args()
    requests = 60 if args.quick else 600
    gateway_requests = 100 if args.quick else 1000

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    moto = ctx.Process(target=_moto_process, args=(child,), daemon=True)
    moto.start()
    try:
        endpoint = parent.recv()
        tpl = template.load()
        stack = aws.provision(tpl, endpoint, parameters={"Stage": "bench"}, stack_name="ringback-bench")
        config_name = put_config(stack)
        warm = warm_latency(stack, tpl, config_name, requests)
        gateway = through_gateway(stack, tpl, config_name, gateway_requests)
    finally:
        parent.send("stop")
        moto.join(timeout=10)
        if moto.is_alive():
            moto.terminate()

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
    figures["meets_targets"] = all(figures[k] <= v for k, v in TARGETS.items())
    print(f"\n{'measure':<26}{'handler':>10}{'put_item':>10}{'ratio':>8}{'target':>8}")
    rows = [
        ("submit p50 (ms)", warm["handler_p50_ms"], figures["p50_ratio"], None),
        ("submit p99 (ms)", warm["handler_p99_ms"], figures["p99_ratio"], TARGETS["p99_ratio"]),
        ("idempotent submit p99 (ms)", warm["idempotent_p99_ms"], figures["idempotent_p99_ratio"], None),
        (
            "bare writes floor p99 (ms)",
            warm["floor_p99_ms"],
            warm["floor_p99_ms"] / warm["baseline_p99_ms"],
            None,
        ),
    ]
    for name, ours, ratio, target in rows:
        base = warm["baseline_p99_ms"] if "p99" in name else warm["baseline_p50_ms"]
        flag = "" if target is None else ("  ok" if ratio <= target else "  MISSED")
        print(
            f"{name:<26}{ours:>10.2f}{base:>10.2f}{ratio:>8.2f}{'' if target is None else f'{target:>8.2f}'}{flag}"
        )
    if gateway:
        print(
            f"\nthrough the local gateway: {gateway['gateway_submits_per_s']:.0f} submits/s sustained, "
            f"{gateway['gateway_callers']} callers, {gateway['gateway_workers']} workers, "
            f"p50 {gateway['gateway_p50_ms']:.1f} ms, p99 {gateway['gateway_p99_ms']:.1f} ms, "
            f"{gateway['gateway_errors']} errors"
        )
    print(
        json.dumps(
            {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}, separators=(",", ":")
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Routing lookup benchmark: the handler against a bare DynamoDB ``get_item``, in the same run.

    python bench/routing.py            # 100k customers
    python bench/routing.py --quick    # 5k customers, fewer requests (well under a minute)

Measures, against a local moto server holding the customers:
  1. warm server-side latency of the handler (API Gateway v2 event in, JSON out; live reads, the
     in-memory answer cache disabled; one BatchGetItem of the directory entry and the number's
     open-callback pointer) vs one bare boto3 ``get_item`` on the same table (baseline),
     interleaved request by request so both see the same machine load;
  2. cold start: a fresh interpreter importing the function and serving its first request
     (tokens read from Secrets Manager included) vs a fresh interpreter doing ``import boto3`` and
     one ``get_item``; and the peak RSS of both processes;
  3. p50 / p99 through the local gateway over HTTP with 50 concurrent callers.
The moto server runs in its own process (a ThreadedMotoServer there), so its request handling does
not share a GIL with the code being measured. Prints a table, then one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import (  # noqa: E402
    arguments,
    environment,
    finish,
    gateway_load,
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

TARGETS = {"p99_ratio": 1.3, "cold_start_ratio": 1.5, "rss_ratio": 1.3}
FUNCTION = "RoutingFunction"


def number(i: int) -> str:
    return f"+420{770000000 + i * 7:09d}"  # +420 77x xxx xxx: valid Czech mobiles, all distinct


def load_customers(stack: aws.ProvisionedStack, count: int) -> float:
    from ringback.adapters.customers_dynamo import DynamoCustomerStore
    from ringback.domain.customers import DirectoryEntry

    table = stack.names["CustomersTable"]
    started = time.perf_counter()
    chunks = [range(start, min(start + 500, count)) for start in range(0, count, 500)]

    def load(chunk: range) -> None:
        store = DynamoCustomerStore(table, aws.aws_client("dynamodb", stack.endpoint))
        store.put(
            [
                DirectoryEntry(
                    e164=number(i),
                    customer_id=f"C{i:06d}",
                    name=f"Zákazník {i}",
                    debt=i % 5 == 0,
                    debt_amount="1250.00" if i % 5 == 0 else None,
                    debt_currency="CZK",
                    segment=random.choice(["retail", "vip", "business"]),
                    priority=i % 100,
                    agent_extension=str(1000 + i % 50),
                    language="cs",
                )
                for i in chunk
            ]
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(load, chunks))
    return time.perf_counter() - started


def function_env(stack: aws.ProvisionedStack, tpl: template.StackTemplate) -> dict[str, str]:
    env = stack.function_environment(tpl, FUNCTION)
    env.update({"RINGBACK_ROUTING_CACHE_TTL_S": "0", "POWERTOOLS_LOG_LEVEL": "WARNING"})
    return env


def warm_latency(
    stack: aws.ProvisionedStack, tpl: template.StackTemplate, customers: int, requests: int, **extra_env: str
) -> dict[str, float]:
    from ringback.adapters.routing_settings import get_routing_settings

    env = function_env(stack, tpl)
    env.update(extra_env)
    with environment(env):
        get_routing_settings.cache_clear()
        from ringback.adapters import routing_factory

        # A new container: the service and token gate are built again with this environment.
        routing_factory.service.cache_clear()
        routing_factory.gate.cache_clear()
        app = load_function("routing", "bench_routing_app")
        from devstack.lambda_context import LambdaContext
        from tests.support.events import http_event

        context = LambdaContext("bench")
        token = stack.tokens["routing"]
        bare = aws.aws_client("dynamodb", stack.endpoint)
        table = stack.names["CustomersTable"]
        rng = random.Random(7)

        def pick() -> str:
            # 90% known callers, 10% unknown numbers (still a full lookup).
            return (
                number(rng.randrange(customers))
                if rng.random() < 0.9
                else number(customers + rng.randrange(10**5))
            )

        def handler_once() -> float:
            event = http_event(
                "GET", "/v1/routing", query={"cid": pick()}, headers={"authorization": f"Bearer {token}"}
            )
            started = time.perf_counter()
            response = app.lambda_handler(event, context)
            elapsed = time.perf_counter() - started
            body = json.loads(response["body"])
            assert response["statusCode"] == 200 and body["source"] == "live", body
            return elapsed

        def baseline_once() -> float:
            key = {"pk": {"S": "PHONE#" + pick()}}
            started = time.perf_counter()
            bare.get_item(TableName=table, Key=key)
            return time.perf_counter() - started

        warm_up([handler_once, baseline_once], 100)
        handler_times, baseline_times = interleaved([handler_once, baseline_once], requests)
    return {**latency_ms("handler", handler_times), **latency_ms("baseline", baseline_times)}


FUNCTION_COLD = textwrap.dedent("""
    import time
    started = time.perf_counter()
    import json, sys
    sys.path[:0] = [{code!r}, {layer!r}]
    import importlib
    app = importlib.import_module({module!r})  # template.yaml's Handler
    class Context:
        function_name = "bench"; memory_limit_in_mb = 1024; aws_request_id = "cold"
        invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:bench"
        def get_remaining_time_in_millis(self): return 3000
    event = {{"version": "2.0", "routeKey": "GET /v1/routing", "rawPath": "/v1/routing",
             "rawQueryString": "cid={cid}", "queryStringParameters": {{"cid": "{cid}"}},
             "headers": {{"authorization": "Bearer {token}", "host": "bench"}},
             "requestContext": {{"http": {{"method": "GET", "path": "/v1/routing", "sourceIp": "127.0.0.1"}},
                                "requestId": "cold", "stage": "$default", "routeKey": "GET /v1/routing"}},
             "isBase64Encoded": False}}
    response = app.lambda_handler(event, Context())
    elapsed = time.perf_counter() - started
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body["found"] and body["source"] == "live", body
    print(json.dumps({{"s": elapsed, "rss_kb": peak_rss_kb()}}))
""")

BASELINE_COLD = textwrap.dedent("""
    import time
    started = time.perf_counter()
    import json
    import boto3
    client = boto3.client("dynamodb")
    item = client.get_item(TableName={table!r}, Key={{"pk": {{"S": "PHONE#{cid}"}}}})
    elapsed = time.perf_counter() - started
    assert "Item" in item
    print(json.dumps({{"s": elapsed, "rss_kb": peak_rss_kb()}}))
""")

# Peak RSS of this process image: VmHWM is reset by exec (ru_maxrss keeps the forking parent's peak).
PEAK_RSS = textwrap.dedent("""
    def peak_rss_kb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
""")


def cold_starts(stack: aws.ProvisionedStack, tpl: template.StackTemplate, runs: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGBACK_", "POWERTOOLS_", "AWS_"))}
    env.update(function_env(stack, tpl))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # any value, "0" included, stops .pyc writing
    cid = number(3)
    fn_code = FUNCTION_COLD.format(
        code=str(ROOT / "functions" / "routing"),
        layer=str(ROOT / "layers" / "ringback"),
        cid=cid,
        token=stack.tokens["routing"],
        module=tpl.functions["RoutingFunction"].handler.rsplit(".", 1)[0],
    )
    base_code = BASELINE_COLD.format(table=stack.names["CustomersTable"], cid=cid)

    def run(code: str) -> dict[str, float]:
        out = subprocess.run(
            [sys.executable, "-c", PEAK_RSS + code],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=str(ROOT / "functions" / "routing"),
        )
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    run(fn_code)  # compile .pyc files once, as a deployed package has them
    run(base_code)
    fn, base = [], []
    for _ in range(runs):
        fn.append(run(fn_code))
        base.append(run(base_code))
    return {
        "function_cold_ms": statistics.median(r["s"] for r in fn) * 1000,
        "baseline_cold_ms": statistics.median(r["s"] for r in base) * 1000,
        "function_rss_mb": statistics.median(r["rss_kb"] for r in fn) / 1024,
        "baseline_rss_mb": statistics.median(r["rss_kb"] for r in base) / 1024,
    }


def through_gateway(
    stack: aws.ProvisionedStack,
    tpl: template.StackTemplate,
    customers: int,
    requests: int,
    callers: int = 50,
    workers: int = 8,
) -> dict[str, float]:
    rng = random.Random(11)
    cids = [number(rng.randrange(customers)) for _ in range(requests)]
    load = gateway_load(
        tpl,
        FUNCTION,
        function_env(stack, tpl),
        lambda client, cid: client.get("/v1/routing", params={"cid": cid}),
        warm=cids[: workers * 3],  # every worker warm (Lambda-like concurrency = workers) first
        measured=cids,
        callers=callers,
        workers=workers,
        expect=200,
        headers={"Authorization": f"Bearer {stack.tokens['routing']}"},
        tally=lambda response: response.json().get("reason"),
    )
    return {
        **latency_ms("gateway", load.latencies),
        "gateway_rps": load.per_s,
        "gateway_errors": load.errors,
        # Answers past the 300 ms budget (queueing behind the workers on this machine): still 200 JSON.
        "gateway_degraded": load.tallies["degraded"],
        "gateway_callers": callers,
        "gateway_workers": workers,
    }


def main() -> int:
    args = arguments(__doc__ or "")
    customers = 5_000 if args.quick else 100_000
    warm_requests = 400 if args.quick else 3_000
    cold_runs = 3 if args.quick else 7
    gateway_requests = 600 if args.quick else 5_000

    with moto_stack() as (tpl, stack):
        load_s = load_customers(stack, customers)
        print(f"loaded {customers} customers into moto in {load_s:.1f} s", flush=True)
        warm = warm_latency(stack, tpl, customers, warm_requests)
        # The same without the open-callback pointer (RINGBACK_ROUTING_CALLBACK_LOOKUP=false): a
        # plain GetItem instead of the BatchGetItem, showing what reading the pointer costs.
        lean = warm_latency(stack, tpl, customers, warm_requests, RINGBACK_ROUTING_CALLBACK_LOOKUP="false")
        cold = cold_starts(stack, tpl, cold_runs)
        gateway = through_gateway(stack, tpl, customers, gateway_requests)

    figures: dict[str, Any] = {
        "customers": customers,
        "warm_requests": warm_requests,
        "cold_runs": cold_runs,
        **warm,
        **cold,
        **gateway,
        "directory_only": lean,
        "p99_ratio_directory_only": lean["handler_p99_ms"] / lean["baseline_p99_ms"],
        "p50_ratio_directory_only": lean["handler_p50_ms"] / lean["baseline_p50_ms"],
        "p50_ratio": warm["handler_p50_ms"] / warm["baseline_p50_ms"],
        "p99_ratio": warm["handler_p99_ms"] / warm["baseline_p99_ms"],
        "cold_start_ratio": cold["function_cold_ms"] / cold["baseline_cold_ms"],
        "rss_ratio": cold["function_rss_mb"] / cold["baseline_rss_mb"],
        "targets": TARGETS,
    }
    figures["meets_targets"] = targets_met(figures, TARGETS)
    measures = [
        ("warm p50 (ms)", warm["handler_p50_ms"], warm["baseline_p50_ms"], "p50_ratio"),
        ("warm p99 (ms)", warm["handler_p99_ms"], warm["baseline_p99_ms"], "p99_ratio"),
        ("  p50, no cb read", lean["handler_p50_ms"], lean["baseline_p50_ms"], "p50_ratio_directory_only"),
        ("  p99, no cb read", lean["handler_p99_ms"], lean["baseline_p99_ms"], "p99_ratio_directory_only"),
        ("cold start (ms)", cold["function_cold_ms"], cold["baseline_cold_ms"], "cold_start_ratio"),
        ("peak RSS (MB)", cold["function_rss_mb"], cold["baseline_rss_mb"], "rss_ratio"),
    ]
    table(
        f"routing lookup, {customers} customers",
        ["measure", "handler", "get_item", "ratio", "target", ""],
        [
            [name, ours, base, figures[key], TARGETS.get(key), verdict(figures[key], TARGETS.get(key))]
            for name, ours, base, key in measures
        ],
    )
    print(
        f"\nthrough the local gateway over HTTP, {gateway['gateway_callers']} concurrent callers, "
        f"{gateway['gateway_workers']} function workers: p50 {gateway['gateway_p50_ms']:.1f} ms, "
        f"p99 {gateway['gateway_p99_ms']:.1f} ms, {gateway['gateway_rps']:.0f} req/s, "
        f"{gateway['gateway_errors']} errors"
    )
    finish(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

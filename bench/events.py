"""Event ingestion through EventsFunction's handler into a moto server, against bare put_item.

Figures (one JSON line at the end):
* ``throughput_ratio``: events/s through the handler (auth, validation, log write, projections)
  divided by bare ``put_item`` calls/s on the same moto server in the same run (target >= 0.5,
  i.e. about two writes' worth per event);
* ``p99_ms``: p99 latency of one event through the handler;
* ``rss_growth_mb``: resident memory growth of the handler process from after warm-up to the
  end (moto runs in a separate process, so its stored items do not count). Full run: 100k events;
  `--quick`: 1k events, well under a minute.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import (  # noqa: E402
    arguments,
    environment,
    finish,
    load_function,
    moto_stack,
    rss_mb,
    summary,
    table,
)
from devstack.lambda_context import LambdaContext  # noqa: E402
from tests.support.events import http_event  # noqa: E402

BASE = 1772443800000


def event_for(i: int, tokens: dict[str, str]) -> dict[str, Any]:
    """A realistic mix: 4 of 5 are Webitel hooks of calls, 1 of 5 an agent-desktop message."""
    if i % 5 == 4:
        body: dict[str, Any] = {
            "messageID": ("EventAgentReady", "EventRinging")[i % 2],
            "agent": f"{1000 + i % 50}",
            "timestamp": BASE + i,
            "callID": f"c{i}",
        }
        return http_event(
            "POST", "/v1/events/agent", body=body, headers={"authorization": f"Bearer {tokens['agent']}"}
        )
    call = i // 4
    name = ("joined", "offering", "bridged", "leaving")[i % 4]
    body = {
        "event": name,
        "direction": "outbound",
        "queue_id": "1",
        "member_id": str(call),
        "attempt_id": str(call),
        "member_channel_id": f"bench-{call}",
        "agent_id": "17",
        "destination": "+420777666555",
        "timestamp": str(BASE + i),
        "cc_result": "success" if name == "leaving" else "",
    }
    return http_event(
        "POST", "/v1/events/webitel", body=body, headers={"authorization": f"Bearer {tokens['events']}"}
    )


def main() -> None:
    args = arguments(__doc__ or "", events=0)
    total = args.events or (1200 if args.quick else 100_000)
    warmup = min(500, total // 6)
    with (
        moto_stack() as (stack_template, stack),
        environment(
            {
                **stack.function_environment(stack_template, "EventsFunction"),
                "POWERTOOLS_METRICS_NAMESPACE": "RingbackBench",
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            }
        ),
    ):
        module = load_function("events", "events_app")
        context = LambdaContext("bench-events")
        devnull = open(os.devnull, "w")  # noqa: SIM115 - metrics lines go nowhere
        real_stdout = sys.stdout

        def handle(i: int) -> float:
            event = event_for(i, stack.tokens)
            start = time.perf_counter()
            sys.stdout = devnull
            try:
                answer = module.lambda_handler(event, context)
            finally:
                sys.stdout = real_stdout
            elapsed = (time.perf_counter() - start) * 1000
            if answer["statusCode"] != 202:
                raise SystemExit(f"event {i}: {answer['statusCode']} {answer.get('body')}")
            return elapsed

        from ringback.adapters.aws import client

        dynamo = client("dynamodb", connect_timeout=1.0, read_timeout=3.0)
        table_name = stack.names["EventLogTable"]

        def bare_put(i: int) -> None:
            dynamo.put_item(
                TableName=table_name,
                ConditionExpression="attribute_not_exists(pk)",
                Item={
                    "pk": {"S": f"BENCH#{i}"},
                    "sk": {"S": "EVENT"},
                    "source": {"S": "webitel"},
                    "event_type": {"S": "offering"},
                    "occurred_at": {"N": str(BASE + i)},
                    "payload": {
                        "S": '{"event":"offering","member_channel_id":"bench","timestamp":"1772443800000"}'
                    },
                },
            )

        for i in range(warmup):
            handle(i)
            bare_put(-1 - i)
        gc.collect()
        rss_start = rss_mb()
        latencies: list[float] = []
        handler_s = put_s = 0.0
        measured = total - warmup
        # Interleaved rounds: load on the machine affects the handler and the baseline alike.
        rounds = 10
        for r in range(rounds):
            block = range(warmup + r * measured // rounds, warmup + (r + 1) * measured // rounds)
            started = time.perf_counter()
            for i in block:
                latencies.append(handle(i))
            handler_s += time.perf_counter() - started
            started = time.perf_counter()
            for i in block:
                bare_put(i)
            put_s += time.perf_counter() - started
        gc.collect()
        rss_growth = rss_mb() - rss_start

    events_per_s = measured / handler_s
    puts_per_s = measured / put_s
    stats = summary(latencies)
    table(
        f"events ingested through the handler ({measured} after {warmup} warm-up)",
        ["path", "per s", "p50 ms", "p99 ms"],
        [
            ["handler", events_per_s, stats["p50"], stats["p99"]],
            ["bare put_item", puts_per_s, 1000 / puts_per_s, ""],
        ],
    )
    finish(
        {
            "events": measured,
            "events_per_s": events_per_s,
            "put_item_per_s": puts_per_s,
            "throughput_ratio": events_per_s / puts_per_s,
            "p50_ms": stats["p50"],
            "p99_ms": stats["p99"],
            "rss_growth_mb": rss_growth,
        }
    )


if __name__ == "__main__":
    main()

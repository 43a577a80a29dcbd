"""Event ingestion through EventsFunction's handler into a moto server, against bare put_item.

Figures (one JSON line at the end):
* ``throughput_ratio``: events/s through the handler (auth, validation, the one log write)
  divided by bare ``put_item`` calls/s on the same moto server in the same run (target >= 0.8:
  one write per event, the projections come from the stream);
* ``lag_p50_ms`` / ``lag_p99_ms``: projection lag, from the handler's answer to the
  ProjectorFunction (a worker process, as in the local stack) having applied the event, fed by
  devstack's stream poller (target p99 <= 1000 ms locally; the poller polls every 0.3 s);
* ``p99_ms``: p99 latency of one event through the handler;
* ``rss_growth_mb``: resident memory growth of the handler process from after warm-up to the
  end (moto runs in a separate process, so its stored items do not count). Full run: 100k events;
  `--quick`: 1k events, well under a minute.
"""

from __future__ import annotations

import gc
import json
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
    verdict,
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


def projection_lag(
    tpl: Any, stack: Any, send: Any, first: int, count: int, rate: float = 50.0
) -> dict[str, Any]:
    """Events sent at ``rate``/s through the handler while devstack's stream poller feeds the
    ProjectorFunction (worker processes): per event, the time from the handler's answer to the
    end of the projector invocation that applied it."""
    import threading

    from devstack.aws import aws_client
    from devstack.functions import FunctionPool
    from devstack.streams import StreamPoller

    answered: dict[str, float] = {}
    lags: list[float] = []
    lock = threading.Lock()

    class TimedPoller(StreamPoller):
        def _iterators(self) -> dict[str, str]:
            # From now on (the throughput phase's records, bare puts included, are not projected).
            shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
            return {
                s["ShardId"]: self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=s["ShardId"], ShardIteratorType="LATEST"
                )["ShardIterator"]
                for s in shards
            }

        def _deliver(self, records: list[dict[str, Any]]) -> None:
            super()._deliver(records)
            done = time.perf_counter()
            with lock:
                for record in records:
                    event_id = record["dynamodb"]["Keys"]["pk"]["S"].removeprefix("EVENT#")
                    if event_id in answered:
                        lags.append((done - answered.pop(event_id)) * 1000)

    arn = aws_client("dynamodb", stack.endpoint).describe_table(TableName=stack.names["EventLogTable"])[
        "Table"
    ]["LatestStreamArn"]
    pool = FunctionPool(
        tpl.functions["ProjectorFunction"],
        {**stack.function_environment(tpl, "ProjectorFunction"), "POWERTOOLS_LOG_LEVEL": "ERROR"},
        tpl.layer_dirs,
        max_workers=1,
        echo_logs=False,
    )
    poller = TimedPoller(stack.endpoint, arn, pool)
    poller.start()
    try:
        time.sleep(1.0)  # the poller holds its iterators and the worker has started
        send(first + count)  # the projector worker's cold start is not lag
        time.sleep(2.0)
        lags.clear()
        started = time.perf_counter()
        for n in range(count):
            time.sleep(max(0.0, started + n / rate - time.perf_counter()))
            ids = send(first + n)
            now = time.perf_counter()
            with lock:
                answered.update(dict.fromkeys(ids, now))
    finally:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and answered:
            time.sleep(0.1)
        poller.stop()
        pool.close()
    return {"lag_events": len(lags), **{f"lag_{k}_ms": v for k, v in summary(lags).items() if k != "mean"}}


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

        last_ids: list[str] = []

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
            last_ids[:] = [e["event_id"] for e in json.loads(answer["body"])["events"]]
            return elapsed

        def send(i: int) -> list[str]:
            handle(i)
            return list(last_ids)

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

        lag = projection_lag(stack_template, stack, send, total, 100 if args.quick else 1000)

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
    ratio = events_per_s / puts_per_s
    print(f"\nthroughput ratio {ratio:.2f} (target >= 0.8: {verdict(ratio, 0.8, at_least=True)})")
    print(
        f"projection lag through the stream poller ({lag['lag_events']} events at 50/s): "
        f"p50 {lag['lag_p50_ms']:.0f} ms, p99 {lag['lag_p99_ms']:.0f} ms "
        f"(target p99 <= 1000 ms: {verdict(lag['lag_p99_ms'], 1000)})"
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
            **lag,
            "targets": {"throughput_ratio": 0.8, "lag_p99_ms": 1000},
            "meets_targets": ratio >= 0.8 and lag["lag_p99_ms"] <= 1000,
        }
    )


if __name__ == "__main__":
    main()

"""The operator console's data endpoint (``GET /v1/console/data``) through ConsoleFunction's
handler against a moto server holding 10k callback requests and 100k events.

Seeded directly in batches (minutes, not hours): requests spread over 30 days (today's
included, a share of them open) with an outbox entry each, the event log, and the projections
the projector makes of them, computed by its own code (the console's items: the board's rows,
today's requests and first attempts, the funnel's counters, agents' registers and today's
status changes), 20 upload receipts with rejected members. The endpoint reads only projections, so its latency depends on
today's and the open requests, not on what is stored.

Figures (one JSON line at the end):
* ``p50_ms`` / ``p99_ms`` of the data endpoint through the handler, the page's poll (target
  p99 < 100 ms, met only if ``full_p99_ms`` is under it too);
* ``full_p50_ms`` / ``full_p99_ms``: the same call without a tag, an answer with the agents'
  timeline (what a poll gets when a minute turns or an agent's status changes: at the page's
  5-s cadence, one poll in 12 or more), interleaved with the others;
* ``ratio_p50``: its median against one bare GetItem of a board counter in the same run;
* ``requests_per_data_call``: the AWS requests one data call makes (by operation);
* ``timeline_sent``: how many of the reads carried the agents' timeline.
Each read is the page's poll: it sends back the ``agent_timeline_tag`` of the timeline it got
last, as ``console.js`` does (the answer leaves the timeline out while that tag is current).
Full run: 10k requests, 100k events, 200 reads; ``--quick``: 1k requests, 10k events, 40 reads;
``--gzip`` asks for a gzip answer as a browser does (the function compresses it);
``--profile`` prints where the reads' time goes (cProfile; ``BENCH_SORT=tottime`` to sort by
own time) on stderr.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import arguments, environment, finish, load_function, moto_stack, summary, table  # noqa: E402
from devstack.lambda_context import LambdaContext  # noqa: E402
from ringback.domain.receipts import Problem, Receipt  # noqa: E402
from tests.support.events import http_event  # noqa: E402

STATUSES_OPEN = ("received", "queued", "dialing", "connected")
STATUSES_DONE = ("completed", "completed", "completed", "failed", "expired", "cancelled")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def batch_write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def request_item(i: int, created: datetime, status: str) -> dict[str, Any]:
    cid = f"bench{i:08d}"
    phone = f"+420777{i:06d}"
    window_start = created + timedelta(minutes=random.randint(0, 30))
    return {
        "pk": _s(f"CB#{cid}"),
        "sk": _s("REQUEST"),
        "id": _s(cid),
        "status": _s(status),
        "status_at": {"N": str(int(created.timestamp() * 1000))},
        "created_at": _s(created.isoformat()),
        "gsi1pk": _s(f"PHONE#{phone}"),
        "gsi1sk": _s(f"{created.isoformat()}#{cid}"),
        "phone": _s(phone),
        "name": _s("Bench Customer"),
        "source": _s(random.choice(("web", "whisbi", "mluvii"))),
        "utm": {"M": {"utm_source": _s(random.choice(("google", "newsletter", "direct")))}},
        "mode": _s("later"),
        "queue_id": _s("1"),
        "due_at": _s(created.isoformat()),
        "expected_call_at": _s(window_start.isoformat()),
        "expected_call_by": _s((window_start + timedelta(minutes=30)).isoformat()),
    }


def event_item(i: int, at_ms: int) -> dict[str, Any]:
    return {
        "pk": _s(f"EV#bench-{i}"),
        "sk": _s("EVENT"),
        "source": _s("webitel"),
        "event_type": _s("offering"),
        "occurred_at": {"N": str(at_ms)},
        "payload": _s(f'{{"event":"offering","member_channel_id":"bench","timestamp":"{at_ms}"}}'),
    }


def seed(stack: Any, requests: int, events: int, now: datetime) -> dict[str, int]:
    """Everything written directly in batches: the requests (an outbox entry each), the event
    log, and the projections the projector makes of them, computed by the projector's own code
    on in-memory projections (``tests.unit.events_fakes``) and then written as they are."""
    from ringback.adapters.aws import client
    from ringback.adapters.dynamo import from_item, to_item
    from ringback.adapters.outbox_dynamo import DynamoReceipts, entry_key
    from ringback.adapters.projections_dynamo import counter_item, encode_entries, row_item
    from ringback.config import Settings
    from ringback.domain.events import console_rows as rows
    from ringback.domain.events import projections as p
    from ringback.services.projector import Projector
    from tests.unit.events_fakes import FakeCallbacks, FakeProjections

    random.seed(7)
    zone = ZoneInfo(Settings().report_timezone)
    ddb = client("dynamodb")
    local_midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    midnight = local_midnight.astimezone(UTC)
    memory = FakeProjections()
    projector = Projector(memory, FakeCallbacks(), zone=zone, default_region="CZ")
    items, outbox, today, open_count = [], [], 0, 0
    for i in range(requests):
        days_ago = random.randint(0, 29)
        if days_ago == 0:
            created = midnight + (now - midnight) * random.random()
            today += 1
        else:
            created = now - timedelta(days=days_ago, seconds=random.randint(0, 86399))
        is_open = (days_ago == 0 and random.random() < 0.4) or random.random() < 0.01
        status = random.choice(STATUSES_OPEN) if is_open else random.choice(STATUSES_DONE)
        open_count += is_open
        item = request_item(i, created, status)
        items.append(item)
        outbox.append(
            {
                **entry_key(f"bench-cb-{i:08d}"),
                "entry_id": _s(f"bench-cb-{i:08d}"),
                "state": _s("delivered" if status != "received" else "pending"),
                "source": _s("callback"),
                "source_id": _s(f"bench{i:08d}"),
            }
        )
        projector.apply_request(from_item(item))
        if days_ago == 0 and status != "received":
            at = int((created + timedelta(seconds=random.randint(10, 1800))).timestamp() * 1000)
            memory.write_row(rows.first_attempt(f"bench{i:08d}", at, zone))
    batch_write(ddb, stack.names["CallbacksTable"], items)
    batch_write(ddb, stack.names["DialerOutboxTable"], outbox)
    base = int((now - timedelta(days=30)).timestamp() * 1000)
    span = int(timedelta(days=30).total_seconds() * 1000)
    for start in range(0, events, 5000):
        batch_write(
            ddb,
            stack.names["EventLogTable"],
            [event_item(i, base + span * i // events) for i in range(start, min(events, start + 5000))],
        )
    for back in range(7):  # the widget share of the events, the last 7 days
        date = (local_midnight - timedelta(days=back)).date().isoformat()
        for k in range(events // 60):
            stage = random.choice(("opened", "opened", "opened", "requested", "booked", "connected"))
            provider = random.choice(("ringback", "whisbi", "mluvii"))
            memory.put_counted(rows.counted_funnel(date, provider, stage, f"ev{back}-{k}"))
    day_start_ms = int(midnight.timestamp() * 1000)
    for a in range(50):  # 50 agents, 20 status changes each today
        changes = sorted(random.randint(day_start_ms, int(now.timestamp() * 1000)) for _ in range(20))
        updates = [
            p.RegisterUpdate(
                p.agents_pk("webitel", str(a)),
                p.agent_sk("webitel", str(a), "status"),
                p.order_of(at, f"a{a}-{n}"),
                {
                    "kind": "agent",
                    "source": "webitel",
                    "agent_id": str(a),
                    "register": "status",
                    "status": random.choice(("online", "pause", "offline")),
                    "name": f"Agent {a}",
                    "at": at,
                    "since": at,
                },
            )
            for n, at in enumerate(changes)
        ]
        projector.apply_guarded(p.ProjectionPlan(registers=tuple(updates)))
        registers, facts = rows.agent_writes(updates, zone)
        for register in registers:
            memory.update_register_counted(register)
        for fact in facts:
            memory.put_counted(fact)

    # Items as DynamoProjections writes them: a shard item's entries and a version (the fake
    # keeps no version; a first write makes version 1), a row item, a counter item.
    def stored(item: dict[str, Any]) -> dict[str, Any]:
        if str(item["pk"]).startswith("CONSOLE#DAYSUM#"):
            return counter_item(item["pk"], item["sk"], item["e"])
        if str(item["pk"]).startswith("CONSOLE#AGENTNOWN#"):  # a counter ADDed: its version
            return {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}, "v": {"N": str(item["v"])}}
        if str(item["pk"]).startswith("CONSOLE#DAYROW#"):
            return row_item(item["pk"], item["sk"], item, 1)
        if str(item["pk"]).startswith(rows.BOARD_ROW_PREFIX):  # an open request's board row
            return {
                "pk": {"S": item["pk"]},
                "sk": {"S": item["sk"]},
                "o": {"S": item["o"]},
                "r": {"S": encode_entries(item["r"])},
            }
        if isinstance(item.get("e"), dict):
            return {
                **to_item({k: v for k, v in item.items() if k != "e"}),
                "e": {"S": encode_entries(item["e"])},
                "v": {"N": "1"},
            }
        return to_item(item)

    batch_write(ddb, stack.names["ProjectionsTable"], [stored(item) for item in memory.items.values()])
    receipts = DynamoReceipts(stack.names["DialerOutboxTable"])
    for r in range(20):
        receipt = Receipt(
            run_id=f"bench-run-{r}", kind="upload", job="callbacks", started_at=now - timedelta(minutes=r)
        )
        group = receipt.group("1")
        for n in range(5):
            group.add("rejected")
            group.problem(Problem(reason="unknown communication type 99", entry_id=f"bench-entry-{r}-{n}"))
        receipts.save(receipt)
    return {
        "requests": requests,
        "today": today,
        "open": open_count,
        "events": events,
        "outbox_entries": len(outbox),
        "projection_items": len(memory.items),
    }


def main() -> None:
    args = arguments(__doc__ or "", requests=0, events=0, reads=0, profile=False, gzip=False)
    requests = args.requests or (1000 if args.quick else 10_000)
    events = args.events or (10_000 if args.quick else 100_000)
    reads = args.reads or (40 if args.quick else 200)
    with moto_stack() as (stack_template, stack):
        env = stack.function_environment(stack_template, "ConsoleFunction")
        with environment({**env, "POWERTOOLS_LOG_LEVEL": "ERROR"}):
            now = datetime.now(UTC)
            seeded = seed(stack, requests, events, now)
            module = load_function("console", "console_app")
            context = LambdaContext("bench-console")
            signed = module.lambda_handler(
                http_event(
                    "POST",
                    "/v1/console/session",
                    body={"credential": stack.tokens["console"]},
                    headers={"origin": "https://api.example.com"},
                ),
                context,
            )
            cookie = signed["cookies"][0].split(";", 1)[0]
            devnull = open(os.devnull, "w")  # noqa: SIM115 - log lines go nowhere
            real_stdout = sys.stdout

            shown: dict[str, Any] = {"tag": None, "sent": 0}
            accept = {"accept-encoding": "gzip, deflate, br"} if args.gzip else {}

            def read(keep: bool = True) -> float:
                tag = shown["tag"] if keep else None
                event = http_event(
                    "GET", "/v1/console/data", query={"timeline": tag} if tag else None, headers=accept
                )
                event["cookies"] = [cookie]
                start = time.perf_counter()
                sys.stdout = devnull
                try:
                    answer = module.lambda_handler(event, context)
                finally:
                    sys.stdout = real_stdout
                elapsed = (time.perf_counter() - start) * 1000
                if answer["statusCode"] != 200:
                    raise SystemExit(f"data: {answer['statusCode']} {answer.get('body')}")
                body = answer["body"]
                if answer.get("isBase64Encoded"):
                    body = gzip.decompress(base64.b64decode(body))
                view = json.loads(body)
                if keep and view["agent_timeline"] is not None:  # the page draws it and keeps its tag
                    shown["tag"] = view["agent_timeline_tag"]
                    shown["sent"] += 1
                return elapsed

            from botocore.client import BaseClient

            from ringback.adapters.aws import client

            ddb = client("dynamodb")
            calls: Counter[str] = Counter()
            lock = threading.Lock()
            real_call = BaseClient._make_api_call

            def counting(self: Any, operation: str, params: Any) -> Any:
                with lock:
                    calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
                return real_call(self, operation, params)

            def bare() -> float:
                start = time.perf_counter()
                ddb.get_item(
                    TableName=stack.names["ProjectionsTable"],
                    Key={"pk": {"S": "CONSOLE#BOARDN#0"}, "sk": {"S": "COUNT"}},
                )
                return (time.perf_counter() - start) * 1000

            for _ in range(5):
                read()
                bare()
            BaseClient._make_api_call = counting  # type: ignore[method-assign]
            try:
                read()
            finally:
                BaseClient._make_api_call = real_call  # type: ignore[method-assign]
            per_call = dict(sorted(calls.items()))
            latencies: list[float] = []
            shown["sent"] = 0
            full: list[float] = []
            baseline: list[float] = []
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            for _ in range(reads):  # interleaved: load affects them alike
                latencies.append(read())
                full.append(read(keep=False))
                baseline.append(bare())
            if profiler is not None:
                import pstats

                profiler.disable()
                pstats.Stats(profiler, stream=sys.stderr).sort_stats(
                    os.environ.get("BENCH_SORT", "cumulative")
                ).print_stats(45)
            check = module.lambda_handler(
                {**http_event("GET", "/v1/console/data"), "cookies": [cookie]}, context
            )
            body = json.loads(check["body"]) if not check.get("isBase64Encoded") else {}
    stats, whole, base = summary(latencies), summary(full), summary(baseline)
    table(
        f"console data endpoint ({seeded['requests']} requests, {seeded['events']} events stored; "
        f"{seeded['today']} today, {seeded['open']} open; {reads} reads)",
        ["path", "p50 ms", "p99 ms"],
        [
            ["GET /v1/console/data (the page's poll)", stats["p50"], stats["p99"]],
            ["the same with the agents' timeline", whole["p50"], whole["p99"]],
            ["one bare GetItem of a board counter", base["p50"], base["p99"]],
        ],
    )
    finish(
        {
            **seeded,
            "reads": reads,
            "gzip": args.gzip,
            "timeline_sent": shown["sent"],
            "board_rows": len(body.get("board", {}).get("rows", [])) if body else None,
            "board_total": body.get("board", {}).get("total") if body else None,
            "today_requests_seen": body.get("service_level", {}).get("requests") if body else None,
            "requests_per_data_call": sum(per_call.values()),
            "requests_by_operation": per_call,
            "p50_ms": stats["p50"],
            "p99_ms": stats["p99"],
            "full_p50_ms": whole["p50"],
            "full_p99_ms": whole["p99"],
            "bare_query_p50_ms": base["p50"],
            "ratio_p50": stats["p50"] / base["p50"],
            "target_p99_met": max(stats["p99"], whole["p99"]) < 100,
        }
    )


if __name__ == "__main__":
    main()

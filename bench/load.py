"""A mixed load through the local gateway: page views, form submits, routing lookups and Webitel
hooks at once, at fixed rates, as a busy website and contact center would send them.

    python bench/load.py            # 60 s
    python bench/load.py --quick    # 10 s

Per route, an open-loop sender (requests start on a fixed schedule whatever the answers take):
  * ``GET /v1/status`` (page views) at 100/s;
  * ``POST /v1/callbacks`` (form submits, mode ``later``) at 5/s, each from another client
    address in another network (``X-Forwarded-For``, which this benchmark's gateway takes
    as the source IP, as a CDN in front of API Gateway passes it), with the template's default
    abuse limits (per number, per address and per network);
  * ``GET /v1/routing?cid=`` (Webitel's lookups; 90 % known callers) at 50/s;
  * ``POST /v1/events/webitel`` (queue hooks of calls) at 50/s.
Everything runs on 127.0.0.1: a moto server and the Webitel sandbox in processes of their own,
devstack's local gateway with a pool of worker processes per function (as Lambda's containers),
and the stream poller feeding the ProjectorFunction, as in ``make run``. The senders run in a
process of their own, so the load generator never shares an interpreter lock with the gateway
it measures.
Reports per route: requests, errors (any answer but the expected status, or no answer), p50 /
p99 latency and the rate actually held; and each worker process's resident memory after the
warm-up and at the end. Bounded: every request has a 10 s timeout and the run stops at its
duration plus 30 s. Prints a table, then one JSON line. Target: 0 errors, every rate held
within 5 %.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import (  # noqa: E402
    arguments,
    finish,
    moto_dynamodb_load,
    moto_process,
    server_process,
    table,
)
from bench.routing import load_customers, number  # noqa: E402
from devstack import aws, template  # noqa: E402

TOKEN = "load-bench-token"
CUSTOMERS = 2_000
FUNCTIONS = {"CallbacksFunction": 4, "RoutingFunction": 3, "EventsFunction": 3}


@dataclass
class RouteLoad:
    name: str
    rate: float
    expect: int
    send: Callable[[Any, int], Any]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    first: float = 0.0
    last: float = 0.0
    samples: list[str] = field(default_factory=list)

    def outcome(self, start_at: float) -> dict[str, Any]:
        """What the parent needs, with times relative to the start (sent across processes)."""
        return {
            "latencies": self.latencies,
            "errors": self.errors,
            "sent": self.sent,
            "first": self.first - start_at,
            "last": self.last - start_at,
            "samples": self.samples,
        }


def forwarding_gateway() -> type:
    """devstack's LocalGateway, taking the client address from ``X-Forwarded-For`` when sent
    (the TCP peer is always 127.0.0.1 here)."""
    from devstack.gateway import LocalGateway

    class ForwardingGateway(LocalGateway):  # type: ignore[misc]
        def _event(self, request: Any, *args: Any) -> dict[str, Any]:
            event: dict[str, Any] = super()._event(request, *args)
            forwarded = (event["headers"].get("x-forwarded-for") or "").split(",")[0].strip()
            if forwarded:
                event["requestContext"]["http"]["sourceIp"] = forwarded
            return event

    return ForwardingGateway


def worker_rss_mb(pools: dict[str, Any]) -> dict[str, list[float]]:
    """Resident memory of every idle worker process of each pool (all are idle between phases)."""
    found: dict[str, list[float]] = {}
    for name, pool in pools.items():
        sizes = []
        for worker in list(getattr(pool, "_idle", [])):
            try:
                status = Path(f"/proc/{worker.process.pid}/status").read_text()
            except OSError:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            sizes.append(round(kb / 1024, 1))
        found[name] = sorted(sizes)
    return found


def cpu_by_process(pools: dict[str, Any], skip: int | None = None) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and each of its children: the
    moto server, the Webitel sandbox and the function workers (by pool); ``skip``: a child
    left out (the load generator, which reports its own)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    names = {w.process.pid: name for name, pool in pools.items() for w in list(getattr(pool, "_idle", []))}
    me = os.getpid()
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == skip or (pid != me and ppid != me):
                continue
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if pid == me:
            label = "gateway and stream poller (this process)"
        elif pid in names:
            label = names[pid]
        elif "webitel_sandbox" in cmdline:
            label = "Webitel sandbox"
        elif "multiprocessing" in cmdline:
            label = "moto server"
        else:
            label = "other"
        used[label] = used.get(label, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def hook_body(i: int) -> dict[str, Any]:
    """Hooks of calls: each call is joined, offering, bridged, leaving."""
    call = i // 4
    name = ("joined", "offering", "bridged", "leaving")[i % 4]
    return {
        "event": name,
        "direction": "outbound",
        "queue_id": "1",
        "member_id": str(call),
        "attempt_id": str(call),
        "member_channel_id": f"load-{call}-{uuid.uuid4().hex[:6]}" if name == "joined" else f"load-{call}",
        "agent_id": str(17 + call % 40),
        "destination": "+420777666555",
        "timestamp": str(int(time.time() * 1000)),
        "cc_result": "success" if name == "leaving" else "",
    }


@dataclass
class Answer:
    status_code: int
    text: str


class PlainClient:
    """A keep-alive HTTP/1.1 client on ``http.client``: a fraction of httpx's CPU per request,
    so the generator leaves the cores to what it measures. One per sender thread."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self._host, self._port, self._timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self._conn: Any = None

    def get(
        self, path: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        from urllib.parse import urlencode

        return self._request("GET", f"{path}?{urlencode(params)}" if params else path, None, headers or {})

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Answer:
        import json as json_module

        body = json_module.dumps(json).encode()
        return self._request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        import http.client

        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            self._conn.request(method, path, body=body, headers=headers)
            response = self._conn.getresponse()
            return Answer(response.status, response.read().decode("utf-8", "replace"))
        except Exception:
            self._conn.close()
            self._conn = None  # the next request opens a new connection; this one is an error
            raise


def run_route(route: RouteLoad, base_url: str, duration: float, start_at: float, threads: int) -> None:
    total = int(route.rate * duration)
    lock = threading.Lock()
    counter = iter(range(total))
    local = threading.local()

    def client() -> Any:
        if not hasattr(local, "client"):
            local.client = PlainClient(base_url)
        return local.client

    def sender() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            due = start_at + i / route.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                response = route.send(client(), i)
                status = response.status_code
            except Exception as error:  # a timeout or a dropped connection is an error too
                status = -1
                sample = type(error).__name__
            else:
                sample = f"{status} {response.text[:200]}"
            ended = time.perf_counter()
            with lock:
                route.sent += 1
                route.first = started if not route.first else min(route.first, started)
                route.last = max(route.last, ended)
                route.latencies.append(ended - started)
                if status != route.expect:
                    route.errors += 1
                    if len(route.samples) < 3:
                        route.samples.append(sample)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(threads):
            pool.submit(sender)


def plan_of(tokens: dict[str, str]) -> list[RouteLoad]:
    """The four routes, their rates and what each request sends."""
    rng = random.Random(3)
    routing_auth = {"Authorization": f"Bearer {tokens['routing']}"}
    hook_auth = {"Authorization": f"Bearer {tokens['events']}"}
    page = {"Origin": "https://www.example.com"}

    def submit(client: Any, i: int) -> Any:
        body = {"mode": "later", "phone": f"+420602{i % 10**6:06d}", "name": "Jana", "source": "web"}
        # Another client address in another network (an IPv6 /64) for each submit: the
        # template's abuse limits (per number, per address, per network) stay on, as for many
        # visitors.
        forwarded = f"2001:db8:{i // 65536 % 65536:x}:{i % 65536:x}::1"
        return client.post("/v1/callbacks", json=body, headers={**page, "X-Forwarded-For": forwarded})

    def routing(client: Any, i: int) -> Any:
        cid = (
            number(rng.randrange(CUSTOMERS))
            if rng.random() < 0.9
            else number(CUSTOMERS + rng.randrange(10**5))
        )
        return client.get("/v1/routing", params={"cid": cid}, headers=routing_auth)

    return [
        RouteLoad("status", 100.0, 200, lambda c, i: c.get("/v1/status", headers=page)),
        RouteLoad("submit", 5.0, 202, submit),
        RouteLoad("routing", 50.0, 200, routing),
        RouteLoad(
            "webitel_hook",
            50.0,
            202,
            lambda c, i: c.post("/v1/events/webitel", json=hook_body(i), headers=hook_auth),
        ),
    ]


def generate(base_url: str, tokens: dict[str, str], duration: float, conn: Any) -> None:
    """The load generator's process: every route's senders, then the outcomes to the parent."""
    plan = plan_of(tokens)
    start_at = time.perf_counter() + 0.5
    threads = [
        threading.Thread(
            target=run_route, args=(route, base_url, duration, start_at, max(4, int(route.rate // 5)))
        )
        for route in plan
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 30)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send(
        {
            "routes": {route.name: route.outcome(start_at) for route in plan},
            "span": time.perf_counter() - start_at,
            "cpu_s": usage.ru_utime + usage.ru_stime,
        }
    )
    conn.close()


def run_generator(
    base_url: str, tokens: dict[str, str], duration: float, cpu_now: Callable[[int], dict[str, float]]
) -> tuple[dict[str, Any], float, float, dict[str, float]]:
    """Run :func:`generate` in a fresh interpreter; its outcomes, span and CPU seconds, and
    the other processes' CPU seconds when it ended."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=generate, args=(base_url, tokens, duration, send), daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(duration + 60):
            raise RuntimeError("the load generator did not finish")
        result = receive.recv()
        cpu_end = cpu_now(process.pid or 0)
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    return result["routes"], result["span"], result["cpu_s"], cpu_end


def moto_report(start: dict[str, list[float]], end: dict[str, list[float]], span: float) -> dict[str, Any]:
    """What the moto server answered during the load: DynamoDB requests per second by operation
    and how much of the time one of them held it (it answers them one at a time)."""
    used = {
        name: (int(count - start.get(name, [0, 0.0])[0]), seconds - start.get(name, [0, 0.0])[1])
        for name, (count, seconds) in end.items()
    }
    requests = sum(count for count, _ in used.values())
    busy = sum(seconds for _, seconds in used.values())
    print(
        f"\nmoto answered {requests / span:.0f} DynamoDB requests/s, one at a time, and was busy with "
        f"them {100 * busy / span:.0f} % of the {span:.0f} s (per request {1000 * busy / max(requests, 1):.1f} ms):"
    )
    for name, (count, seconds) in sorted(used.items(), key=lambda kv: -kv[1][1]):
        if count:
            print(f"  {count / span:7.1f}/s  {1000 * seconds / count:6.1f} ms each  {name}")
    return {
        "requests_per_s": requests / span,
        "busy_fraction": busy / span,
        "by_operation": {
            name: {"per_s": c / span, "ms_each": 1000 * t / max(c, 1)} for name, (c, t) in used.items() if c
        },
    }


def main() -> int:
    args = arguments(__doc__ or "", duration=0.0)
    duration = args.duration or (10.0 if args.quick else 60.0)
    from bench.benchlib import percentile
    from devstack.functions import FunctionPool
    from devstack.streams import StreamPoller

    tpl = template.load()
    with (
        moto_process() as endpoint,
        server_process(
            "the Webitel sandbox",
            lambda port: [
                sys.executable,
                "-m",
                "devstack.webitel_sandbox",
                "--port",
                str(port),
                "--token",
                TOKEN,
            ],
            "/_sandbox/state",
        ) as sandbox,
    ):
        stack = aws.provision(
            tpl,
            endpoint,
            parameters={
                "Stage": "bench",
                "WebitelBaseUrl": f"{sandbox}/api",
                "AllowedOrigins": "https://www.example.com",
            },
            secret_values={"WebitelAccessTokenSecret": {"token": TOKEN}},
            stack_name="ringback-bench",
        )
        load_customers(stack, CUSTOMERS)
        ssm = aws.aws_client("ssm", endpoint)
        config = json.loads(ssm.get_parameter(Name="/ringback/bench/config")["Parameter"]["Value"])
        config.update(business_hours={}, holidays=[])  # open all the time: the status asks Webitel
        ssm.put_parameter(
            Name="/ringback/bench/config", Value=json.dumps(config), Type="String", Overwrite=True
        )

        quiet = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
        pools = {
            name: FunctionPool(
                tpl.functions[name],
                {**stack.function_environment(tpl, name), **quiet},
                tpl.layer_dirs,
                max_workers=workers,
                echo_logs=False,
            )
            for name, workers in FUNCTIONS.items()
        }
        projector = FunctionPool(
            tpl.functions["ProjectorFunction"],
            {**stack.function_environment(tpl, "ProjectorFunction"), **quiet},
            tpl.layer_dirs,
            max_workers=1,
            echo_logs=False,
        )
        arn = aws.aws_client("dynamodb", endpoint).describe_table(TableName=stack.names["EventLogTable"])[
            "Table"
        ]["LatestStreamArn"]
        poller = StreamPoller(endpoint, arn, projector)
        routes = [r for r in tpl.routes if r.function in pools]
        gateway = forwarding_gateway()(
            routes, pools, port=0, quiet=True, allowed_origins=["https://www.example.com"]
        )
        gateway.start()
        poller.start()
        tokens = {"routing": stack.tokens["routing"], "events": stack.tokens["events"]}
        plan = plan_of(tokens)
        try:
            # Warm-up: every worker of every pool started and past its first answer.
            with ThreadPoolExecutor(8) as pool:
                for route in plan:
                    workers = FUNCTIONS[
                        {
                            "status": "CallbacksFunction",
                            "submit": "CallbacksFunction",
                            "routing": "RoutingFunction",
                            "webitel_hook": "EventsFunction",
                        }[route.name]
                    ]
                    # Indexes of their own: no number or address of the run is used here.
                    warm = [PlainClient(gateway.url, timeout=30) for _ in range(workers * 3)]
                    list(pool.map(lambda i, r=route, w=warm: r.send(w[i], 500_000 + i), range(workers * 3)))
            time.sleep(1.0)
            rss_start = worker_rss_mb(pools)
            cpu_start = cpu_by_process({**pools, "ProjectorFunction": projector})
            moto_start = moto_dynamodb_load(endpoint)
            outcomes, span, generator_cpu, cpu_end = run_generator(
                gateway.url,
                tokens,
                duration,
                lambda pid: cpu_by_process({**pools, "ProjectorFunction": projector}, pid),
            )
            for route in plan:
                got = outcomes[route.name]
                route.latencies, route.errors, route.sent = got["latencies"], got["errors"], got["sent"]
                route.first, route.last, route.samples = got["first"], got["last"], got["samples"]
            start_at = 0.0  # the outcomes' times are relative to the generator's start
            moto_end = moto_dynamodb_load(endpoint)
            time.sleep(1.0)
            rss_end = worker_rss_mb(pools)
        finally:
            poller.stop()
            gateway.stop()
            for pool in [*pools.values(), projector]:
                pool.close()

    figures: dict[str, Any] = {
        "duration_s": duration,
        "routes": {},
        "workers_rss_mb": {"start": rss_start, "end": rss_end},
    }
    rows = []
    for route in plan:
        wall = max(route.last - route.first, 1e-9)
        # Falling behind the schedule stretches the run: the rate held is over the longer span.
        held = route.sent / max(duration, route.last - start_at)
        figures["routes"][route.name] = {
            "target_per_s": route.rate,
            "held_per_s": held,
            "completed_per_s": route.sent / wall,
            "requests": route.sent,
            "errors": route.errors,
            "p50_ms": percentile(route.latencies, 50) * 1000,
            "p99_ms": percentile(route.latencies, 99) * 1000,
            "error_samples": route.samples,
        }
        rows.append(
            [
                route.name,
                route.rate,
                held,
                route.sent,
                route.errors,
                percentile(route.latencies, 50) * 1000,
                percentile(route.latencies, 99) * 1000,
            ]
        )
    table(
        f"mixed load through the local gateway, {duration:.0f} s",
        ["route", "target /s", "held /s", "requests", "errors", "p50 ms", "p99 ms"],
        rows,
    )
    print("\nworker processes' resident memory (MB), after warm-up -> at the end:")
    for name in FUNCTIONS:
        print(f"  {name}: {rss_start.get(name)} -> {rss_end.get(name)}")
    cpu = {k: round(cpu_end.get(k, 0.0) - cpu_start.get(k, 0.0), 2) for k in cpu_end}
    cpu["load generator (a process of its own)"] = round(generator_cpu, 2)
    print(f"\nCPU seconds used during the {span:.0f} s of load (the machine's cores are shared):")
    for label, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:7.1f}  {label}")
    figures["cpu_s"] = cpu
    figures["moto_dynamodb"] = moto_report(moto_start, moto_end, span)
    errors = sum(r.errors for r in plan)
    rates_held = all(figures["routes"][r.name]["held_per_s"] >= 0.95 * r.rate for r in plan)
    figures["rates_held"] = rates_held
    figures["errors"] = errors
    figures["meets_targets"] = errors == 0 and rates_held
    finish(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

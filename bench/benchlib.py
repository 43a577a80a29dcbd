"""What every benchmark shares: the servers it measures against (moto, a sandbox), the local
gateway under concurrent callers, timing loops, percentiles, memory, a readable table and the
closing JSON line. Each benchmark measures its own baseline in the same run and reports ratios,
so the figures mean the same on a fast laptop and a loaded CI machine."""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

    from devstack import aws, template

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def arguments(description: str, **extra: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a reduced run, well under a minute")
    for name, default in extra.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):  # a switch: present or not
            parser.add_argument(flag, action="store_true", default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    return parser.parse_args()


# ---------------------------------------------------------------------------- statistics


def percentile(samples: Sequence[float], pct: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "mean": statistics.fmean(samples) if samples else float("nan"),
    }


def latency_ms(prefix: str, seconds: Sequence[float]) -> dict[str, float]:
    """``{prefix}_p50_ms`` (the median) and ``{prefix}_p99_ms`` of latencies given in seconds."""
    return {
        f"{prefix}_p50_ms": statistics.median(seconds) * 1000,
        f"{prefix}_p99_ms": percentile(seconds, 99) * 1000,
    }


def targets_met(figures: Mapping[str, Any], targets: Mapping[str, float]) -> bool:
    """Every ratio named in ``targets`` at or under its target."""
    return all(figures[k] <= v for k, v in targets.items())


# ---------------------------------------------------------------------------- timing loops


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Latencies of ``repeat`` calls of ``fn``, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def warm_up(fns: Sequence[Callable[[], object]], times: int) -> None:
    """Call each of ``fns`` in turn, ``times`` rounds, results discarded."""
    for _ in range(times):
        for fn in fns:
            fn()


def interleaved(fns: Sequence[Callable[[], float]], rounds: int) -> list[list[float]]:
    """``rounds`` rounds of one call of each of ``fns`` (each returns its own elapsed time), the
    order reversed every other round, so machine load affects them all alike. One list of times
    per function."""
    times: list[list[float]] = [[] for _ in fns]
    for i in range(rounds):
        order = range(len(fns)) if i % 2 else reversed(range(len(fns)))
        for which in order:
            times[which].append(fns[which]())
    return times


# ---------------------------------------------------------------------------- memory


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory of this process now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------- servers


def _serve_moto(conn: Any) -> None:
    from devstack.moto_server import MotoServer

    server = MotoServer()
    conn.send(server.start())
    while conn.recv() == "dynamodb_load":  # until the parent says stop
        conn.send(server.dynamodb_load())
    server.stop()


_MOTO_PIPES: dict[str, Any] = {}


def moto_dynamodb_load(endpoint: str) -> dict[str, list[float]]:
    """Of the moto process at ``endpoint``: per DynamoDB operation, [requests, seconds held]."""
    pipe = _MOTO_PIPES[endpoint]
    pipe.send("dynamodb_load")
    answer: dict[str, list[float]] = pipe.recv()
    return answer


@contextmanager
def moto_process() -> Iterator[str]:
    """A moto server (ThreadedMotoServer) in a spawned process of its own, so its request handling
    does not share a GIL with the code being measured. Yields its endpoint."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    moto = ctx.Process(target=_serve_moto, args=(child,), daemon=True)
    moto.start()
    endpoint = parent.recv()
    _MOTO_PIPES[endpoint] = parent
    try:
        yield endpoint
    finally:
        _MOTO_PIPES.pop(endpoint, None)
        with suppress(OSError):  # the child is gone already
            parent.send("stop")
        moto.join(timeout=10)
        if moto.is_alive():
            moto.terminate()


@contextmanager
def moto_stack() -> Iterator[tuple[template.StackTemplate, aws.ProvisionedStack]]:
    """The stack's template, provisioned (stage ``bench``) in a moto process of its own."""
    from devstack import aws, template

    with moto_process() as endpoint:
        tpl = template.load()
        yield tpl, aws.provision(tpl, endpoint, parameters={"Stage": "bench"}, stack_name="ringback-bench")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(name: str, command: Callable[[int], list[str]], ready_path: str) -> Iterator[str]:
    """The server ``name`` started as ``command(port)`` on a free loopback port, output discarded, run from the
    project root. Yields its root URL once ``ready_path`` answers; terminated on the way out."""
    port = free_port()
    process = subprocess.Popen(command(port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(root + ready_path, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"{name} did not start")
        yield root
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------------------- the function in process


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` added to this process's environment, the previous one restored on the way out."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_function(directory: str, module_name: str, file_name: str | None = None) -> ModuleType:
    """``functions/<directory>/<file_name>`` imported as ``module_name``, its folder on
    ``sys.path`` as in the deployed package; ``file_name`` by default: the module of the
    function's ``Handler`` in template.yaml (what a deployed container imports)."""
    code = ROOT / "functions" / directory
    if file_name is None:
        from devstack import template

        handlers = [
            f.handler for f in template.load().functions.values() if f.code_uri.resolve() == code.resolve()
        ]
        assert len(handlers) == 1, f"no one function with the code of functions/{directory}: {handlers}"
        file_name = handlers[0].rsplit(".", 1)[0] + ".py"
    sys.path.insert(0, str(code))
    spec = importlib.util.spec_from_file_location(module_name, code / file_name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numbers(prefix: str) -> Callable[[], str]:
    """Distinct valid numbers ``<prefix><1..8><6 digits>`` (e.g. ``+42060`` or ``+42073``,
    Czech mobiles), one per call."""
    counter = iter(range(10**8))

    def number() -> str:
        n = next(counter)
        return f"{prefix}{1 + n // 1_000_000 % 8}{n % 1_000_000:06d}"

    return number


def config_parameter(stack: aws.ProvisionedStack, name: str, config: Mapping[str, Any]) -> str:
    """The operator config ``config`` stored as the SSM parameter ``name`` (returned)."""
    from devstack import aws

    ssm = aws.aws_client("ssm", stack.endpoint)
    ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)
    return name


def function_env(
    stack: aws.ProvisionedStack, tpl: template.StackTemplate, function: str, config_name: str, **extra: str
) -> dict[str, str]:
    """``function``'s environment as the template gives it, reading the operator config
    ``config_name``, with metrics off and ``extra`` on top (log level ``WARNING`` unless given)."""
    env = stack.function_environment(tpl, function)
    env.update(
        {
            "RINGBACK_CONFIG_PARAMETER": config_name,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            **extra,
        }
    )
    return env


class RoundTrips:
    """The DynamoDB requests of one boto3 client while counting: how many, and in how many
    round trips (a round trip starts when a request leaves with none in flight). ``start``
    before the measured call, ``stop`` after it; ``requests``/``rounds`` hold one figure per
    counted call."""

    def __init__(self, client: Any) -> None:
        self.requests: list[int] = []
        self.rounds: list[int] = []
        self._now = {"requests": 0, "rounds": 0, "in_flight": 0}
        self._on = False
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("before-call.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        events.register("after-call-error.dynamodb", self._after)

    def _before(self, **_: Any) -> None:
        with self._lock:
            if self._on:
                self._now["rounds"] += self._now["in_flight"] == 0
                self._now["requests"] += 1
                self._now["in_flight"] += 1

    def _after(self, **_: Any) -> None:
        with self._lock:
            if self._on:
                self._now["in_flight"] -= 1

    def start(self) -> None:
        with self._lock:
            self._now.update(requests=0, rounds=0, in_flight=0)
            self._on = True

    def stop(self) -> None:
        with self._lock:
            self._on = False
            self.requests.append(self._now["requests"])
            self.rounds.append(self._now["rounds"])

    def clear(self) -> None:
        self.requests.clear()
        self.rounds.clear()


def bare_request_put(client: Any, table: str, e164: str, payload: Mapping[str, Any]) -> float:
    """Seconds of one bare ``put_item`` of a request-sized item (a benchmark's baseline)."""
    import uuid

    callback_id = uuid.uuid4().hex
    item = {
        "pk": {"S": f"CB#{callback_id}"},
        "sk": {"S": "REQUEST"},
        "gsi1pk": {"S": f"PHONE#{e164}"},
        "gsi1sk": {"S": f"2026-11-18T10:00:00+00:00#{callback_id}"},
        "status": {"S": "received"},
        "payload": {"S": json.dumps(payload)},
    }
    started = time.perf_counter()
    client.put_item(TableName=table, Item=item)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------- the local gateway


@dataclass
class GatewayLoad:
    """What the concurrent callers saw: latencies in seconds, answers other than the expected
    status, the wall time of the whole load and tallies of the expected answers."""

    latencies: list[float]
    errors: int
    wall: float
    callers: int
    workers: int
    tallies: Counter[str] = field(default_factory=Counter)

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.wall


def gateway_load(
    tpl: template.StackTemplate,
    function: str,
    env: dict[str, str],
    send: Callable[[httpx.Client, T], httpx.Response],
    *,
    warm: Sequence[T],
    measured: Sequence[T],
    callers: int,
    workers: int,
    expect: int,
    headers: Mapping[str, str] | None = None,
    tally: Callable[[httpx.Response], str | None] | None = None,
) -> GatewayLoad:
    """``function`` behind the local gateway (devstack.gateway.LocalGateway) with a pool of
    ``workers`` function processes (devstack.functions.FunctionPool). Every worker is warmed by
    ``warm`` requests, ``workers`` at a time; then ``callers`` threads, each with its own HTTP
    client, share ``measured`` and ``send(client, item)`` one request at a time."""
    import httpx

    from devstack.functions import FunctionPool
    from devstack.gateway import LocalGateway

    pool = FunctionPool(tpl.functions[function], env, tpl.layer_dirs, max_workers=workers, echo_logs=False)
    routes = [r for r in tpl.routes if r.function == function]
    gateway = LocalGateway(routes, {function: pool}, port=0, quiet=True)
    gateway.start()
    load = GatewayLoad([], 0, 0.0, callers, workers)
    lock = threading.Lock()

    def client() -> httpx.Client:
        return httpx.Client(base_url=gateway.url, headers=dict(headers or {}), timeout=30)

    def warm_one(item: T) -> None:
        with client() as c:
            send(c, item)

    def caller(share: Sequence[T]) -> None:
        with client() as c:
            for item in share:
                started = time.perf_counter()
                response = send(c, item)
                elapsed = time.perf_counter() - started
                with lock:
                    load.latencies.append(elapsed)
                    if response.status_code != expect:
                        load.errors += 1
                    elif tally and (label := tally(response)):
                        load.tallies[label] += 1

    try:
        with ThreadPoolExecutor(max_workers=workers) as warming:
            list(warming.map(warm_one, warm))
        threads = [threading.Thread(target=caller, args=(measured[i::callers],)) for i in range(callers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load.wall = time.perf_counter() - started
    finally:
        gateway.stop()
        pool.close()
    return load


# ---------------------------------------------------------------------------- output


def verdict(ratio: float, target: float | None, *, at_least: bool = False) -> str:
    """``ok`` or ``MISSED`` against a target (at most, or ``at_least``); empty without one."""
    if target is None:
        return ""
    return "ok" if (ratio >= target if at_least else ratio <= target) else "MISSED"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in header]] + [
        [f"{c:.2f}" if isinstance(c, float) else "" if c is None else str(c) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        # Names (the header, the first column) left-aligned, figures right-aligned.
        print(
            "  "
            + "  ".join(
                c.rjust(w) if n and i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def finish(figures: dict[str, Any]) -> None:
    """The closing line every benchmark prints, last on stdout: one JSON object of its figures
    (floats rounded to three places)."""
    print(json.dumps(_rounded(figures), separators=(",", ":")))
    sys.stdout.flush()

"""Cold start of every function: import + first answer in a fresh interpreter, against
``import boto3`` + one client call, in the same run.

    python bench/coldstart.py            # 11 rounds of every case
    python bench/coldstart.py --quick    # 5 rounds

Each case is a fresh Python process (as a new Lambda container): the function's handler module
(``Handler`` of template.yaml) imported with its code folder and the layer on the path, then
one invocation with a realistic event, against a moto server (its own process) and, for the
routes that talk to Webitel, the Webitel sandbox. ``.pyc`` files are compiled once first, as a
deployed package has them. The baseline is a fresh process doing ``import boto3``, creating a
DynamoDB client and one ``get_item``. Each round runs the baseline and every case once, in a
shuffled order. Figures: median wall time and median peak RSS (VmHWM) per case, and their
ratios to the baseline's medians (the ratio the targets are checked on); "per round": the
median (and range) of each round's wall time over that round's baseline, which shows how far
machine load moved the figure; also the median CPU time of each process (user + system,
interpreter start included on both sides), which a loaded machine disturbs far less than wall
time, and the 1-minute load average before and after. Targets: routing and the page-view path (status,
widget script) <= 1.5x, the form submit <= 2x; the others reported.
The status case runs with the shared status answer valid (a busy site's usual case: the
containers already running keep it fresh, ``adapters.status_snapshot``; one container per
``status_cache_seconds`` asks Webitel); ``status, computed`` finds no shared answer (it loads
the configuration and computes the answer from the shared counts, then publishes it) and
``status, cache refresh`` must also ask Webitel itself (both reported, no target).
``--profile <case>`` prints where that case's cold start goes (cProfile, cumulative) instead;
``--importtime <case>`` prints its imports (``python -X importtime``) that cost 2 ms or more;
``--only routing,status`` measures those cases alone; ``--runs N`` sets the number of runs.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import arguments, finish, moto_process, server_process, table, verdict  # noqa: E402
from devstack import aws, template  # noqa: E402

TARGETS = {
    "routing": 1.5,
    "status": 1.5,
    "widget_script": 1.5,
    "submit": 2.0,
}

PEAK_RSS = textwrap.dedent("""
    def peak_rss_kb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0
""")

CASE = textwrap.dedent("""
    import time
    started = time.perf_counter()
    import importlib, json, sys
    sys.path[:0] = [{code!r}, {layer!r}]
    module = importlib.import_module({module!r})
    class Context:
        function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "cold"
        invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:bench"
        def get_remaining_time_in_millis(self): return 30000
    answer = getattr(module, {handler!r})(json.loads({event!r}), Context())
    elapsed = time.perf_counter() - started
    print(json.dumps({{"s": elapsed, "rss_kb": peak_rss_kb(), "answer": answer}}, default=str))
""")

BASELINE = textwrap.dedent("""
    import time
    started = time.perf_counter()
    import json
    import boto3
    client = boto3.client("dynamodb")
    client.get_item(TableName={table!r}, Key={{"pk": {{"S": "PHONE#+420770000021"}}}})
    elapsed = time.perf_counter() - started
    print(json.dumps({{"s": elapsed, "rss_kb": peak_rss_kb(), "answer": None}}))
""")


def http(
    method: str, path: str, *, route: str | None = None, body: Any = None, **extra: Any
) -> dict[str, Any]:
    from tests.support.events import http_event

    return http_event(method, path, body=body, route_key=route, **extra)


def ok(status: int) -> Any:
    def check(answer: Any) -> bool:
        return isinstance(answer, dict) and answer.get("statusCode") == status

    return check


def cases(
    stack: aws.ProvisionedStack, webitel: str
) -> list[tuple[str, str, dict[str, Any], Any, dict[str, str]]]:
    """(name, function, event, check of the answer, extra environment)."""
    routing = {"authorization": f"Bearer {stack.tokens['routing']}"}
    stream = json.loads((ROOT / "events" / "projector-stream.json").read_text())
    submit = {"mode": "later", "phone": "+420601000001", "name": "Jana", "source": "web"}
    return [
        (
            "routing",
            "RoutingFunction",
            http("GET", "/v1/routing", query={"cid": "+420770000021"}, headers=routing),
            ok(200),
            {},
        ),
        ("status", "CallbacksFunction", http("GET", "/v1/status"), ok(200), {}),
        ("status, computed", "CallbacksFunction", http("GET", "/v1/status"), ok(200), {"NO_ANSWER": "1"}),
        ("status, cache refresh", "CallbacksFunction", http("GET", "/v1/status"), ok(200), {"REFRESH": "1"}),
        (
            "widget_script",
            "CallbacksFunction",
            http("GET", "/widget.js", headers={"accept-encoding": "gzip"}),
            ok(200),
            {},
        ),
        (
            "submit",
            "CallbacksFunction",
            http("POST", "/v1/callbacks", body=submit),
            ok(202),
            {"UNIQUE_PHONE": "1"},
        ),
        (
            # As the widget sends it: one Idempotency-Key per submission (Powertools Idempotency).
            "submit_widget",
            "CallbacksFunction",
            http("POST", "/v1/callbacks", body=submit),
            ok(202),
            {"UNIQUE_PHONE": "1", "IDEMPOTENCY_KEY": "1"},
        ),
        (
            "ivr_accept",
            "IvrCallbacksFunction",
            http(
                "POST",
                "/v1/callbacks/ivr",
                body={
                    "cid": "+420601000001",
                    "queue_id": "3",
                    "joined_at": "1772443800000",
                    "call_id": "cold",
                    "language": "cs",
                },
                headers={"authorization": f"Bearer {stack.tokens['ivr']}"},
            ),
            lambda a: ok(200)(a) and json.loads(a["body"]).get("accepted") == "true",
            {"UNIQUE_CALLER": "1"},
        ),
        (
            "webitel_hook",
            "EventsFunction",
            http(
                "POST",
                "/v1/events/webitel",
                body={"event": "offering", "uuid": "cold", "timestamp": "1772443800000"},
                headers={"authorization": f"Bearer {stack.tokens['events']}"},
            ),
            ok(202),
            {"UNIQUE_UUID": "1"},
        ),
        ("projector", "ProjectorFunction", stream, lambda a: a == {"batchItemFailures": []}, {}),
        (
            "dialer",
            "DialerFunction",
            {"job": "callbacks"},
            lambda a: isinstance(a, dict),
            {"RINGBACK_WEBITEL_BASE_URL": webitel},
        ),
    ]


def main() -> int:
    args = arguments(__doc__ or "", profile="", importtime="", only="", runs=0)
    runs = args.runs or (5 if args.quick else 11)
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
                "bench-token",
            ],
            "/_sandbox/state",
        ) as sandbox,
    ):
        stack = aws.provision(
            tpl,
            endpoint,
            parameters={"Stage": "bench", "WebitelBaseUrl": f"{sandbox}/api", "CaptchaBackend": "sandbox"},
            secret_values={"WebitelAccessTokenSecret": {"token": "bench-token"}},
            stack_name="ringback-bench",
        )
        dynamo = aws.aws_client("dynamodb", endpoint)
        dynamo.put_item(
            TableName=stack.names["CustomersTable"],
            Item={
                "pk": {"S": "PHONE#+420770000021"},
                "customer_id": {"S": "C1"},
                "name": {"S": "Jana"},
                "debt": {"BOOL": False},
            },
        )
        ssm = aws.aws_client("ssm", endpoint)
        config = json.loads(ssm.get_parameter(Name="/ringback/bench/config")["Parameter"]["Value"])
        # Always open (the status asks Webitel); a cache lifetime longer than the run.
        config.update(business_hours={}, holidays=[], status_cache_seconds=300)
        # The IVR case accepts (the offer is on, with room in the callback queue).
        config["ivr_callback"] = {**config.get("ivr_callback", {}), "enabled": True, "max_open": 100_000}
        config["callbacks"].update(per_ip_per_hour=10_000, distinct_numbers_per_ip_per_day=10_000)
        ssm.put_parameter(
            Name="/ringback/bench/config", Value=json.dumps(config), Type="String", Overwrite=True
        )
        # Without PYTHONDONTWRITEBYTECODE (any non-empty value, "0" too, stops Python writing
        # .pyc files): each case would compile the layer from source on every run, which a
        # deployed package never does.
        base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RINGBACK_", "POWERTOOLS_", "AWS_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        base_env.update(
            {
                "POWERTOOLS_SERVICE_NAME": "ringback",
                "POWERTOOLS_METRICS_NAMESPACE": "RingbackBench",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )

        def run(code: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(
                [sys.executable, "-c", PEAK_RSS + code],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                cwd=str(cwd),
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if out.returncode:
                raise RuntimeError(out.stderr[-3000:])
            # The case's own line (a background thread of the function may log after it).
            line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith('{"s": '))
            result = dict(json.loads(line))
            # CPU time of the whole child (interpreter start included, on both sides): what the
            # cold start costs in work, much less sensitive than wall time to a loaded machine.
            result["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            return result

        def case_code(
            name: str, function: str, event: dict[str, Any], extra: dict[str, str]
        ) -> tuple[str, dict[str, str], Path]:
            spec = tpl.functions[function]
            env = {**base_env, **stack.function_environment(tpl, function)}
            env.update({k: v for k, v in extra.items() if k.startswith("RINGBACK_")})
            event = json.loads(json.dumps(event))
            if extra.get("UNIQUE_PHONE"):
                body = json.loads(event["body"])
                body["phone"] = f"+420601{uuid.uuid4().int % 10**6:06d}"
                event["body"] = json.dumps(body)
                event["requestContext"]["http"]["sourceIp"] = (
                    f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
                )
            if extra.get("IDEMPOTENCY_KEY"):
                event["headers"]["idempotency-key"] = str(uuid.uuid4())
            if extra.get("UNIQUE_CALLER"):
                body = json.loads(event["body"])
                body["cid"] = f"+420602{uuid.uuid4().int % 10**6:06d}"
                body["call_id"] = f"cold-{uuid.uuid4()}"
                body["joined_at"] = str(int(time.time() * 1000) - 90_000)  # joined 90 s ago
                event["body"] = json.dumps(body)
            if extra.get("UNIQUE_UUID"):
                body = json.loads(event["body"])
                body["uuid"] = f"cold-{uuid.uuid4()}"
                event["body"] = json.dumps(body)
            if extra.get("REFRESH") or extra.get("NO_ANSWER"):
                # No shared answer: this container computes it.
                dynamo.delete_item(
                    TableName=stack.names["GuardTable"],
                    Key={"pk": {"S": f"CACHE#STATUS_ANSWER#{env['RINGBACK_CONFIG_PARAMETER']}"}},
                )
            if extra.get("REFRESH"):
                # A queue no container has asked about: this one must ask Webitel.
                dynamo.delete_item(
                    TableName=stack.names["GuardTable"],
                    Key={"pk": {"S": f"CACHE#STATUS#{config['callback_queue_id']}"}},
                )
            module, handler = spec.handler.rsplit(".", 1)
            code = CASE.format(
                code=str(spec.code_uri),
                layer=str(ROOT / "layers" / "ringback"),
                module=module,
                handler=handler,
                event=json.dumps(event),
            )
            return code, env, spec.code_uri

        if args.profile or args.importtime:
            import tempfile

            name, function, event, _, extra = next(
                c for c in cases(stack, f"{sandbox}/api") if c[0] == (args.profile or args.importtime)
            )
            code, env, cwd = case_code(name, function, event, extra)
            with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
                script.write(PEAK_RSS + code)
                script.flush()
                run(code, env, cwd)  # .pyc compiled first
                # Again: the case's setup (a deleted cache item) must hold for the measured run.
                code, env, cwd = case_code(name, function, event, extra)
                script.seek(0)
                script.truncate()
                script.write(PEAK_RSS + code)
                script.flush()
                flags = ["-m", "cProfile", "-s", "cumulative"] if args.profile else ["-X", "importtime"]
                out = subprocess.run(
                    [sys.executable, *flags, script.name],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    cwd=str(cwd),
                )
            if args.profile:
                print("\n".join(out.stdout.splitlines()[:70]))
            else:
                lines = [line for line in out.stderr.splitlines() if line.startswith("import time:")]
                print(lines[0] if lines else out.stderr[-3000:])
                print("\n".join(line for line in lines[1:] if int(line.split("|")[1]) >= 2000))
                print(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "")
            return 0
        baseline_env = {**base_env, **stack.function_environment(tpl, "RoutingFunction")}
        baseline_code = BASELINE.format(table=stack.names["CustomersTable"])
        all_cases = [
            c for c in cases(stack, f"{sandbox}/api") if not args.only or c[0] in args.only.split(",")
        ]
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in all_cases}
        results["baseline"] = []
        # Compile .pyc once, and check every case answers as expected.
        for name, function, event, check, extra in all_cases:
            answer = run(*case_code(name, function, event, extra))["answer"]
            if not check(answer):
                raise SystemExit(f"{name}: unexpected answer {str(answer)[:500]}")
        run(baseline_code, baseline_env, ROOT)
        load_before = os.getloadavg()[0]
        # Interleaved, in an order shuffled per round (seeded: the same order every run): machine
        # load and whatever the previous process left warm affect every case alike, and each
        # round's processes are compared with that round's baseline (the paired ratios).
        shuffle = random.Random(15)
        for _ in range(runs):
            order: list[Any] = [None, *all_cases]
            shuffle.shuffle(order)
            for entry in order:
                if entry is None:
                    results["baseline"].append(run(baseline_code, baseline_env, ROOT))
                    continue
                name, function, event, check, extra = entry
                result = run(*case_code(name, function, event, extra))
                if not check(result["answer"]):
                    raise SystemExit(f"{name}: unexpected answer {str(result['answer'])[:500]}")
                results[name].append(result)
        load_after = os.getloadavg()[0]

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    base_ms, base_mb = med("baseline", "s") * 1000, med("baseline", "rss_kb") / 1024
    base_cpu = med("baseline", "cpu_s") * 1000

    def paired(name: str) -> list[float]:
        """Each round's wall time over the same round's baseline."""
        return [r["s"] / b["s"] for r, b in zip(results[name], results["baseline"], strict=True)]

    figures: dict[str, Any] = {
        "runs": runs,
        "load_average_1min": [load_before, load_after],
        "baseline_cold_ms": base_ms,
        "baseline_cpu_ms": base_cpu,
        "baseline_rss_mb": base_mb,
        "cases": {},
    }
    rows = [["import boto3 + get_item", "", base_ms, 1.0, "", base_cpu, 1.0, base_mb, 1.0, None, ""]]
    for name, function, *_ in all_cases:
        ms, mb, cpu = med(name, "s") * 1000, med(name, "rss_kb") / 1024, med(name, "cpu_s") * 1000
        ratio = ms / base_ms
        target = TARGETS.get(name)
        figures["cases"][name] = {
            "function": function,
            "cold_ms": ms,
            "ratio": ratio,
            "paired_ratio_median": statistics.median(paired(name)),
            "paired_ratio_range": [min(paired(name)), max(paired(name))],
            "cpu_ms": cpu,
            "cpu_ratio": cpu / base_cpu,
            "rss_mb": mb,
            "rss_ratio": mb / base_mb,
        }
        spread = f"{statistics.median(paired(name)):.2f} ({min(paired(name)):.2f}-{max(paired(name)):.2f})"
        rows.append(
            [
                name,
                function,
                ms,
                ratio,
                spread,
                cpu,
                cpu / base_cpu,
                mb,
                mb / base_mb,
                target,
                verdict(ratio, target),
            ]
        )
    table(
        f"cold start, import + first answer (median of {runs} fresh processes; "
        f"1-min load average {load_before:.1f} -> {load_after:.1f})",
        [
            "case",
            "function",
            "wall ms",
            "ratio",
            "per round",
            "CPU ms",
            "ratio",
            "peak RSS MB",
            "ratio",
            "target",
            "",
        ],
        rows,
    )
    figures["targets"] = TARGETS
    figures["meets_targets"] = all(
        figures["cases"][k]["ratio"] <= v for k, v in TARGETS.items() if k in figures["cases"]
    )
    finish(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

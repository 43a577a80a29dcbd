"""How long the webhook routes take to answer 503 when DynamoDB fails, against Webitel's 1000 ms.

DynamoDB is pointed at a TCP server on 127.0.0.1 that accepts and never answers ("silent") or
at a port nothing listens on ("refused"); Secrets Manager (the tokens) stays on the moto server.
Each hook goes through EventsFunction's handler, warm. Figures (one JSON line at the end):
``<fault>_p50_ms``, ``<fault>_max_ms`` per fault and ``budget_ms`` (1000, flow_manager's
httpRequest default); target: every answer a 503 and ``max_ms`` under the budget.
Full run: 40 hooks per fault; ``--quick``: 8.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

from bench.benchlib import arguments, environment, finish, load_function, moto_stack, table  # noqa: E402
from devstack.lambda_context import LambdaContext  # noqa: E402
from tests.support.events import http_event  # noqa: E402
from tests.support.sockets import SilentServer, refused_url  # noqa: E402

BUDGET_MS = 1000


def hook(token: str) -> dict[str, Any]:
    body = {
        "event": "bridged",
        "queue": "1",
        "uuid": f"bench-{uuid.uuid4().hex[:10]}",
        "timestamp": "1772443800000",
    }
    return http_event("POST", "/v1/events/webitel", body=body, headers={"authorization": f"Bearer {token}"})


def forget_cached_adapters() -> None:
    """As a new container would: every cached client, setting and factory of the layer."""
    for name, module in list(sys.modules.items()):
        if name == "ringback" or name.startswith("ringback."):
            for attr in vars(module).values():
                if callable(getattr(attr, "cache_clear", None)):
                    attr.cache_clear()


def main() -> None:
    args = arguments(__doc__ or "", hooks=0)
    count = args.hooks or (8 if args.quick else 40)
    figures: dict[str, Any] = {"budget_ms": BUDGET_MS}
    rows = []
    silent = SilentServer()
    try:
        with moto_stack() as (stack_template, stack):
            for fault, endpoint in (("silent", silent.url), ("refused", refused_url())):
                env = {
                    **stack.function_environment(stack_template, "EventsFunction"),
                    "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                    "POWERTOOLS_METRICS_NAMESPACE": "RingbackBench",
                    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
                }
                with environment(env):
                    forget_cached_adapters()
                    module = load_function("events", f"events_app_{fault}")
                    context = LambdaContext("bench-webhook-faults")
                    devnull = open(os.devnull, "w")  # noqa: SIM115 - metrics lines go nowhere
                    real_stdout, samples, statuses = sys.stdout, [], set()
                    for _ in range(count + 1):  # the first one warms the token cache up
                        event = hook(stack.tokens["events"])
                        started = time.perf_counter()
                        sys.stdout = devnull
                        try:
                            answer = module.lambda_handler(event, context)
                        finally:
                            sys.stdout = real_stdout
                        samples.append((time.perf_counter() - started) * 1000)
                        statuses.add(answer["statusCode"])
                    samples = sorted(samples[1:])
                    figures[f"{fault}_p50_ms"] = samples[len(samples) // 2]
                    figures[f"{fault}_max_ms"] = samples[-1]
                    figures[f"{fault}_statuses"] = sorted(statuses)
                    ok = statuses == {503} and samples[-1] < BUDGET_MS
                    rows.append(
                        (
                            fault,
                            samples[len(samples) // 2],
                            samples[-1],
                            sorted(statuses),
                            "ok" if ok else "MISSED",
                        )
                    )
    finally:
        silent.close()
    table("webhook answers with DynamoDB failing (ms)", ["fault", "p50", "max", "statuses", "verdict"], rows)
    finish(figures)


if __name__ == "__main__":
    main()

"""The embedded local stack: moto server, Webitel sandbox, local API gateway, scheduler and
stream pollers, all built from template.yaml. ``make run`` starts it in the foreground."""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import aws, template
from devstack.functions import FunctionPool, InvocationError
from devstack.gateway import LocalGateway
from devstack.intrinsics import resolve
from devstack.moto_server import MotoServer
from devstack.schedules import LocalScheduler, schedule_event
from devstack.streams import StreamPoller
from devstack.template import ROOT, Schedule

STATE_FILE = ROOT / ".local" / "stack.json"
DEMO_DIR = Path(__file__).resolve().parent / "demo"


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    api_port: int = 3000
    moto_port: int = 5000
    webitel_port: int = 8801
    write_state: bool = True
    scheduler: bool = True
    seed: bool = True
    quiet: bool = False
    max_workers: int = 4
    extra_origins: list[str] = field(default_factory=list)
    state_file: Path = STATE_FILE


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.template = template.load()
        self.moto = MotoServer(self.options.host, self.options.moto_port)
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[StreamPoller] = []
        self.scheduler: LocalScheduler | None = None
        self.gateway: LocalGateway | None = None
        self.provisioned: aws.ProvisionedStack | None = None
        self.webitel: Any = None
        self.seed_report: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        from devstack.webitel_sandbox import WebitelSandbox

        opts = self.options
        moto_url = self.moto.start()
        self.webitel = WebitelSandbox(host=opts.host, port=opts.webitel_port, token=secrets.token_urlsafe(18))
        self.webitel.start()
        self.webitel.seed_demo()
        # Bind the gateway first: its origin is an allowed origin (the widget demo page lives there).
        self.gateway = LocalGateway(
            self.template.routes, self.pools, host=opts.host, port=opts.api_port, quiet=opts.quiet
        )
        api_origins = [self.gateway.url, f"http://localhost:{self.gateway.port}", *opts.extra_origins]
        self.provisioned = aws.provision(
            self.template,
            moto_url,
            parameters={
                "Stage": "local",
                "WebitelBaseUrl": self.webitel.url,
                "AllowedOrigins": ",".join(api_origins),
                # Locally the CAPTCHA sandbox accepts Cloudflare's public test token (no third party).
                "CaptchaBackend": "sandbox",
            },
            secret_values={"WebitelAccessTokenSecret": {"token": self.webitel.token}},
        )
        # An operator's config edit shows within seconds locally (60 s on AWS).
        self.provisioned.env_overrides["RINGBACK_OPERATOR_CONFIG_MAX_AGE_S"] = "2"
        self.gateway.allowed_origins = api_origins
        self.gateway.admin = self._admin
        layer_dirs = self.template.layer_dirs
        for logical_id, spec in self.template.functions.items():
            env = self.provisioned.function_environment(self.template, logical_id)
            self.pools[logical_id] = FunctionPool(
                spec, env, layer_dirs, max_workers=opts.max_workers, echo_logs=not opts.quiet
            )
        self.gateway.start()
        self._prewarm()
        self._start_streams()
        if opts.scheduler:
            self.scheduler = LocalScheduler(self.template.schedules, self._fire_schedule)
            self.scheduler.start()
        if opts.seed:
            self.seed_report = self.seed_demo()
        if opts.write_state:
            opts.state_file.parent.mkdir(parents=True, exist_ok=True)
            opts.state_file.write_text(json.dumps(self.state(), indent=2))

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        if self.gateway:
            self.gateway.stop()
        for pool in self.pools.values():
            pool.close()
        if self.webitel:
            self.webitel.stop()
        self.moto.stop()
        if self.options.write_state and self.options.state_file.exists():
            self.options.state_file.unlink()

    def _prewarm(self) -> None:
        # One warm worker per function, in parallel: import errors show at start, not on first call.
        def warm(pool: FunctionPool) -> None:
            try:
                pool.prewarm()
            except InvocationError as error:
                print(f"[stack] {pool.name} failed to start: {error}", flush=True)

        threads = [threading.Thread(target=warm, args=(p,)) for p in self.pools.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _start_streams(self) -> None:
        assert self.provisioned is not None
        for source in self.template.streams:
            arn = self.provisioned.context.attrs[source.table]["StreamArn"]
            fn = self.template.raw["Resources"][source.function]["Properties"]
            props = fn["Events"][source.name]["Properties"]
            dlq = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            dlq_url = None
            if dlq:
                arn_value = resolve(dlq, self.provisioned.context)
                dlq_url = next(
                    (
                        a["QueueUrl"]
                        for a in self.provisioned.context.attrs.values()
                        if a.get("Arn") == arn_value and "QueueUrl" in a
                    ),
                    None,
                )
            poller = StreamPoller(
                self.provisioned.endpoint,
                arn,
                self.pools[source.function],
                batch_size=source.batch_size,
                max_retries=min(int(props.get("MaximumRetryAttempts", 3)), 5),
                on_failure_queue_url=dlq_url,
            )
            poller.start()
            self.pollers.append(poller)

    # ------------------------------------------------------------------ what people and tests use
    @property
    def api_url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    @property
    def moto_url(self) -> str:
        return self.moto.endpoint

    @property
    def webitel_url(self) -> str:
        return str(self.webitel.url)

    @property
    def tokens(self) -> dict[str, str]:
        assert self.provisioned is not None
        return dict(self.provisioned.tokens)

    def state(self) -> dict[str, Any]:
        assert self.provisioned is not None
        root = self.webitel.url.rsplit("/api", 1)[0]
        return {
            "urls": {
                "api": self.api_url,
                "moto": self.moto_url,
                "webitel": self.webitel.url,
                "webitel_ui": root + "/",
                "widget": f"{self.api_url}/widget",
                "widget_script": f"{self.api_url}/widget.js",
                "console": f"{self.api_url}/console",
            },
            "tokens": self.tokens,
            "names": dict(self.provisioned.names),
            "schedules": sorted(s.name for s in self.template.schedules),
            "region": aws.REGION,
        }

    def fire(self, name: str) -> Any:
        """Fire a schedule now (as EventBridge would) and return the function's result."""
        schedule = next((s for s in self.template.schedules if s.name == name), None)
        if schedule is None:
            raise KeyError(f"no schedule '{name}' in template.yaml")
        return self._fire_schedule(schedule)

    def invoke(self, function_id: str, event: Any) -> Any:
        return self.pools[function_id].invoke(event)

    def logs(self, function_id: str) -> list[str]:
        return list(self.pools[function_id].logs)

    def notify_s3(self, bucket: str, key: str) -> list[Any]:
        """Deliver an ObjectCreated notification to every function whose S3 event matches."""
        assert self.provisioned is not None
        results = []
        for source in self.template.s3_sources:
            bucket_name = self.provisioned.names.get(source.bucket)
            if bucket_name == bucket and key.startswith(source.prefix) and key.endswith(source.suffix):
                results.append(self.invoke(source.function, s3_event(bucket, key)))
        if not results:
            raise KeyError(f"no S3 event in template.yaml matches s3://{bucket}/{key}")
        return results

    def seed_demo(self) -> dict[str, Any]:
        """Load the demo data through the same S3 import path users take."""
        assert self.provisioned is not None
        report: dict[str, Any] = {}
        bucket = self.provisioned.names.get("ImportsBucket")
        s3 = aws.aws_client("s3", self.moto_url)
        for prefix, filename in (("customers/", "customers.csv"), ("campaigns/", "campaign.csv")):
            path = DEMO_DIR / filename
            if not bucket or not path.exists():
                continue
            key = f"{prefix}demo-{filename}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            try:
                report[filename] = self.notify_s3(bucket, key)
            except (InvocationError, KeyError) as error:
                report[filename] = {"error": str(error)}
                print(f"[stack] demo data {filename} not loaded: {error}", flush=True)
        return report

    def _fire_schedule(self, schedule: Schedule) -> Any:
        props = self.template.raw["Resources"][schedule.function]["Properties"]["Events"][schedule.name][
            "Properties"
        ]
        attempts = 1 + int(props.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0))
        last_error: Exception | None = None
        for _ in range(attempts):
            try:
                return self.invoke(schedule.function, schedule_event(schedule))
            except InvocationError as error:
                last_error = error
        print(f"[scheduler] {schedule.name} failed after {attempts} attempts: {last_error}", flush=True)
        raise last_error  # type: ignore[misc]

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")[1:]]
        try:
            payload = json.loads(body) if body else {}
            if method == "GET" and parts == ["stack"]:
                return 200, self.state()
            if method == "POST" and len(parts) == 2 and parts[0] == "schedules":
                return 200, self.fire(parts[1])
            if method == "POST" and parts == ["s3-notify"]:
                results = self.notify_s3(str(payload["bucket"]), str(payload["key"]))
                return 200, results[0] if len(results) == 1 else results
            if method == "POST" and len(parts) == 2 and parts[0] == "invoke":
                return 200, self.invoke(parts[1], payload)
            if method == "GET" and len(parts) == 2 and parts[0] == "logs":
                return 200, self.logs(parts[1])
        except KeyError as error:
            return 404, {"message": f"not found: {error}"}
        except (ValueError, TypeError) as error:
            return 400, {"message": str(error)}
        except InvocationError as error:
            return 502, {"message": str(error), "errorType": error.error_type}
        return 404, {"message": "Not Found"}


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": aws.REGION,
                "eventTime": now,
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "local"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": secrets.token_hex(8),
                    "x-amz-id-2": secrets.token_hex(16),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {"key": urllib.parse.quote_plus(key), "size": 0, "eTag": "", "sequencer": "0"},
                },
            }
        ]
    }

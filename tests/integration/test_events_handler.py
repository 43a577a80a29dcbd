"""EventsFunction and ProjectorFunction end to end against the moto server."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack import aws
from devstack.aws import aws_client
from tests.support.events import http_event, response_json
from tests.support.streams import stream_records

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"
ORIGIN = "https://www.example.com"
BASE = 1772443800000


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda imports the layer with POWERTOOLS_METRICS_NAMESPACE set; a test process may have
    imported it earlier (at collection), so give the shared Metrics its namespace as Lambda would."""
    from ringback.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


@pytest.fixture
def events_fn(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> Callable[..., dict[str, Any]]:
    """EventsFunction's handler. The handler writes the event log alone; with ``project`` (the
    default) each accepted event's stream record is then handed to ProjectorFunction's handler,
    as the event source mapping does on AWS, so a read that follows sees the projection."""
    lambda_env("EventsFunction")
    module = load_handler("EventsFunction")
    projector = load_handler("ProjectorFunction")

    def call(event: dict[str, Any], *, project: bool = True) -> dict[str, Any]:
        answer: dict[str, Any] = module.lambda_handler(event, lambda_context)
        if project and answer["statusCode"] == 202:
            accepted = {e["event_id"] for e in response_json(answer)["events"] if e["status"] == "accepted"}
            records = stream_records(moto_stack, accepted)
            assert len(records) == len(accepted), "every accepted event reaches the stream once"
            assert projector.lambda_handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
        return answer

    call.module = module  # type: ignore[attr-defined]
    return call


def post(path: str, body: Any, token: str | None = None, **headers: str) -> dict[str, Any]:
    hdrs = dict(headers)
    if token:
        hdrs["authorization"] = f"Bearer {token}"
    return http_event("POST", path, body=body, headers=hdrs, source_ip=f"198.51.100.{uuid.uuid4().int % 250}")


def get(path: str, token: str, query: dict[str, str] | None = None, **path_params: str) -> dict[str, Any]:
    return http_event(
        "GET",
        path,
        query=query,
        headers={"authorization": f"Bearer {token}"},
        path_params=path_params or None,
    )


def sample(name: str, token: str | None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    if token:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


def add_callback(
    stack: aws.ProvisionedStack,
    phone: str,
    status: str = "queued",
    created: str = "2026-03-02T09:00:00+00:00",
) -> str:
    callback_id = f"cb{uuid.uuid4().hex[:20]}"
    aws_client("dynamodb", stack.endpoint).put_item(
        TableName=stack.names["CallbacksTable"],
        Item={
            "pk": {"S": f"CB#{callback_id}"},
            "sk": {"S": "REQUEST"},
            "status": {"S": status},
            "status_at": {"N": "1772442000000"},
            "gsi1pk": {"S": f"PHONE#{phone}"},
            "gsi1sk": {"S": f"{created}#{callback_id}"},
        },
    )
    return callback_id


def callback_status(stack: aws.ProvisionedStack, callback_id: str) -> dict[str, Any]:
    item = aws_client("dynamodb", stack.endpoint).get_item(
        TableName=stack.names["CallbacksTable"],
        Key={"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "REQUEST"}},
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


# ------------------------------------------------------------------------------------ samples


SAMPLES = [
    "agent-sobot-not-ready.json",
    "agent-sobot-regain-status.json",
    "agent-sobot-ringing.json",
    "webitel-bridged.json",
    "webitel-hook-batch.json",
    "webitel-hook-joined.json",
    "webitel-hook-leaving.json",
    "webitel-offering.json",
    "webitel-queue-hook-bridged.json",
    "webitel-queue-hook-leaving.json",
    "webitel-team-hook-agent-status.json",
    "widget-mluvii-raw-app-event.json",
    "widget-mluvii-raw-status.json",
    "widget-mluvii-status.json",
    "widget-ringback-batch.json",
    "widget-whisbi-call-booked.json",
    "widget-whisbi-raw-call-booked.json",
]


def test_samples_list_is_complete() -> None:
    found = sorted(
        p.name for p in EVENTS.glob("*.json") if p.name.startswith(("webitel-", "widget-", "agent-sobot-"))
    )
    assert found == SAMPLES


# Webitel's team hook has no timestamp (call_center agent_manager/agent.go HookData): each
# arrival is a status change of its own, never a redelivery.
ARRIVAL_IDENTIFIED = ["webitel-team-hook-agent-status.json"]


@pytest.mark.parametrize("name", ARRIVAL_IDENTIFIED)
def test_a_timestampless_team_hook_posted_again_is_a_new_change(
    name: str, events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    first = response_json(events_fn(sample(name, moto_stack.tokens["events"])))
    again = events_fn(sample(name, moto_stack.tokens["events"]))
    assert again["statusCode"] == 202
    answer = response_json(again)
    assert answer["accepted"] == 1 and answer["events"][0]["event_id"] != first["events"][0]["event_id"]


@pytest.mark.parametrize("name", [n for n in SAMPLES if n not in ARRIVAL_IDENTIFIED])
def test_every_sample_is_accepted_once_then_a_duplicate(
    name: str, events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    token = {"webitel": moto_stack.tokens["events"], "agent": moto_stack.tokens["agent"]}.get(
        name.split("-", maxsplit=1)[0]
    )
    first = events_fn(sample(name, token))
    assert first["statusCode"] in (200, 202), response_json(first)
    again = events_fn(sample(name, token))
    assert again["statusCode"] == 200, response_json(again)
    answer = response_json(again)
    assert answer["accepted"] == 0 and answer["duplicates"] == len(answer["events"]) >= 1
    assert {e["event_id"] for e in answer["events"]} == {
        e["event_id"] for e in response_json(first)["events"]
    }


def test_samples_reach_the_projections(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    for name in SAMPLES:
        token = {"webitel": moto_stack.tokens["events"], "agent": moto_stack.tokens["agent"]}.get(
            name.split("-")[0]
        )
        assert events_fn(sample(name, token))["statusCode"] in (200, 202)
    agents = {
        (a["source"], a["agent_id"]): a
        for a in response_json(events_fn(get("/v1/agents", moto_stack.tokens["agent"])))["agents"]
    }
    assert agents[("webitel", "17")]["status"] == "pause" and agents[("webitel", "17")]["reason"] == "lunch"
    assert agents[("sobot", "1005")]["reason"] == "Break"
    assert agents[("sobot", "1006")]["reason"] == "Break (Dining)"
    assert agents[("sobot", "1006")]["activity"]["state"] == "on_call"
    assert (
        agents[("sobot", "1007")]["status"] == "ready"
        and agents[("sobot", "1007")]["activity"]["state"] == "dialing"
    )
    assert agents[("sobot", "1008")]["status"] == "offline"
    call = response_json(
        events_fn(
            get(
                "/v1/calls/6f1b0c8e-3c7a-4a8e-9d0e-2f5b7c1a9e31",
                moto_stack.tokens["agent"],
                uuid="6f1b0c8e-3c7a-4a8e-9d0e-2f5b7c1a9e31",
            )
        )
    )
    assert call["state"] == "leaving" and call["bill_sec"] == 185 and call["cause"] == "NORMAL_CLEARING"
    assert call["joined_at"] == "2026-03-02T09:29:50.000Z" and call["talk_s"] == 185.0
    funnel = response_json(
        events_fn(
            get("/v1/funnel", moto_stack.tokens["agent"], query={"from": "2026-03-02", "to": "2026-03-02"})
        )
    )["days"][0]["providers"]
    assert funnel["mluvii"]["opened"] >= 1 and funnel["mluvii"]["connected"] >= 1
    assert funnel["whisbi"]["booked"] >= 1 and funnel["ringback"]["invalid_phone"] >= 1


def test_sample_call_is_readable_with_masked_cid(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    event = sample("webitel-offering.json", moto_stack.tokens["events"])
    call_uuid = str(uuid.uuid4())
    event["body"] = json.dumps({**json.loads(event["body"]), "uuid": call_uuid})
    assert events_fn(event)["statusCode"] == 202
    answer = events_fn(get(f"/v1/calls/{call_uuid}", moto_stack.tokens["agent"], uuid=call_uuid))
    assert answer["statusCode"] == 200
    call = response_json(answer)
    assert call["cid"] == "+420*******55" and call["queue"] == "1" and call["agent"] == "1005"
    assert "offering" in [e["event"] for e in call["events"]]


# -------------------------------------------------------------------------------- bad input


def test_auth_and_validation_errors(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    body = {"event": "offering", "uuid": "u-auth"}
    assert events_fn(post("/v1/events/webitel", body))["statusCode"] == 401
    assert events_fn(post("/v1/events/webitel", body, "wrong"))["statusCode"] == 401
    # The agent-desktop token is not a Webitel hook token.
    assert events_fn(post("/v1/events/webitel", body, moto_stack.tokens["agent"]))["statusCode"] == 401
    bad = events_fn(
        post(
            "/v1/events/webitel",
            [body, {"event": "bridged", "timestamp": "9:30"}],
            moto_stack.tokens["events"],
        )
    )
    assert bad["statusCode"] == 422
    assert {f["field"] for f in response_json(bad)["fields"]} == {"[1].timestamp"}
    missing = events_fn(
        post(
            "/v1/events/agent", {"messageID": "EventAgentNotReady", "agent": "1"}, moto_stack.tokens["agent"]
        )
    )
    assert missing["statusCode"] == 422 and response_json(missing)["fields"][0]["field"] == "reasonCode"
    malformed = post("/v1/events/webitel", None, moto_stack.tokens["events"])
    malformed["body"], malformed["headers"]["content-type"] = "{nope", "application/json"
    assert events_fn(malformed)["statusCode"] == 400
    assert (
        events_fn(post("/v1/events/webitel", '"just text"', moto_stack.tokens["events"]))["statusCode"] == 422
    )
    assert (
        events_fn(post("/v1/events/webitel", "just text", moto_stack.tokens["events"]))["statusCode"] == 400
    )
    huge = [{"event": "x", "pad": "p" * 1000} for _ in range(300)]
    assert events_fn(post("/v1/events/webitel", huge, moto_stack.tokens["events"]))["statusCode"] == 413


def test_unknown_event_is_stored_and_reported(
    events_fn: Callable[..., dict[str, Any]],
    moto_stack: aws.ProvisionedStack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = {"event": "transfer_started", "uuid": f"u-{uuid.uuid4()}", "cid": "+420777666555"}
    answer = events_fn(post("/v1/events/webitel", body, moto_stack.tokens["events"]))
    assert answer["statusCode"] == 202
    [event] = response_json(answer)["events"]
    assert event["known"] is False
    item = aws_client("dynamodb", moto_stack.endpoint).get_item(
        TableName=moto_stack.names["EventLogTable"],
        Key={"pk": {"S": f"EVENT#{event['event_id']}"}, "sk": {"S": "EVENT"}},
    )
    assert item["Item"]["event_type"]["S"] == "transfer_started" and item["Item"]["known"]["BOOL"] is False
    assert int(item["Item"]["expires_at"]["N"]) > int(item["Item"]["received_at"]["N"]) // 1000 + 89 * 86400
    out = capsys.readouterr().out
    assert "UnknownEventType" in out and "777666555" not in out


def test_widget_guard_origin_site_key_rate_and_size(
    lambda_env: Callable[..., dict[str, str]], load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    lambda_env("EventsFunction", RINGBACK_WIDGET_EVENTS_PER_MINUTE="2")
    module = load_handler("EventsFunction")
    body = {"event": "otoOpened", "event_id": str(uuid.uuid4()), "session_id": "s1"}
    # An address of this test alone (2001:db8::/32 with 96 random bits): the samples in events/
    # post from 203.0.113.10, and a shared address would have used up this test's limit of 2.
    ip = str(ipaddress.IPv6Address((0x20010DB8 << 96) | (uuid.uuid4().int >> 32)))

    def send(payload: Any, **headers: str) -> dict[str, Any]:
        event = http_event("POST", "/v1/events/widget", body=payload, headers=headers, source_ip=ip)
        return module.lambda_handler(event, lambda_context)  # type: ignore[no-any-return]

    assert (
        send(body, origin="https://evil.example.net", **{"x-ringback-site-key": "pk_demo_site"})["statusCode"]
        == 403
    )
    wrong_key = send(body, origin=ORIGIN, **{"x-ringback-site-key": "pk_other"})
    assert wrong_key["statusCode"] == 403 and response_json(wrong_key)["fields"][0]["field"] == "site_key"
    assert send({**body, "site_key": "pk_demo_site"}, origin=ORIGIN)["statusCode"] == 202
    limited = send(body, origin=ORIGIN, **{"x-ringback-site-key": "pk_demo_site"})
    assert limited["statusCode"] == 429 and int(limited["headers"]["Retry-After"]) >= 1


# ------------------------------------------------------------------- callbacks and projections


def test_callback_status_follows_webitel_and_timeline_reads_it(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    callback_id = add_callback(moto_stack, "+420777000111")
    call = f"u-{uuid.uuid4()}"
    token = moto_stack.tokens["events"]
    hooks = [
        {
            "event": name,
            "member_channel_id": call,
            "attempt_id": "a-1",
            "timestamp": str(BASE + i * 1000),
            "variables": {"ringback_callback_id": callback_id, "ringback_provider": "ringback"},
            **extra,
        }
        for i, (name, extra) in enumerate(
            [
                ("offering", {}),
                ("bridged", {"bridged_at": str(BASE + 1000)}),
                ("leaving", {"cc_result": "success"}),
            ]
        )
    ]
    # Late and out of order: leaving first, then bridged, then offering (each redelivered).
    for body in reversed(hooks + hooks):
        assert events_fn(post("/v1/events/webitel", body, token))["statusCode"] in (200, 202)
    status = callback_status(moto_stack, callback_id)
    assert status["status"] == "completed" and status["status_at"] == str(BASE + 2000)
    timeline = response_json(
        events_fn(
            get(f"/v1/callbacks/{callback_id}/timeline", moto_stack.tokens["agent"], callback_id=callback_id)
        )
    )
    assert timeline["status"] == "completed"
    assert [e["event"] for e in timeline["timeline"]] == ["offering", "bridged", "leaving"]
    assert (
        events_fn(get("/v1/callbacks/nope/timeline", moto_stack.tokens["agent"], callback_id="nope"))[
            "statusCode"
        ]
        == 404
    )


def test_inbound_bridged_closes_pending_request(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    callback_id = add_callback(moto_stack, "+420777000222")
    body = {
        "event": "bridged",
        "direction": "inbound",
        "uuid": f"in-{uuid.uuid4()}",
        "cid": "777000222",
        "timestamp": str(BASE),
    }
    assert events_fn(post("/v1/events/webitel", body, moto_stack.tokens["events"]))["statusCode"] == 202
    status = callback_status(moto_stack, callback_id)
    assert status["status"] == "completed" and "called in" in status["status_reason"]


def test_webitels_own_inbound_bridged_hook_closes_pending_request(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    # The body Webitel posts (no direction: queue 3 is the config's inbound_queue_id).
    event = sample("webitel-queue-hook-bridged.json", moto_stack.tokens["events"])
    body = json.loads(event["body"])
    assert "direction" not in body and body["queue_id"] == "3"
    callback_id = add_callback(moto_stack, body["destination"], created="2026-03-02T09:00:00+00:00")
    event["body"] = json.dumps({**body, "attempt_id": uuid.uuid4().hex[:8]})
    assert events_fn(event)["statusCode"] == 202
    status = callback_status(moto_stack, callback_id)
    assert status["status"] == "completed" and "called in" in status["status_reason"]


def test_agents_and_funnel_read_endpoints(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    agent = f"a{uuid.uuid4().hex[:8]}"
    token = moto_stack.tokens["agent"]
    for body in (
        {"messageID": "EventAgentNotReady", "agent": agent, "reasonCode": 12, "timestamp": BASE + 5},
        {"messageID": "EventAgentReady", "agent": agent, "timestamp": BASE},
    ):
        assert events_fn(post("/v1/events/agent", body, token))["statusCode"] == 202
    agents = response_json(events_fn(get("/v1/agents", token)))["agents"]
    [mine] = [a for a in agents if a["agent_id"] == agent]
    assert mine["status"] == "not_ready" and mine["reason"] == "Break (Training)"
    events_fn(sample("widget-ringback-batch.json", None))
    funnel = events_fn(get("/v1/funnel", token, query={"from": "2026-03-02", "to": "2026-03-02"}))
    assert funnel["statusCode"] == 200, response_json(funnel)
    totals = response_json(funnel)["total"]
    assert totals["opened"] >= 1 and totals["invalid_phone"] >= 1 and totals["requested"] >= 1
    assert (
        events_fn(get("/v1/funnel", token, query={"from": "2026-03-03", "to": "2026-03-02"}))["statusCode"]
        == 422
    )
    assert events_fn(get("/v1/agents", "nope"))["statusCode"] == 401


# -------------------------------------------------------------- stream re-projection and rebuild


def test_the_handler_writes_the_log_only_and_the_stream_projects_with_retries(
    events_fn: Callable[..., dict[str, Any]],
    moto_stack: aws.ProvisionedStack,
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ringback.adapters import events_factory
    from ringback.adapters.projections_dynamo import DynamoCallbackStatus

    callback_id = add_callback(moto_stack, "+420777000333")
    body = {
        "event": "bridged",
        "uuid": f"u-{uuid.uuid4()}",
        "timestamp": str(BASE),
        "ringback_callback_id": callback_id,
    }

    def broken(self: Any, advance: Any) -> bool:
        raise RuntimeError("DynamoDB throttled")

    monkeypatch.setattr(DynamoCallbackStatus, "advance", broken)
    answer = events_fn(post("/v1/events/webitel", body, moto_stack.tokens["events"]), project=False)
    assert answer["statusCode"] == 202  # logged (the one write): the sender must not retry
    assert callback_status(moto_stack, callback_id)["status"] == "queued"  # no projection inline
    event_ids = {e["event_id"] for e in response_json(answer)["events"]}

    lambda_env("ProjectorFunction")
    projector = load_handler("ProjectorFunction")
    records = stream_records(moto_stack, event_ids)
    assert len(records) == 1, "the log write reached the stream"
    # The projection write fails: the batch fails (every record of it did), so the mapping retries it.
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):
        projector.lambda_handler({"Records": records}, lambda_context)
    assert callback_status(moto_stack, callback_id)["status"] == "queued"
    monkeypatch.undo()
    result = projector.lambda_handler({"Records": records}, lambda_context)
    assert result == {"batchItemFailures": []}
    assert callback_status(moto_stack, callback_id)["status"] == "connected"
    # A redelivery of the same record changes nothing.
    assert projector.lambda_handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert callback_status(moto_stack, callback_id)["status"] == "connected"
    events_factory.projector.cache_clear()


def test_projector_sample_and_partial_failure(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    lambda_env("ProjectorFunction")
    projector = load_handler("ProjectorFunction")
    stream = json.loads((EVENTS / "projector-stream.json").read_text())
    assert projector.lambda_handler(stream, lambda_context) == {"batchItemFailures": []}
    facts = aws_client("dynamodb", moto_stack.endpoint).query(
        TableName=moto_stack.names["ProjectionsTable"],
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "CALL#6f1b0c8e-3c7a-4a8e-9d0e-2f5b7c1a9e31"}},
    )["Items"]
    assert any(f["event"]["S"] == "offering" for f in facts)
    broken = json.loads(json.dumps(stream))
    broken["Records"][0]["dynamodb"]["NewImage"]["source"] = {"S": "fax"}
    failures = projector.lambda_handler(broken, lambda_context)["batchItemFailures"]
    assert failures == [{"itemIdentifier": stream["Records"][0]["dynamodb"]["SequenceNumber"]}]


def test_rebuild_command_restores_projections(
    events_fn: Callable[..., dict[str, Any]],
    moto_stack: aws.ProvisionedStack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from devstack.commands import rebuild_projections

    call = f"u-{uuid.uuid4()}"
    events_fn(
        post(
            "/v1/events/webitel",
            {"event": "offering", "uuid": call, "timestamp": str(BASE)},
            moto_stack.tokens["events"],
        )
    )
    state = {"urls": {"moto": moto_stack.endpoint}, "names": dict(moto_stack.names)}
    assert rebuild_projections.run(state) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rebuilt"]["events"] >= 1
    answer = events_fn(get(f"/v1/calls/{call}", moto_stack.tokens["agent"], uuid=call))
    assert answer["statusCode"] == 200 and response_json(answer)["state"] == "offering"


# ------------------------------------------------------------------------------------- fuzzing


def test_openapi_fuzz_no_5xx_no_undocumented_status(
    events_fn: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.core import NotSet

    module = events_fn.module  # type: ignore[attr-defined]
    schema = schemathesis.openapi.from_dict(json.loads(module.app.get_openapi_json_schema()))
    tokens = {"/v1/events/webitel": moto_stack.tokens["events"]}
    seen: set[int] = set()

    def fuzz(op: Any) -> None:
        documented = {int(code) for code in op.definition.raw["responses"]}

        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(), with_token=st.booleans(), with_site=st.booleans())
        def run(case: Any, with_token: bool, with_site: bool) -> None:
            headers = {k.lower(): str(v) for k, v in (case.headers or {}).items()}
            if with_token:
                headers["authorization"] = (
                    f"Bearer {tokens.get(case.formatted_path, moto_stack.tokens['agent'])}"
                )
            if with_site:
                headers |= {"origin": ORIGIN, "x-ringback-site-key": "pk_demo_site"}
            query = {k: str(v) for k, v in (case.query or {}).items()}
            body = case.body if not isinstance(case.body, NotSet) else None
            event = http_event(
                case.method,
                case.formatted_path,
                query=query or None,
                body=body,
                headers=headers,
                path_params=case.path_parameters or None,
                source_ip=f"192.0.2.{uuid.uuid4().int % 250}",
            )
            response = events_fn(event)
            status = int(response["statusCode"])
            seen.add(status)
            assert status < 500, (case.method, case.formatted_path, response.get("body"))
            assert status in documented, (case.method, case.formatted_path, status, response.get("body"))

        run()

    for operation in schema.get_all_operations():
        fuzz(operation.ok())  # type: ignore[union-attr]
    assert {401, 422} <= seen

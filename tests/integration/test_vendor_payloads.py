"""Whisbi and mluvii payloads as their JavaScript hands them over, through the real handlers and
the moto server: events reach the log (once, personal data masked) and the funnel; Whisbi's
bookings become callback requests; generated payloads never get a 5xx."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as observe
from hypothesis import strategies as st

from devstack import aws
from devstack.aws import aws_client
from ringback.domain.events.widget import MLUVII_APP_EVENTS, MLUVII_STATUS_UPDATE
from ringback.domain.whisbi import WHISBI_CUSTOMER_FIELDS, WHISBI_RETURNS
from tests.integration.test_callbacks_handler import Api, api_factory, new_ip, new_mobile  # noqa: F401
from tests.support.events import http_event, response_json

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"
ORIGIN = "https://www.example.com"
PRAGUE = ZoneInfo("Europe/Prague")
SITE_KEY = "pk_demo_site"
# Values no stored record may contain (the personal data of the generated payloads).
PII_PHONE, PII_NAME, PII_EMAIL = "777123987", "Zdeňka Kořínková", "zdenka.korinkova@example.cz"
LIMITS = {"per_ip_per_hour": 100000, "per_number_per_hour": 1000, "per_number_per_day": 1000}


@pytest.fixture
def events_module(
    lambda_env: Callable[..., dict[str, str]], load_handler: Callable[[str], ModuleType]
) -> ModuleType:
    lambda_env("EventsFunction", RINGBACK_WIDGET_EVENTS_PER_MINUTE="100000")
    return load_handler("EventsFunction")


def post_widget(module: ModuleType, context: Any, body: Any, query: dict[str, str] | None = None) -> Any:
    event = http_event(
        "POST",
        "/v1/events/widget",
        body=body,
        query=query,
        headers={"origin": ORIGIN, "x-ringback-site-key": SITE_KEY},
        source_ip=new_ip(),
    )
    return module.lambda_handler(event, context)


def log_item(stack: aws.ProvisionedStack, event_id: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        aws_client("dynamodb", stack.endpoint)
        .get_item(
            TableName=stack.names["EventLogTable"],
            Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}},
        )
        .get("Item")
    )
    return item


def project(stack: aws.ProvisionedStack, event_id: str) -> None:
    """Apply the stream projector to a logged event (idempotent: also right when ingest
    already projected it, and the only way when projections come from the stream alone)."""
    from ringback.adapters import events_factory
    from ringback.adapters.event_log_dynamo import logged_from_item

    item = log_item(stack, event_id)
    assert item is not None
    events_factory.projector().apply(logged_from_item(item))


def funnel_members(stack: aws.ProvisionedStack, day: str, provider: str, stage: str) -> set[str]:
    from ringback.domain.events.projections import funnel_pks

    dynamo = aws_client("dynamodb", stack.endpoint)
    members: set[str] = set()
    for pk in funnel_pks(day):
        items = dynamo.query(
            TableName=stack.names["ProjectionsTable"],
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": {"S": pk}, ":s": {"S": f"{provider}#{stage}#"}},
        )["Items"]
        members |= {i["sk"]["S"].split("#", 2)[2] for i in items}
    return members


# ----------------------------------------------------------------- raw events, log and funnel


@pytest.mark.parametrize(
    ("name", "provider", "stage"),
    [
        ("widget-whisbi-raw-call-booked.json", "whisbi", "booked"),
        ("widget-mluvii-raw-app-event.json", "mluvii", "connected"),
        ("widget-mluvii-raw-status.json", "mluvii", None),
    ],
)
def test_raw_vendor_samples_reach_the_log_masked_and_the_funnel(
    events_module: ModuleType,
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    capsys: pytest.CaptureFixture[str],
    name: str,
    provider: str,
    stage: str | None,
) -> None:
    event = json.loads((EVENTS / name).read_text())
    answer = events_module.lambda_handler(json.loads(json.dumps(event)), lambda_context)
    assert answer["statusCode"] in (200, 202), answer["body"]
    (outcome,) = response_json(answer)["events"]
    item = log_item(moto_stack, outcome["event_id"])
    assert item is not None and item["source"]["S"] == "widget" and item["known"]["BOOL"]
    payload = json.loads(item["payload"]["S"])
    assert payload["provider"] == provider
    for secret in ("777666555", "Nováková", "Petr"):
        assert secret not in item["payload"]["S"]
    if provider == "whisbi":
        assert payload["data"]["campaignTag"] == "spring"  # an unknown vendor field, kept
        assert payload["data"]["phone"] == "*******55" and payload["data"]["name"] == "J***"
    else:
        assert payload["data" if stage else "code"] in ({"sessionId": "8812", "operatorName": "P***"}, 2)
    project(moto_stack, outcome["event_id"])
    if stage:
        assert outcome["event_id"] in funnel_members(moto_stack, "2026-03-02", provider, stage)
    again = events_module.lambda_handler(json.loads(json.dumps(event)), lambda_context)
    assert again["statusCode"] == 200 and response_json(again)["duplicates"] == 1
    logged = capsys.readouterr().out + capsys.readouterr().err
    assert logged and not [s for s in ("777666555", "Nováková", "Petr") if s in logged]


def test_the_same_content_twice_is_two_events_and_each_resend_a_duplicate(
    events_module: ModuleType, lambda_context: Any, moto_stack: aws.ProvisionedStack
) -> None:
    body = {"type": "chatWindowOpen"}
    ids = set()
    for _ in range(2):
        query = {"event_id": str(uuid.uuid4()), "occurred_at": "1772443510000"}
        first = post_widget(events_module, lambda_context, body, query)
        resend = post_widget(events_module, lambda_context, body, query)
        assert first["statusCode"] == 202 and resend["statusCode"] == 200
        ids.add(response_json(first)["events"][0]["event_id"])
    assert len(ids) == 2
    for event_id in ids:
        project(moto_stack, event_id)
    assert ids <= funnel_members(moto_stack, "2026-03-02", "mluvii", "opened")


# ------------------------------------------------------------------ Whisbi bookings -> callbacks


def slot(days: int = 2, hour: int = 10) -> datetime:
    return (datetime.now(PRAGUE) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def whisbi_booking(event: str, at: datetime | None = None) -> dict[str, Any]:
    """The event's callback argument under the Whisbi document's names, plus ``event``."""
    at = at or slot()
    values = {
        "lead": f"lead-{uuid.uuid4().hex[:8]}",
        "leadGuid": str(uuid.uuid4()),
        "sessionGuid": str(uuid.uuid4()),
        "kpiGuid": "kpi-77",
        "country": "CZ",
        "extra": "from the pricing page",
        "name": "Jana",
        "phone": new_mobile().removeprefix("+420"),
        "email": "jana@example.cz",
        "scheduledDate": at.strftime("%Y-%m-%d %H:%M"),
        "scheduledDateObj": at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "session": "sess-1",
        "cookie": "",
        "formatted_phone": "",
        "pinCode": "X7K2",
        "seed": "",
        "contentId": "",
        "callCenters": [],
        "customer": {"dialCode": "+420"},
    }
    return {"event": event, **{field: values[field] for field in WHISBI_RETURNS[event]}}


def stored_request(stack: aws.ProvisionedStack, callback_id: str) -> dict[str, Any]:
    item = aws_client("dynamodb", stack.endpoint).get_item(
        TableName=stack.names["CallbacksTable"],
        Key={"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "REQUEST"}},
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


@pytest.mark.parametrize(
    ("event", "mode"),
    [("otoCallBooked", "scheduled"), ("otoCmbRequested", "later"), ("otoSessionRequested", "now")],
)
def test_each_whisbi_booking_event_becomes_a_callback_request(
    api_factory: Callable[..., Api],  # noqa: F811
    moto_stack: aws.ProvisionedStack,
    event: str,
    mode: str,
) -> None:
    api = api_factory(callbacks=LIMITS)
    body = whisbi_booking(event)
    status, answer, _ = api(
        "POST", "/v1/callbacks", body=body, headers={"idempotency-key": str(uuid.uuid4())}
    )
    assert status == 202, answer
    assert answer["mode"] == mode
    record = stored_request(moto_stack, answer["id"])
    assert record["source"] == "whisbi" and record["phone"] == "+420" + body["phone"]
    assert record.get("lead_guid") == body.get("leadGuid", body.get("lead"))
    if "kpiGuid" in body:
        assert record["kpi_guid"] == "kpi-77"
    if mode == "scheduled":
        assert answer["expected_call_at"] == slot().astimezone(ZoneInfo("UTC")).isoformat().replace(
            "+00:00", "Z"
        )


def test_whisbi_customer_object_with_date_time_country_and_dial_code(
    api_factory: Callable[..., Api],  # noqa: F811
    moto_stack: aws.ProvisionedStack,
) -> None:
    api = api_factory(callbacks=LIMITS)
    at = slot(days=3, hour=11)
    customer = dict.fromkeys(WHISBI_CUSTOMER_FIELDS, "")
    customer.update(
        name="Petr",
        phone="905" + new_mobile()[-6:],  # a Slovak mobile, national form
        country="Slovakia",  # not a code: the dial code says where the number is
        dialCode="+421",
        date=at.strftime("%Y-%m-%d"),
        time=at.strftime("%H:%M"),
        formatedDate=at.strftime("%d/%m/%Y %H:%M"),
    )
    body = {"seed": "s", "contentId": "c", "callCenters": ["cc"], "customer": customer}
    status, answer, _ = api("POST", "/v1/callbacks", body=body)
    assert status == 202, answer
    assert answer["mode"] == "scheduled"
    assert answer["expected_call_at"].startswith(at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M"))
    assert stored_request(moto_stack, answer["id"])["phone"].startswith("+421")


def test_whisbi_sample_forwarded_to_callbacks(api_factory: Callable[..., Api]) -> None:  # noqa: F811
    api = api_factory(callbacks=LIMITS)
    event = json.loads((EVENTS / "callbacks-whisbi-call-booked.json").read_text())
    body = json.loads(event["body"])
    at = slot(days=4, hour=9)
    body.update(phone=new_mobile(), scheduledDate=at.strftime("%Y-%m-%d %H:%M"))
    body["scheduledDateObj"] = at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    event["body"] = json.dumps(body)
    event["headers"]["idempotency-key"] = str(uuid.uuid4())
    event["requestContext"]["http"]["sourceIp"] = new_ip()
    first = api.module.lambda_handler(json.loads(json.dumps(event)), api.context)
    assert first["statusCode"] == 202, first["body"]
    again = api.module.lambda_handler(json.loads(json.dumps(event)), api.context)
    assert response_json(again)["id"] == response_json(first)["id"]  # a resend is the same request


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scheduledDate": "next Tuesday", "scheduledDateObj": ""}, "scheduledDate"),
        ({"scheduledDateObj": {"date": "2026-03-03"}}, "scheduledDateObj"),
        ({"scheduledDate": "", "scheduledDateObj": ""}, "scheduledDate"),
        ({"event": "otoCallError"}, "event"),
        ({"mode": "now"}, "mode"),
        ({"customer": "x"}, "customer"),
        ({"phone": "12"}, "phone"),
    ],
)
def test_whisbi_fields_that_cannot_be_used_are_named(
    api_factory: Callable[..., Api],  # noqa: F811
    change: dict[str, Any],
    field: str,
) -> None:
    api = api_factory(callbacks=LIMITS)
    status, answer, _ = api("POST", "/v1/callbacks", body={**whisbi_booking("otoCallBooked"), **change})
    assert status == 422 and [f["field"] for f in answer["fields"]] == [field], answer


# ------------------------------------------------------------------ generated payloads (fuzz)

_TEXTISH = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(2**40), max_value=2**40),  # a number where the document has a string
    st.integers(min_value=0, max_value=99).map(str),  # digits as a string
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
)
_PII = {"phone": PII_PHONE, "name": PII_NAME, "email": PII_EMAIL}
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _field_value(name: str) -> st.SearchStrategy[Any]:
    if name in _PII:
        return st.sampled_from([_PII[name], f" {_PII[name]} "]) | _TEXTISH
    if name == "customer":
        return (
            st.fixed_dictionaries({}, optional={f: _field_value(f) for f in WHISBI_CUSTOMER_FIELDS})
            | _TEXTISH
        )
    if name == "callCenters":
        return st.lists(_TEXTISH, max_size=3) | _TEXTISH
    return _TEXTISH


def _whisbi_payload(event: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={f: _field_value(f) for f in WHISBI_RETURNS[event]})


_ENVELOPE_KEYS = [
    "provider",
    "event",
    "type",
    "event_id",
    "occurred_at",
    "page",
    "code",
    "data",
    "session_id",
]
_EXTRA = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=10)
    | st.sampled_from(_ENVELOPE_KEYS),  # a vendor field that collides with an envelope name
    _JSON,
    max_size=3,
)
_MLUVII = st.one_of(
    st.builds(lambda t, extra: {**extra, "type": t}, st.sampled_from(sorted(MLUVII_APP_EVENTS)), _EXTRA),
    st.builds(
        lambda code, extra: {**extra, "type": MLUVII_STATUS_UPDATE, "code": code},
        st.sampled_from([0, 1, 2, "0", "1", "2", 3, "x", None, 1.0]),
        _EXTRA,
    ),
    st.sampled_from([0, 1, 2]),  # setStatusUpdateCallback's bare code
)
_WHISBI = st.sampled_from(sorted(WHISBI_RETURNS)).flatmap(
    lambda event: st.tuples(st.just(event), _whisbi_payload(event), _EXTRA)
)
_WAYS = st.sampled_from(["query", "body", "none"])


def _check_answer(answer: dict[str, Any]) -> dict[str, Any] | None:
    status = answer["statusCode"]
    assert status < 500, answer["body"]
    body = response_json(answer)
    observe(f"status {status}")
    if status >= 400:
        assert status != 429, "limits are relaxed for this test"
        assert body["fields"] and all(f["field"] for f in body["fields"]), body
        return None
    assert status in (200, 202)
    return dict(body)


def _stored_once(
    stack: aws.ProvisionedStack,
    module: ModuleType,
    context: Any,
    body: Any,
    query: dict[str, str],
    first: Any,
) -> None:
    for outcome in first["events"]:
        item = log_item(stack, outcome["event_id"])
        assert item is not None, outcome
        for secret in (PII_PHONE, PII_NAME, PII_EMAIL):
            assert secret not in item["payload"]["S"]
    again = _check_answer(post_widget(module, context, body, query))
    assert again is not None and again["accepted"] == 0
    assert [e["event_id"] for e in again["events"]] == [e["event_id"] for e in first["events"]]


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(whisbi=_WHISBI, way=_WAYS, event_id=st.uuids().map(str))
def test_generated_whisbi_payloads_are_stored_once_or_refused_naming_a_field(
    events_module: ModuleType,
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    whisbi: tuple[str, dict[str, Any], dict[str, Any]],
    way: str,
    event_id: str,
) -> None:
    event, payload, extra = whisbi
    body: dict[str, Any] = {**extra, **payload}
    query = {"provider": "whisbi", "event": event, "event_id": event_id, "occurred_at": "1772443600000"}
    if way == "body":
        body, query = {**body, "event": event, "provider": "whisbi"}, {}
    elif way == "none":
        query = {"event": event}
    first = _check_answer(post_widget(events_module, lambda_context, body, query))
    if first is not None:
        _stored_once(moto_stack, events_module, lambda_context, body, query, first)


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_MLUVII, with_provider=st.booleans(), event_id=st.uuids().map(str))
def test_generated_mluvii_payloads_are_stored_once_or_refused_naming_a_field(
    events_module: ModuleType,
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    body: Any,
    with_provider: bool,
    event_id: str,
) -> None:
    query = {"event_id": event_id, **({"provider": "mluvii"} if with_provider else {})}
    first = _check_answer(post_widget(events_module, lambda_context, body, query))
    if first is not None:
        _stored_once(moto_stack, events_module, lambda_context, body, query, first)


def test_generated_whisbi_bookings_to_callbacks_never_5xx(api_factory: Callable[..., Api]) -> None:  # noqa: F811
    api = api_factory(callbacks=LIMITS, slot_capacity=1000)
    at = slot(days=5, hour=14)  # a slot of this test's own

    @settings(max_examples=25, derandomize=True, deadline=None, database=None)
    @given(
        event=st.sampled_from(sorted(WHISBI_RETURNS)),
        drop=st.sets(st.sampled_from(sorted({f for fs in WHISBI_RETURNS.values() for f in fs}))),
        extra=_EXTRA,
        as_number=st.booleans(),
    )
    def check(event: str, drop: set[str], extra: dict[str, Any], as_number: bool) -> None:
        if event == "otoPreSessionRequest":
            body = {"customer": {"phone": new_mobile(), "date": at.strftime("%Y-%m-%d"), "time": "14:00"}}
        else:
            body = {k: v for k, v in whisbi_booking(event, at).items() if k not in drop}
        if as_number and isinstance(body.get("phone"), str):
            body["phone"] = int(body["phone"].lstrip("+"))
        body = {**extra, **body}
        status, answer, _ = api("POST", "/v1/callbacks", body=body, source_ip=new_ip())
        observe(f"status {status}")
        assert status < 500, answer
        if status == 202:
            assert answer["id"] and answer["mode"] in ("now", "later", "scheduled")
        else:
            assert 400 <= status < 500 and status != 429, answer
            assert answer.get("fields") and all(f["field"] for f in answer["fields"]), answer

    check()

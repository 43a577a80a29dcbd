"""Raw Whisbi and mluvii bodies as their JavaScript hands them over: recognised, kept, masked,
identified (resend = duplicate, two real events never one), and ringback's envelope unchanged.

The field lists are transcribed here from the vendors' documents (Whisbi *API Reference >
Events > Sell: Start*, the "Returns" of each event; mluvii *Widget API*, setAppEventCallback and
setStatusUpdateCallback), independently of the code's own copy, which must match them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringback.domain.errors import Unprocessable
from ringback.domain.events.envelope import EventSource, identity
from ringback.domain.events.widget import (
    MLUVII_APP_EVENTS,
    MLUVII_STATUS_CODES,
    VendorHints,
    WidgetEvent,
    detect_provider,
    mask_personal,
    vendor_envelopes,
)
from ringback.domain.whisbi import WHISBI_CUSTOMER_FIELDS, WHISBI_RETURNS
from ringback.services.ingest import Ingest, to_logged
from tests.unit.events_fakes import FakeEventLog, FixedClock

pytestmark = pytest.mark.unit

# Whisbi "Sell: Start": event -> "Returns:".
DOC_WHISBI_RETURNS = {
    "otoOpened": "",
    "otoPreSessionRequest": "seed, contentId, callCenters, customer",
    "otoSessionRequested": "lead, name, phone, email, extra, kpiGuid",
    "otoInboundClicked": "phone",
    "otoInboundToWhisbiLoaded": "formatted_phone, phone",
    "otoCallBooked": "leadGuid, sessionGuid, kpiGuid, country, extra, name, phone, scheduledDate, scheduledDateObj",
    "otoCmbRequested": "lead, name, phone, email, extra",
    "otoPinCodeGenerated": "pinCode",
    "otoInvalidPhone": "session, cookie, name, phone, email, extra, kpiGuid",
    "otoCallError": "session, cookie, name, phone, email, extra, kpiGuid",
    "otoNoAgentsAvailable": "session, cookie, name, phone, email, extra, kpiGuid",
}
DOC_WHISBI_CUSTOMER = "name, phone, country, email, extra, dialCode, date, time, formatedDate, simplyBookDate"
DOC_MLUVII_EVENTS = "chatWindowOpen chatWindowClosed chatSessionCreated chatSessionStarted chatSessionEnded"

SAMPLE_VALUES: dict[str, Any] = {
    "seed": "seed-1",
    "contentId": "content-9",
    "callCenters": ["cc-1"],
    "customer": {
        "name": "Jana Nováková",
        "phone": "777666555",
        "country": "CZ",
        "email": "jana@example.cz",
        "extra": "",
        "dialCode": "+420",
        "date": "2026-03-03",
        "time": "10:30",
        "formatedDate": "03/03/2026 10:30",
        "simplyBookDate": "",
    },
    "lead": "lead-42",
    "leadGuid": "a3c1f1f0-6a55-4b64-9f5e-1b1f0e9b2a10",
    "sessionGuid": "5b2e5b1e-8d7a-4f0b-9a0e-6b2d1c4e7f20",
    "kpiGuid": "kpi-77",
    "session": "sess-5",
    "cookie": "ck-1",
    "name": "Jana Nováková",
    "phone": "777666555",
    "formatted_phone": "+420 777 666 555",
    "email": "jana@example.cz",
    "extra": "from the pricing page",
    "country": "CZ",
    "scheduledDate": "2026-03-03 10:30",
    "scheduledDateObj": "2026-03-03T09:30:00.000Z",
    "pinCode": "X7K2",
}
PII = ("777666555", "Nováková", "jana@example.cz", "777 666 555")


def whisbi_payload(event: str) -> dict[str, Any]:
    return {name: SAMPLE_VALUES[name] for name in WHISBI_RETURNS[event]}


def ingest() -> tuple[Ingest, FakeEventLog]:
    log = FakeEventLog()
    return Ingest(log, FixedClock()), log


def test_the_codes_field_lists_are_the_documents() -> None:
    assert {e: ", ".join(f) for e, f in WHISBI_RETURNS.items()} == DOC_WHISBI_RETURNS
    assert ", ".join(WHISBI_CUSTOMER_FIELDS) == DOC_WHISBI_CUSTOMER
    assert frozenset(DOC_MLUVII_EVENTS.split()) == MLUVII_APP_EVENTS
    assert MLUVII_STATUS_CODES == {0: "offline", 1: "online", 2: "busy"}


@pytest.mark.parametrize("event", sorted(WHISBI_RETURNS))
def test_every_whisbi_event_as_whisbi_hands_it_over_is_accepted_kept_and_masked(event: str) -> None:
    raw = {**whisbi_payload(event), "newWhisbiField": {"nested": [1, "two"]}}
    hints = VendorHints(provider="whisbi", event=event, event_id="e-1", occurred_at="1772443600000")
    service, log = ingest()
    (parsed,) = service.parse(EventSource.WIDGET, vendor_envelopes(raw, hints))
    assert isinstance(parsed, WidgetEvent)
    assert (parsed.provider, parsed.event, parsed.known, parsed.occurred_at) == (
        "whisbi",
        event,
        True,
        1772443600000,
    )
    assert parsed.data == raw  # every vendor field, the unknown one included, as sent
    result = service.ingest(EventSource.WIDGET, [parsed])
    assert result.accepted == 1
    (stored,) = log.events.values()
    text = json.dumps(stored.payload, ensure_ascii=False)
    assert not [p for p in PII if p in text], text
    assert stored.payload["data"]["newWhisbiField"] == {"nested": [1, "two"]}
    if "phone" in raw:
        assert stored.payload["data"]["phone"] == "*******55"
    if "name" in raw:
        assert stored.payload["data"]["name"] == "J***"
    if "email" in raw:
        assert stored.payload["data"]["email"] == "j***@example.cz"
    # The stored (masked) record still reads as the event it was (the projector re-reads it).
    again = WidgetEvent.model_validate(stored.payload)
    assert (again.provider, again.event, again.funnel_stage) == ("whisbi", event, parsed.funnel_stage)


def test_whisbi_event_names_come_from_the_body_the_query_or_a_field_only_one_event_returns() -> None:
    in_body = vendor_envelopes({"event": "otoCmbRequested", "lead": "l", "phone": "1"}, VendorHints())
    assert (in_body["provider"], in_body["event"]) == ("whisbi", "otoCmbRequested")
    assert "event" not in in_body["data"]
    by_query = vendor_envelopes({"lead": "l"}, VendorHints(provider="whisbi", event="otoSessionRequested"))
    assert by_query["event"] == "otoSessionRequested"
    for field, event in (
        ("scheduledDateObj", "otoCallBooked"),
        ("pinCode", "otoPinCodeGenerated"),
        ("formatted_phone", "otoInboundToWhisbiLoaded"),
        ("customer", "otoPreSessionRequest"),
    ):
        assert vendor_envelopes({field: SAMPLE_VALUES[field]}, VendorHints())["event"] == event
    # Ambiguous (three events return exactly these): the forwarder must name it.
    service, _ = ingest()
    with pytest.raises(Unprocessable) as refused:
        service.parse(EventSource.WIDGET, vendor_envelopes(whisbi_payload("otoCallError"), VendorHints()))
    assert [f.field for f in refused.value.fields] == ["event"]


def test_otoopened_returns_nothing_and_is_still_an_event() -> None:
    envelope = vendor_envelopes(None, VendorHints(provider="whisbi", event="otoOpened", event_id="x1"))
    event = WidgetEvent.model_validate(envelope)
    assert (event.provider, event.event, event.funnel_stage, event.data) == (
        "whisbi",
        "otoOpened",
        "opened",
        None,
    )


def test_mluvii_app_events_and_status_codes_as_mluvii_hands_them_over() -> None:
    app = WidgetEvent.model_validate(vendor_envelopes({"type": "chatSessionStarted", "x": 1}, VendorHints()))
    assert (app.provider, app.event, app.funnel_stage, app.data) == (
        "mluvii",
        "chatSessionStarted",
        "connected",
        {"x": 1},
    )
    for body, hints in (
        (2, VendorHints()),
        (2, VendorHints(provider="mluvii")),
        ("2", VendorHints(provider="mluvii")),
        ({"code": "2"}, VendorHints(provider="mluvii")),
    ):
        status = WidgetEvent.model_validate(vendor_envelopes(body, hints))
        assert (status.provider, status.event, status.status_label) == ("mluvii", "statusUpdate", "busy")
        assert status.problems() == []
    bad = WidgetEvent.model_validate(vendor_envelopes(7, VendorHints()))
    assert [p.field for p in bad.problems()] == ["code"]
    new_type = WidgetEvent.model_validate(vendor_envelopes({"type": "chatRated", "stars": 5}, VendorHints()))
    assert new_type.provider == "mluvii" and not new_type.known


@pytest.mark.parametrize(
    ("body", "provider"),
    [
        ({"type": "chatWindowOpen"}, "mluvii"),
        ({"event": "chatWindowClosed"}, "mluvii"),
        ({"leadGuid": "g", "phone": "1"}, "whisbi"),
        ({"event": "otoInvalidPhone", "session": "s", "cookie": "c"}, "whisbi"),
        ({"event": "otoOpened", "newField": 1}, "whisbi"),  # a vendor field beside an oto* name
        ({"event": "otoOpened", "page": "https://x"}, ""),  # envelope fields only: ringback's
        ({"event": "otoOpened", "event_id": "e", "session_id": "s"}, ""),  # ringback's envelope
        ({"name": "Jana", "phone": "1"}, ""),  # nothing says who: refused below, naming provider/event
    ],
)
def test_provider_by_shape(body: dict[str, Any], provider: str) -> None:
    assert detect_provider(body) == provider


def test_provider_by_the_event_named_in_the_query() -> None:
    assert detect_provider({"phone": "777666555"}, "otoInboundClicked") == "whisbi"
    assert detect_provider({}, "chatWindowOpen") == "mluvii"
    event = WidgetEvent.model_validate(
        vendor_envelopes({"phone": "777666555"}, VendorHints(event="otoInboundClicked"))
    )
    assert (event.provider, event.event, event.problems()) == ("whisbi", "otoInboundClicked", [])


def test_ringback_envelope_and_vendor_envelopes_keep_working() -> None:
    own = {"provider": "ringback", "event": "otoOpened", "event_id": "e1", "session_id": "s1"}
    assert vendor_envelopes(own, VendorHints()) == own
    assert vendor_envelopes([own], VendorHints(event_id="q")) == [own]
    wrapped = {
        "provider": "whisbi",
        "event": "otoCallBooked",
        "occurred_at": "1772443600000",
        "data": {"leadGuid": "g", "scheduledDate": "2026-03-03 10:30"},
        "lead": "extra-top-level",
    }
    event = WidgetEvent.model_validate(vendor_envelopes(wrapped, VendorHints()))
    assert event.data == {"leadGuid": "g", "scheduledDate": "2026-03-03 10:30", "lead": "extra-top-level"}
    assert event.form == "envelope" and "form" not in event.stored_payload()


def test_bad_vendor_fields_are_named_as_the_sender_knows_them() -> None:
    service, _ = ingest()
    raw = {"leadGuid": "g" * 200, "customer": "not an object"}
    with pytest.raises(Unprocessable) as refused:
        service.parse(EventSource.WIDGET, vendor_envelopes(raw, VendorHints(event="otoCallBooked")))
    assert sorted(f.field for f in refused.value.fields) == ["customer", "leadGuid"]
    wrapped = {"provider": "whisbi", "event": "otoCallBooked", "data": raw}
    with pytest.raises(Unprocessable) as refused:
        service.parse(EventSource.WIDGET, vendor_envelopes(wrapped, VendorHints()))
    assert sorted(f.field for f in refused.value.fields) == ["data.customer", "data.leadGuid"]
    with pytest.raises(Unprocessable) as refused:
        service.parse(EventSource.WIDGET, vendor_envelopes({"type": "x"}, VendorHints(provider="genesys")))
    assert [f.field for f in refused.value.fields] == ["provider"]
    for odd in (["whisbi"], {"a": 1}, 5, None):
        with pytest.raises(Unprocessable) as refused:
            service.parse(EventSource.WIDGET, vendor_envelopes({"provider": odd, "type": "x"}, VendorHints()))
        assert [f.field for f in refused.value.fields] == ["provider"]
    deep: Any = "x"
    for _ in range(40):
        deep = {"k": deep}
    with pytest.raises(Unprocessable) as refused:
        service.parse(
            EventSource.WIDGET, vendor_envelopes({"type": "chatWindowOpen", "d": deep}, VendorHints())
        )
    assert [f.field for f in refused.value.fields] == ["data"]


def test_strings_for_numbers_and_numbers_for_strings_are_read() -> None:
    raw = {"lead": 42, "phone": 777666555, "callCenters": [7], "customer": {"dialCode": 420}}
    event = WidgetEvent.model_validate(vendor_envelopes(raw, VendorHints(event="otoCmbRequested")))
    assert event.problems() == []
    assert event.stored_payload()["data"]["phone"] == "*******55"


def identity_of(body: Any, hints: VendorHints, site_key: str = "pk") -> str:
    event = WidgetEvent.model_validate(vendor_envelopes(body, hints)).model_copy(
        update={"site_key": site_key}
    )
    return to_logged(EventSource.WIDGET, event, 1772443600000).event_id


def test_identity_a_resend_is_a_duplicate_and_two_real_events_never_collide() -> None:
    body = {"type": "chatWindowOpen"}
    first = VendorHints(event_id="a1", occurred_at="1772443500000")
    assert identity_of(body, first) == identity_of(dict(body), first)  # the snippet's retry
    # The same content twice (the visitor opened the chat twice): the snippet's ids differ.
    assert identity_of(body, first) != identity_of(
        body, VendorHints(event_id="a2", occurred_at="1772443500000")
    )
    # No id at all: the time separates, and the whole vendor body (no key order, no unset fields).
    a = {"lead": "l", "phone": "1", "email": ""}
    b = {"email": "", "phone": "1", "lead": "l"}
    at = VendorHints(event="otoCmbRequested", occurred_at="1772443500000")
    assert identity_of(a, at) == identity_of(b, at)
    assert identity_of(a, at) != identity_of(
        a, VendorHints(event="otoCmbRequested", occurred_at="1772443500001")
    )
    assert identity_of(a, at) != identity_of({**a, "lead": "m"}, at)
    assert identity_of(a, at) != identity_of(a, at, site_key="pk2")
    # A batch posted with one query id: each item gets its own.
    batch = vendor_envelopes(
        [{"type": "chatWindowOpen"}, {"type": "chatWindowOpen"}], VendorHints(event_id="b")
    )
    assert [item["event_id"] for item in batch] == ["b:0", "b:1"]
    assert identity(EventSource.WIDGET, {"x": 1}) != identity(EventSource.AGENT, {"x": 1})


def test_personal_data_is_masked_whatever_the_vendor_calls_it() -> None:
    masked = mask_personal(
        {
            "customerPhone": "+420 777 666 555",
            "e_mail": "petr@example.com",
            "firstName": "Petr",
            "contact": {"mobile": 420777666555, "fullName": "Petr Novák"},
            "phones": ["777666555"],
            "pageName": "pricing",
            "phone": "12",
        }
    )
    assert masked == {
        "customerPhone": "+420*******55",
        "e_mail": "p***@example.com",
        "firstName": "P***",
        "contact": {"mobile": "**********55", "fullName": "P***"},
        "phones": ["*******55"],
        "pageName": "pricing",
        "phone": "***",
    }

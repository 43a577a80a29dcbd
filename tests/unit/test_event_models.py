"""Vendor payload models: every documented field name, strings for hook variables, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ringback.domain.events.agent import KNOWN_MESSAGES, REASONS, AgentStateInfo, SobotMessage, WorkStatusInfo
from ringback.domain.events.envelope import EventSource, canonical, identity, mask_phone_fields
from ringback.domain.events.webitel import CALL_EVENTS, KNOWN_EVENTS, WebitelEvent
from ringback.domain.events.widget import (
    FUNNEL_STAGE_OF,
    MLUVII_APP_EVENTS,
    WHISBI_EVENTS,
    WhisbiCustomer,
    WhisbiData,
    WidgetEvent,
)

pytestmark = pytest.mark.unit
EVENTS = Path(__file__).resolve().parents[2] / "events"

GUIDE_FIELDS = ["event", "direction", "queue", "member", "attempt", "uuid", "agent", "cid"]
HOOK_VARIABLES = [
    "attempt_id",
    "member_id",
    "member_name",
    "queue_id",
    "bucket_id",
    "communication_id",
    "destination",
    "destination_type",
    "destination_description",
    "member_timezone",
    "timestamp",
    "joined_at",
    "bridged_at",
    "agent_id",
    "agent_name",
    "user_id",
    "agent_extension",
    "agent_channel_id",
    "member_channel_id",
    "call_bill_sec",
    "call_duration",
    "call_cause",
    "call_sip_code",
    "amd_result",
    "cc_result",
    "member_stop_cause",
    "cc_attempt_seq",
]
WHISBI_FIELDS = [
    "lead",
    "leadGuid",
    "sessionGuid",
    "kpiGuid",
    "session",
    "cookie",
    "name",
    "phone",
    "formatted_phone",
    "email",
    "extra",
    "country",
    "dialCode",
    "scheduledDate",
    "scheduledDateObj",
    "pinCode",
    "seed",
    "contentId",
    "callCenters",
    "customer",
]
WHISBI_CUSTOMER_FIELDS = [
    "name",
    "phone",
    "country",
    "email",
    "extra",
    "dialCode",
    "date",
    "time",
    "formatedDate",
    "simplyBookDate",
]
SOBOT_STATE_FIELDS = [
    "agent",
    "agentType",
    "companyId",
    "phoneType",
    "thisDN",
    "agentState",
    "agentStateTimestamp",
    "reasonCode",
    "reasonCodeTimestamp",
    "workStatus",
    "workStatusTimestamp",
]
SOBOT_WORK_FIELDS = [
    "callID",
    "callType",
    "companyId",
    "otherDN",
    "otherDNRole",
    "thisDN",
    "thisDNRole",
    "thirdDN",
    "thirdDNRole",
]


def test_every_documented_field_name_is_a_model_field() -> None:
    assert set(GUIDE_FIELDS + HOOK_VARIABLES) <= set(WebitelEvent.model_fields)
    assert set(WHISBI_FIELDS) <= set(WhisbiData.model_fields)
    assert set(WHISBI_CUSTOMER_FIELDS) <= set(WhisbiCustomer.model_fields)
    assert set(SOBOT_STATE_FIELDS) <= set(AgentStateInfo.model_fields)
    assert set(SOBOT_WORK_FIELDS) <= set(WorkStatusInfo.model_fields)
    assert {"messageID", "agentStateInfo", "workStatusInfo", "reasonCode"} <= set(SobotMessage.model_fields)
    assert {
        "joined",
        "wait_agent",
        "offering",
        "active",
        "bridged",
        "processing",
        "missed",
        "leaving",
    } == CALL_EVENTS
    assert "agent_status" in KNOWN_EVENTS
    assert {
        "otoOpened",
        "otoSessionRequested",
        "otoCallBooked",
        "otoCmbRequested",
        "otoInvalidPhone",
        "otoCallError",
        "otoNoAgentsAvailable",
    } <= WHISBI_EVENTS
    assert {
        "chatWindowOpen",
        "chatWindowClosed",
        "chatSessionCreated",
        "chatSessionStarted",
        "chatSessionEnded",
    } == MLUVII_APP_EVENTS
    assert {
        "EventAgentReady",
        "EventAgentNotReady",
        "EventAgentConnectionChanged",
        "EventAgentRegainStatus",
        "EventDialing",
        "EventRinging",
    } == KNOWN_MESSAGES
    assert set(REASONS) == {2, 11, 12, 13, 14, 15, 16, 17, 18}


def test_guide_body_reads_every_field() -> None:
    event = WebitelEvent.model_validate(
        {
            "event": "offering",
            "direction": "inbound",
            "queue": "3",
            "member": "9",
            "attempt": "42",
            "uuid": "u-1",
            "agent": "1005",
            "cid": "+420777666555",
        }
    )
    assert (
        event.call_uuid,
        event.attempt_key,
        event.member_key,
        event.queue_key,
        event.agent_key,
        event.customer_number,
        event.direction,
    ) == ("u-1", "42", "9", "3", "1005", "+420777666555", "inbound")
    assert event.problems() == []


def test_hook_variables_are_strings_and_empty_means_unset() -> None:
    body = dict.fromkeys(HOOK_VARIABLES, "") | {
        "event": "bridged",
        "member_channel_id": "ch-1",
        "attempt_id": "7",
        "timestamp": "1772443805000",
        "bridged_at": "1772443805000",
        "call_bill_sec": "12",
        "queue_id": 5,
    }
    event = WebitelEvent.model_validate(body)
    assert event.timestamp == 1772443805000 and event.bridged_at == 1772443805000
    assert event.joined_at is None and event.call_duration is None and event.agent_id == ""
    assert event.call_bill_sec == 12 and event.queue_id == "5"
    assert event.call_uuid == "ch-1" and event.attempt_key == "7"
    assert event.occurred_at() == 1772443805000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "12:30"),
        ("timestamp", "1772443805"),
        ("joined_at", "soon"),
        ("call_sip_code", "x"),
        ("direction", "sideways"),
        ("queue", {"id": "1"}),
    ],
)
def test_bad_hook_values_name_their_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        WebitelEvent.model_validate({"event": "offering", "uuid": "u", field: value})
    assert error.value.errors()[0]["loc"][0] == field


def test_known_call_event_needs_a_call_or_attempt_id_and_agent_status_needs_agent() -> None:
    assert [p.field for p in WebitelEvent.model_validate({"event": "bridged"}).problems()] == ["uuid"]
    problems = WebitelEvent.model_validate({"event": "agent_status", "status": "lunch"}).problems()
    assert [p.field for p in problems] == ["agent_id", "status"]
    assert (
        WebitelEvent.model_validate(
            {"event": "agent_status", "agent_id": "1", "status": "break_out"}
        ).problems()
        == []
    )


def test_unknown_webitel_event_is_valid_and_not_known() -> None:
    event = WebitelEvent.model_validate({"event": "transfer_started", "anything": "kept"})
    assert not event.known and event.problems() == []
    assert event.model_dump()["anything"] == "kept"


def test_member_variables_flat_or_in_a_map() -> None:
    flat = WebitelEvent.model_validate(
        {"event": "offering", "uuid": "u", "ringback_callback_id": "cb-1", "ringback_provider": "whisbi"}
    )
    nested = WebitelEvent.model_validate(
        {"event": "offering", "uuid": "u", "variables": {"ringback_callback_id": "cb-2"}}
    )
    assert (flat.callback_id, flat.provider) == ("cb-1", "whisbi")
    assert (nested.callback_id, nested.provider) == ("cb-2", "")


def test_widget_bodies_of_each_provider() -> None:
    whisbi = WidgetEvent.model_validate(
        {
            "provider": "whisbi",
            "event": "otoCallBooked",
            "data": {
                "leadGuid": "l",
                "sessionGuid": "s",
                "kpiGuid": "k",
                "country": "CZ",
                "extra": "",
                "name": "Jana",
                "phone": "+420 777 666 555",
                "scheduledDate": "2026-03-03 10:30",
                "scheduledDateObj": {"d": 1},
            },
        }
    )
    assert whisbi.known and whisbi.funnel_stage == "booked"
    stored = whisbi.stored_payload()
    assert stored["data"]["phone"] == "+420*******55" and "777" not in json.dumps(stored)
    mluvii = WidgetEvent.model_validate({"provider": "mluvii", "type": "statusUpdate", "code": "2"})
    assert mluvii.event == "statusUpdate" and mluvii.status_label == "busy" and mluvii.problems() == []
    assert [
        p.field
        for p in WidgetEvent.model_validate(
            {"provider": "mluvii", "type": "statusUpdate", "code": 5}
        ).problems()
    ] == ["code"]
    own = WidgetEvent.model_validate({"event": "otoOpened"})
    assert [p.field for p in own.problems()] == ["event_id", "session_id"]
    assert FUNNEL_STAGE_OF["chatSessionStarted"] == "connected"


def test_widget_rejects_unknown_fields_and_bad_times() -> None:
    with pytest.raises(ValidationError) as error:
        WidgetEvent.model_validate({"event": "otoOpened", "phone": "+420777666555"})
    assert error.value.errors()[0]["loc"] == ("phone",)
    with pytest.raises(ValidationError) as error:
        WidgetEvent.model_validate({"event": "otoOpened", "occurred_at": "2026-03-02T09:29:00"})
    assert error.value.errors()[0]["loc"] == ("occurred_at",)
    iso = WidgetEvent.model_validate({"event": "otoOpened", "occurred_at": "2026-03-02T09:29:00Z"})
    assert iso.occurred_at == 1772443740000


def test_sobot_messages() -> None:
    regain = SobotMessage.model_validate(
        json.loads(json.loads((EVENTS / "agent-sobot-regain-status.json").read_text())["body"])
    )
    assert regain.agent_key == "1006" and regain.effective_reason_code == 14 and regain.problems() == []
    assert regain.workStatusInfo is not None and regain.workStatusInfo.callType == "Inbound"
    bad = SobotMessage.model_validate({"messageID": "EventAgentNotReady", "agent": "1", "reasonCode": 7})
    assert [p.field for p in bad.problems()] == ["reasonCode"]
    missing = SobotMessage.model_validate({"messageID": "EventAgentNotReady"})
    assert [p.field for p in missing.problems()] == ["agent", "reasonCode"]
    unknown = SobotMessage.model_validate({"messageID": "EventJanusLatency", "agent": "1", "ping": 20})
    assert not unknown.known and unknown.problems() == []


def test_identity_ignores_unset_fields_and_key_order() -> None:
    a = WebitelEvent.model_validate({"event": "offering", "uuid": "u", "agent": "", "queue": "1"})
    b = WebitelEvent.model_validate({"queue": 1, "uuid": "u", "event": "offering"})
    assert identity(EventSource.WEBITEL, a.identity_parts()) == identity(
        EventSource.WEBITEL, b.identity_parts()
    )
    c = WebitelEvent.model_validate({"event": "offering", "uuid": "u", "queue": "2"})
    assert identity(EventSource.WEBITEL, a.identity_parts()) != identity(
        EventSource.WEBITEL, c.identity_parts()
    )
    assert canonical({"b": "", "a": {"x": None}, "c": [1]}) == {"c": [1]}
    assert mask_phone_fields({"otherDN": "13512345678", "x": {"phone": "12"}}) == {
        "otherDN": "+135******78",
        "x": {"phone": "***"},
    }

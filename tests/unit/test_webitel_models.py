"""Webitel wire models: exact JSON shapes, the engine's limits, tolerant reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from devstack.webitel_sandbox import validation
from ringback.domain.webitel import (
    Agent,
    BulkMembersRequest,
    CallEndpoint,
    CallParams,
    CreateCallRequest,
    Lookup,
    MemberCommunication,
    MemberInQueue,
    MemberItem,
    MemberPage,
    QueueAgentCounts,
    QueueReportPage,
    WebitelErrorBody,
    WebitelUnavailable,
    epoch_ms,
)

pytestmark = pytest.mark.unit

PHONE = Lookup(id="1")


def phone(destination: str = "+420777666555", **extra: Any) -> MemberCommunication:
    return MemberCommunication(destination=destination, type=PHONE, **extra)


def member(**overrides: Any) -> MemberItem:
    fields: dict[str, Any] = {"name": "Jana", "communications": [phone()]}
    fields.update(overrides)
    return MemberItem(**fields)


# -- serialisation --------------------------------------------------------------------------


def test_member_item_serialises_to_the_engine_shape_with_int64_as_strings() -> None:
    item = member(
        priority=5,
        expire_at=1_767_225_600_000,  # numbers are accepted and emitted as strings
        min_offering_at="1767222000000",
        variables={"ringback_id": "01J0ABC"},
        bucket=Lookup.model_validate({"id": 7}),  # the wire accepts numbers; so do we
        communications=[phone(priority=2, description="website", stop_at=1_767_225_600_000)],
    )

    assert item.to_wire() == {
        "name": "Jana",
        "priority": 5,
        "expire_at": "1767225600000",
        "min_offering_at": "1767222000000",
        "variables": {"ringback_id": "01J0ABC"},
        "bucket": {"id": "7"},
        "communications": [
            {
                "destination": "+420777666555",
                "type": {"id": "1"},
                "priority": 2,
                "description": "website",
                "stop_at": "1767225600000",
            }
        ],
    }


def test_unset_optional_fields_are_left_out_not_sent_as_null() -> None:
    wire = member().to_wire()

    assert set(wire) == {"name", "priority", "variables", "communications"}
    assert set(wire["communications"][0]) == {"destination", "type", "priority", "description"}
    assert None not in wire.values()


def test_bulk_request_carries_items_and_file_name() -> None:
    request = BulkMembersRequest(items=[member(), member(name="Petr")], file_name="ringback-batch-42")

    wire = request.to_wire()

    assert wire["file_name"] == "ringback-batch-42"
    assert [item["name"] for item in wire["items"]] == ["Jana", "Petr"]


def test_create_call_uses_the_from_key_and_omits_unset_params() -> None:
    request = CreateCallRequest.from_user(
        "101", "+420777666555", CallParams(timeout=30, variables={"ringback_id": "x"}, hide_number=False)
    )

    assert request.to_wire() == {
        "from": {"id": "101"},
        "destination": "+420777666555",
        "params": {"timeout": 30, "variables": {"ringback_id": "x"}, "hide_number": False},
    }
    assert CreateCallRequest.from_extension("1005", "+420777666555").to_wire() == {
        "from": {"extension": "1005"},
        "destination": "+420777666555",
    }


def test_create_call_reads_back_from_its_wire_form() -> None:
    wire = {"from": {"extension": "1005"}, "destination": "+420777666555"}

    assert CreateCallRequest.model_validate(wire).to_wire() == wire


@pytest.mark.parametrize("endpoint", [{}, {"id": "101", "extension": "1005"}, {"extension": ""}])
def test_call_from_needs_exactly_one_of_id_or_extension(endpoint: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CallEndpoint(**endpoint)


def test_epoch_ms_is_milliseconds_of_an_aware_datetime() -> None:
    moment = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))

    assert epoch_ms(moment) == "1767225600000"
    with pytest.raises(ValueError, match="timezone-aware"):
        epoch_ms(datetime(2026, 1, 1))  # naive on purpose


# -- the engine's limits --------------------------------------------------------------------


def test_bucket_and_skill_together_are_rejected() -> None:
    with pytest.raises(ValidationError, match="both bucket and skill"):
        member(bucket=Lookup(id="1"), skill=Lookup(id="2"))


@pytest.mark.parametrize("count", [0, 21])
def test_communications_must_number_1_to_20(count: int) -> None:
    with pytest.raises(ValidationError, match="communications"):
        member(communications=[phone(f"+42077766{index:04d}") for index in range(count)])


def test_twenty_communications_are_accepted() -> None:
    item = member(communications=[phone(f"+42077766{index:04d}") for index in range(20)])

    assert len(item.to_wire()["communications"]) == 20


@pytest.mark.parametrize("type_id", ["0", "-1"])
def test_communication_type_id_must_be_at_least_1(type_id: str) -> None:
    with pytest.raises(ValidationError, match=r"type\.id must be >= 1"):
        MemberCommunication(destination="+420777666555", type=Lookup(id=type_id))


def test_member_name_is_at_most_250_characters() -> None:
    assert member(name="x" * 250).name == "x" * 250
    with pytest.raises(ValidationError, match="name"):
        member(name="x" * 251)


def test_file_name_is_at_most_120_characters() -> None:
    with pytest.raises(ValidationError, match="file_name"):
        BulkMembersRequest(items=[member()], file_name="f" * 121)


def test_variables_values_must_be_strings() -> None:
    with pytest.raises(ValidationError, match="variables"):
        member(variables={"attempt": 3})


def test_priority_is_an_int32() -> None:
    with pytest.raises(ValidationError, match="priority"):
        member(priority=2**31)


@pytest.mark.parametrize("bad_id", [True, 1.5, "12a", "", 2**63, "99999999999999999999"])
def test_int64_rejects_what_is_not_an_int64(bad_id: object) -> None:
    with pytest.raises(ValidationError):
        Lookup.model_validate({"id": bad_id})


def test_write_models_reject_unknown_attributes() -> None:
    with pytest.raises(ValidationError, match="stopAt"):
        MemberCommunication(destination="+420777666555", type=PHONE, stopAt="1")  # type: ignore[call-arg]


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_int64_number_is_held_and_sent_as_its_decimal_string(number: int) -> None:
    lookup = Lookup.model_validate({"id": number})

    assert lookup.to_wire() == {"id": str(number)}
    assert Lookup(id=lookup.id) == lookup


# -- reading answers ------------------------------------------------------------------------


def test_member_in_queue_tolerates_numbers_nulls_and_new_fields() -> None:
    answer = {
        "id": 1001,
        "queue": {"id": 1, "name": "Website callbacks"},
        "name": "Jana",
        "variables": {"ringback_id": "01J0ABC"},
        "communications": [
            {"destination": "+420777666555", "type": {"id": "1", "name": "Phone"}, "state": 0, "x_new": 1}
        ],
        "stop_cause": None,
        "bucket": None,
        "expire_at": "0",
        "some_future_field": {"nested": True},
    }

    parsed = MemberInQueue.model_validate(answer)

    assert parsed.id == "1001"
    assert parsed.queue_id == "1"
    assert parsed.stop_cause == ""
    assert not parsed.is_stopped
    assert parsed.communications[0].type == Lookup(id="1")
    assert parsed.bucket is None


def test_member_page_defaults_when_the_server_omits_empty_fields() -> None:
    assert MemberPage.model_validate({}) == MemberPage(next=False, items=[])
    assert MemberPage.model_validate({"next": True, "items": [{"id": "5"}]}).items[0].id == "5"


def test_member_without_id_is_not_a_member() -> None:
    with pytest.raises(ValidationError, match="id"):
        MemberInQueue.model_validate({"name": "Jana"})


def test_agent_status_is_one_of_the_four_engine_states() -> None:
    agent = Agent.model_validate(
        {"id": 11, "name": "Alice", "status": "break_out", "extension": "1001", "channels": []}
    )

    assert (agent.id, agent.status, agent.extension) == ("11", "break_out", "1001")
    with pytest.raises(ValidationError, match="status"):
        Agent.model_validate({"id": "11", "status": "lunch"})


def test_queue_report_row_counts_default_to_zero() -> None:
    page = QueueReportPage.model_validate(
        {"items": [{"queue": {"id": "1"}, "agent_status": {"online": 2, "free": 1, "total": 3}}]}
    )

    assert page.items[0].agent_status == QueueAgentCounts(online=2, free=1, total=3)
    assert page.items[0].agent_status.pause == 0
    with pytest.raises(ValidationError, match="agent_status"):
        QueueReportPage.model_validate({"items": [{"queue": {"id": "1"}, "agent_status": None}]})


def test_error_body_parses_webitel_errors() -> None:
    body = WebitelErrorBody.model_validate_json(
        '{"id":"app.member.valid","status":"Bad Request","detail":"bad","request_id":"r1","code":400}'
    )

    assert (body.id, body.code, body.request_id) == ("app.member.valid", 400, "r1")


def test_unavailable_says_whether_the_request_may_have_been_committed() -> None:
    error = WebitelUnavailable("create_members_bulk: timed out", request_id="r1")

    assert error.may_have_committed is True
    assert "request_id=r1" in str(error)
    assert WebitelUnavailable("refused", may_have_committed=False).may_have_committed is False


# -- the wire form passes the engine's schema (as the sandbox holds it) -------------------------

_destinations = st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True)
_variables = st.dictionaries(
    st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20),
    st.text(max_size=40),
    max_size=5,
)
_communications = st.builds(
    MemberCommunication,
    destination=_destinations,
    type=st.builds(Lookup, id=st.integers(1, 99).map(str)),
    priority=st.integers(-(2**31), 2**31 - 1),
    description=st.text(max_size=30),
    display=st.none() | st.from_regex(r"[0-9]{3,12}", fullmatch=True),
    stop_at=st.none() | st.integers(0, 2**62).map(str),
)
_items = st.builds(
    MemberItem,
    name=st.text(max_size=250),
    priority=st.integers(-(2**31), 2**31 - 1),
    expire_at=st.none() | st.integers(0, 2**62).map(str),
    variables=_variables,
    bucket=st.none() | st.builds(Lookup, id=st.integers(1, 10**6).map(str)),
    communications=st.lists(_communications, min_size=1, max_size=20),
)


@given(st.lists(_items, min_size=1, max_size=3), st.text(max_size=120))
def test_every_valid_bulk_passes_the_engine_schema(items: list[MemberItem], file_name: str) -> None:
    wire = BulkMembersRequest(items=items, file_name=file_name).to_wire()

    validation.validate_body(validation.BULK_MEMBERS, wire)


def test_clock_dependent_fields_use_utc_milliseconds() -> None:
    now = datetime.now(UTC)

    item = member(expire_at=epoch_ms(now + timedelta(hours=1)))

    assert int(item.to_wire()["expire_at"]) - int(epoch_ms(now)) == 3_600_000

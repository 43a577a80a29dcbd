"""The Webitel hook bodies under events/ are what Webitel posts, and ringback takes them.

tests/support/webitel_hooks.py rebuilds each body from its facts with the sandbox's
transcription of Webitel's source (devstack/webitel_sandbox/hooks.py); the fixtures must be
exactly that, field for field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.webitel_sandbox import hooks
from ringback.domain.events.envelope import EventSource
from ringback.domain.events.webitel import WebitelEvent
from ringback.services.ingest import to_logged
from tests.support.webitel_hooks import CALLBACK_LEAVING, FIXTURES, INBOUND_BRIDGED

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_body_is_webitels_body_field_for_field(name: str) -> None:
    event = json.loads((EVENTS / name).read_text())
    assert event["rawPath"] == "/v1/events/webitel"
    body = json.loads(event["body"])
    assert body == FIXTURES[name]
    assert event["headers"]["content-length"] == str(len(event["body"].encode()))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_ringback_accepts_every_fixture_as_a_known_event(name: str) -> None:
    hook = WebitelEvent.model_validate(FIXTURES[name])
    assert hook.known and hook.problems() == []


def test_queue_hook_body_carries_state_channel_and_the_extra_variables() -> None:
    bridged = WebitelEvent.model_validate(FIXTURES["webitel-queue-hook-bridged.json"])
    assert (bridged.event, bridged.channel, bridged.queue_key) == ("bridged", "call", "3")
    assert bridged.destination_seq == 1 and bridged.timestamp == INBOUND_BRIDGED.timestamp_ms
    leaving = WebitelEvent.model_validate(FIXTURES["webitel-queue-hook-leaving.json"])
    assert leaving.cc_resource_id == "2" and leaving.cc_result == "success"
    assert leaving.callback_id == "01JNRB6Q0S1D2E3F4G5H6J7K8M" and leaving.call_bill_sec == 185
    # Member variables the schema does not name are not posted: only what the schema asks for.
    assert "callback_mode" not in FIXTURES["webitel-queue-hook-leaving.json"]
    assert CALLBACK_LEAVING.member_variables is not None


def test_team_hook_body_has_webitels_names_and_no_timestamp() -> None:
    body = FIXTURES["webitel-team-hook-agent-status.json"]
    assert set(body) == {"event", *hooks.TEAM_VARIABLES}
    hook = WebitelEvent.model_validate(body)
    assert hook.extension_key == "1005" and not hook.has_sender_time
    logged = to_logged(EventSource.WEBITEL, hook, 1772443800000)
    assert logged.occurred_at == 1772443800000


def test_substitution_is_flow_managers() -> None:
    # Unset = empty, set = JSON-escaped inside the string (flow_manager model/variables.go).
    schema = [{"httpRequest": {"url": "u", "data": {"a": "${x}", "b": "${missing}", "c": "k=${x}"}}}]
    assert hooks.body_of(schema, {"x": 'say "hi"'}) == {"a": 'say "hi"', "b": "", "c": 'k=say "hi"'}

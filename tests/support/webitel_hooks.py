"""The Webitel hook bodies kept under events/, rebuilt from their facts.

Each fixture is what a real Webitel posts with the schemas of docs/events.md: the variables
call_center starts the schema with (devstack/webitel_sandbox/hooks.py transcribes
``ExportSchemaVariables``/``HookData`` from Webitel's source) substituted into the schema's
``data`` as flow_manager does. tests/unit/test_webitel_hook_fixtures.py checks that every
fixture body is exactly this, field for field.
"""

from __future__ import annotations

from typing import Any

from devstack.webitel_sandbox import hooks

T0 = 1772443790000  # 2026-03-02T09:29:50Z

# An inbound call from a customer, bridged to agent 17 in the inbound queue 3 (no member:
# an inbound attempt has none). Queue 3 is the demo config's inbound_queue_id.
INBOUND_BRIDGED = hooks.AttemptFacts(
    state="bridged",
    queue_id="3",
    queue_type=1,
    attempt_id="88501",
    destination="+420777123987",
    timestamp_ms=T0 + 15_000,
    joined_at_ms=T0,
    bridged_at_ms=T0 + 15_000,
    agent_id="17",
    agent_name="Petr Svoboda",
    user_id="204",
    agent_extension="1005",
    agent_channel_id="0c7d4e2a-5b1f-4c3e-8a9d-1e2f3a4b5c6d",
    member_channel_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
)

# A website callback member of the dialer queue 1 leaving after a successful call.
CALLBACK_LEAVING = hooks.AttemptFacts(
    state="leaving",
    queue_id="1",
    queue_type=4,
    attempt_id="88412",
    destination="+420777666555",
    timestamp_ms=T0 + 200_000,
    joined_at_ms=T0,
    bridged_at_ms=T0 + 15_000,
    member_id="5321",
    member_name="Jana Novakova",
    member_variables={
        "ringback_callback_id": "01JNRB6Q0S1D2E3F4G5H6J7K8M",
        "ringback_id": "01JNRB6Q0S1D2E3F4G5H6J7K8N",
        "callback_mode": "later",
    },
    member_seq=1,
    communication_type_id=1,
    communication_attempts=0,
    communication_idx=0,
    resource_id="2",
    agent_id="17",
    agent_name="Petr Svoboda",
    user_id="204",
    agent_extension="1005",
    agent_channel_id="3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a",
    member_channel_id="6f1b0c8e-3c7a-4a8e-9d0e-2f5b7c1a9e32",
    call_stats=hooks.call_stats(bill_sec=185, duration=200, cause="NORMAL_CLEARING", sip_code=200),
    result="success",
)

AGENT_PAUSE: dict[str, Any] = {
    "agent_id": "17",
    "user_id": "204",
    "team_id": "2",
    "name": "Petr Svoboda",
    "status": "pause",
    "status_payload": "lunch",
    "extension": "1005",
}

FIXTURES: dict[str, dict[str, Any]] = {
    "webitel-queue-hook-bridged.json": hooks.body_of(
        hooks.QUEUE_HOOK_SCHEMA, hooks.attempt_variables(INBOUND_BRIDGED)
    ),
    "webitel-queue-hook-leaving.json": hooks.body_of(
        hooks.QUEUE_HOOK_SCHEMA, hooks.attempt_variables(CALLBACK_LEAVING)
    ),
    "webitel-team-hook-agent-status.json": hooks.body_of(
        hooks.TEAM_HOOK_SCHEMA, hooks.team_variables(**AGENT_PAUSE)
    ),
}

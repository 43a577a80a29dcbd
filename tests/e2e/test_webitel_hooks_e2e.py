"""Webitel's own hook bodies, fired by the sandbox's hook knob, through the local gateway.

The sandbox builds each body as Webitel does (devstack/webitel_sandbox/hooks.py, the schemas of
docs/events.md) and posts it at ringback's /v1/events/webitel over HTTP, like flow_manager.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def knob(stack: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{stack.webitel.root_url}/_sandbox/{path}", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_online_pause_online_from_webitels_team_hook_leaves_the_agent_online(local_stack: Any) -> None:
    # Dave (14) is in the debtor queue only: the website status (the callback queue) is untouched.
    knob(
        local_stack,
        "hooks",
        {"url": f"{local_stack.api_url}/v1/events/webitel", "token": local_stack.tokens["events"]},
    )
    fired: list[dict[str, Any]] = []
    try:
        for status, reason in (("online", None), ("pause", "lunch"), ("online", None)):
            # The event's time is its arrival at ringback (ms, same machine clock): never before
            # this instant floored to the ms, and the previous change arrived before it.
            now = datetime.now(UTC)
            last_sent_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
            fired.append(
                knob(
                    local_stack,
                    "hooks/fire",
                    {"hook": "team", "agent_id": "14", "status": status, "status_payload": reason},
                )
            )
    finally:
        local_stack.webitel.set_agent_status("14", "offline")
    assert [f["status"] for f in fired] == [202, 202, 202]
    assert [f["answer"]["events"][0]["status"] for f in fired] == ["accepted"] * 3
    assert "timestamp" not in fired[0]["sent"] and fired[0]["sent"]["extension"] == "1004"
    # The hook's answer follows the event-log write; the stream poller projects it shortly after.
    # Poll until the view holds the third change (its ``since`` is that change's arrival), bounded.
    deadline = time.monotonic() + 30
    while True:
        agents = httpx.get(
            f"{local_stack.api_url}/v1/agents",
            headers={"Authorization": f"Bearer {local_stack.tokens['agent']}"},
        ).json()["agents"]
        [dave] = [a for a in agents if (a["source"], a["agent_id"]) == ("webitel", "14")] or [{}]
        since = dave.get("since")
        # The pause may arrive within the second before the third change: wait for the status too.
        third = dave.get("status") == "online" and since and datetime.fromisoformat(since) >= last_sent_at
        if third or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert dave["status"] == "online" and dave["extension"] == "1004"


def test_a_queue_hook_body_from_the_knob_is_accepted_with_every_exported_variable(local_stack: Any) -> None:
    knob(
        local_stack,
        "hooks",
        {"url": f"{local_stack.api_url}/v1/events/webitel", "token": local_stack.tokens["events"]},
    )
    fired = knob(
        local_stack,
        "hooks/fire",
        {
            "hook": "queue",
            "state": "bridged",
            "queue_id": "3",
            "destination": "+420777000333",
            "agent_id": "11",
        },
    )
    assert fired["status"] == 202, fired
    sent = fired["sent"]
    assert {"channel", "destination_seq", "cc_resource_id", "timestamp"} <= set(sent)
    # The hook's answer follows the event-log write; the stream poller projects the call shortly
    # after: ask until it is there (bounded).
    deadline = time.monotonic() + 30
    while True:
        call = httpx.get(
            f"{local_stack.api_url}/v1/calls/{sent['member_channel_id']}",
            headers={"Authorization": f"Bearer {local_stack.tokens['agent']}"},
        )
        if call.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert call.status_code == 200 and call.json()["state"] == "bridged"

"""Whisbi and mluvii payloads forwarded as docs/widget.md's snippets do, through the local gateway
(routes and query strings from template.yaml): the funnel counts them and Whisbi's booking
becomes a callback request; the demo campaign is inside the import's time bounds."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def forward(stack: Any, query: dict[str, str], body: Any) -> httpx.Response:
    """What the snippet's ``post`` sends: the vendor's body untouched, the rest in the query."""
    return httpx.post(
        f"{stack.api_url}/v1/events/widget",
        params=query,
        json=body,
        headers={"Origin": stack.api_url, "X-Ringback-Site-Key": "pk_demo_site"},
        timeout=30,
    )


def funnel_today(stack: Any) -> dict[str, Any]:
    today = datetime.now(ZoneInfo("Europe/Prague")).date().isoformat()
    answer = httpx.get(
        f"{stack.api_url}/v1/funnel",
        params={"from": today, "to": today},
        headers={"Authorization": f"Bearer {stack.tokens['agent']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    providers: dict[str, Any] = answer.json()["days"][0]["providers"]
    return providers


def test_the_demo_campaign_is_imported_whole(local_stack: Any) -> None:
    (campaign,) = local_stack.seed_report["campaign.csv"]
    # Five good debtors (one merged duplicate); the bad rows are the demo's own examples, the
    # expiry Webitel could not hold among them, each named by its column.
    assert campaign["totals"]["imported"] == 5 and campaign["totals"]["duplicates_merged"] == 1, campaign
    reasons = {row["line"]: row["reason"] for row in campaign["bad_rows"]}
    assert reasons[12] == "expire_at: already in the past"
    assert reasons[13].startswith("expire_at: 6000-01-0") and "days ahead" in reasons[13]
    assert len(reasons) == 6


def test_forwarded_vendor_events_reach_the_funnel_and_a_booking_the_callbacks(local_stack: Any) -> None:
    before = funnel_today(local_stack)
    now_ms = str(int(time.time() * 1000))
    slots = httpx.get(
        f"{local_stack.api_url}/v1/callbacks/slots", params={"days": "14", "tz": "Europe/Prague"}, timeout=30
    ).json()
    start = next(s["start"] for day in slots["days"] for s in day["slots"])
    booking = {
        "leadGuid": str(uuid.uuid4()),
        "sessionGuid": str(uuid.uuid4()),
        "kpiGuid": "kpi-e2e",
        "country": "CZ",
        "extra": "",
        "name": "Jana",
        "phone": f"606{uuid.uuid4().int % 1_000_000:06d}",
        "scheduledDate": datetime.fromisoformat(start)
        .astimezone(ZoneInfo("Europe/Prague"))
        .strftime("%Y-%m-%d %H:%M"),
        "scheduledDateObj": datetime.fromisoformat(start).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    event_id = str(uuid.uuid4())
    query = {"provider": "whisbi", "event": "otoCallBooked", "event_id": event_id, "occurred_at": now_ms}
    first = forward(local_stack, query, booking)
    assert first.status_code == 202, first.text
    assert forward(local_stack, query, booking).json()["duplicates"] == 1  # the snippet's retry
    mluvii = forward(
        local_stack, {"event_id": str(uuid.uuid4()), "occurred_at": now_ms}, {"type": "chatWindowOpen"}
    )
    assert mluvii.status_code == 202, mluvii.text
    status = forward(local_stack, {"provider": "mluvii", "event_id": str(uuid.uuid4())}, 1)
    assert status.status_code == 202 and status.json()["events"][0]["event"] == "statusUpdate"

    deadline = time.monotonic() + 30
    after = funnel_today(local_stack)
    while time.monotonic() < deadline and not (
        after.get("whisbi", {}).get("booked", 0) > before.get("whisbi", {}).get("booked", 0)
        and after.get("mluvii", {}).get("opened", 0) > before.get("mluvii", {}).get("opened", 0)
    ):
        time.sleep(0.3)
        after = funnel_today(local_stack)
    assert after["whisbi"]["booked"] == before.get("whisbi", {}).get("booked", 0) + 1
    assert after["mluvii"]["opened"] == before.get("mluvii", {}).get("opened", 0) + 1

    callback = httpx.post(
        f"{local_stack.api_url}/v1/callbacks",
        json={"event": "otoCallBooked", **booking},
        headers={"Origin": local_stack.api_url, "Idempotency-Key": event_id},
        timeout=60,
    )
    assert callback.status_code == 202, callback.text
    answer = callback.json()
    assert answer["mode"] == "scheduled"
    assert datetime.fromisoformat(answer["expected_call_at"]) == datetime.fromisoformat(start)

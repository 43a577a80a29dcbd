"""The local stack's plumbing: schedules, S3 notifications and the event log's stream reach the
functions declared for them in template.yaml, over the same paths users take."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from devstack.aws import aws_client
from devstack.template import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def test_state_names_every_url_and_token(local_stack: Any) -> None:
    state = local_stack.state()
    assert set(state["urls"]) >= {"api", "moto", "webitel", "widget"}
    assert set(state["tokens"]) >= {"routing", "events", "webitel"}
    assert httpx.get(f"{state['urls']['api']}/_local/stack").json()["urls"] == state["urls"]


def test_a_schedule_fired_over_the_admin_route_runs_its_function(local_stack: Any) -> None:
    answer = httpx.post(f"{local_stack.api_url}/_local/schedules/CallbacksSchedule", timeout=120)
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json(), dict)
    missing = httpx.post(f"{local_stack.api_url}/_local/schedules/NoSuchSchedule")
    assert missing.status_code == 404


def test_demo_data_was_loaded_through_s3_and_the_import_function(local_stack: Any) -> None:
    report = local_stack.seed_report
    (customers,) = report["customers.csv"]
    assert customers["status"] == "ok"
    assert customers["customers"] >= 3
    assert customers["rejected"] == 0
    s3 = aws_client("s3", local_stack.moto_url)
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=local_stack.provisioned.names["ImportsBucket"])["Contents"]
    ]
    assert "customers/demo-customers.csv" in keys


def test_s3_notification_for_a_key_no_function_listens_to_is_404(local_stack: Any) -> None:
    answer = httpx.post(
        f"{local_stack.api_url}/_local/s3-notify",
        json={"bucket": local_stack.provisioned.names["ImportsBucket"], "key": "elsewhere/x.txt"},
    )
    assert answer.status_code == 404


def test_event_log_stream_feeds_the_projector(local_stack: Any) -> None:
    sample = json.loads((ROOT / "events" / "webitel-offering.json").read_text())
    body = json.loads(sample["body"])
    body["uuid"] = f"stack-test-{time.time_ns()}"
    poller = local_stack.pollers[0]
    before = poller.delivered
    answer = httpx.post(
        f"{local_stack.api_url}/v1/events/webitel",
        json=body,
        headers={"Authorization": f"Bearer {local_stack.tokens['events']}"},
    )
    assert answer.status_code in (200, 202), answer.text
    deadline = time.monotonic() + 30
    while poller.delivered == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert poller.delivered > before, "the stream record never reached the projector"

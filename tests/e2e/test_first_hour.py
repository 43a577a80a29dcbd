"""What a new user does in the first hour, on the running local stack: `make demo` walks the whole
loop, `make fire` says why nothing was due, an operator-config edit applies within the local
cache age (2 s), and the demo hours are open around the clock."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack import cli
from devstack.aws import aws_client
from devstack.commands import demo
from devstack.stack import WEEK

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

PRAGUE = ZoneInfo("Europe/Prague")
# The local operator config is cached this long in every worker (StackOptions sets it).
LOCAL_MAX_AGE_S = 2


@pytest.fixture
def state_file(local_stack: Any, tmp_path: Path) -> Path:
    """The state file `make run` would write, for the commands that talk to a running stack."""
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(local_stack.state()))
    return path


@pytest.fixture
def operator_config(local_stack: Any) -> Iterator[dict[str, Any]]:
    """Change the stack's operator config in the test; the original comes back afterwards."""
    ssm = aws_client("ssm", local_stack.moto_url)
    name = local_stack.provisioned.names["OperatorConfigParameter"]
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    config: dict[str, Any] = json.loads(original)
    yield config
    ssm.put_parameter(Name=name, Value=original, Type="String", Overwrite=True)
    time.sleep(LOCAL_MAX_AGE_S + 0.5)  # no worker keeps this test's edit for the next test


def _put(local_stack: Any, config: dict[str, Any]) -> None:
    ssm = aws_client("ssm", local_stack.moto_url)
    name = local_stack.provisioned.names["OperatorConfigParameter"]
    ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)


def test_the_demo_hours_are_open_around_the_clock(local_stack: Any) -> None:
    config = json.loads(
        aws_client("ssm", local_stack.moto_url).get_parameter(
            Name=local_stack.provisioned.names["OperatorConfigParameter"]
        )["Parameter"]["Value"]
    )
    assert config["business_hours"] == {day: ["00:00-24:00"] for day in WEEK}
    assert config["holidays"] == []
    assert local_stack.state()["hours"] == "around the clock"


def test_every_function_gets_the_local_config_cache_age(local_stack: Any) -> None:
    for function_id in local_stack.template.functions:
        env = local_stack.provisioned.function_environment(local_stack.template, function_id)
        assert env["RINGBACK_OPERATOR_CONFIG_MAX_AGE_S"] == str(LOCAL_MAX_AGE_S), function_id


def test_an_operator_config_edit_applies_within_the_local_cache_age(
    local_stack: Any, operator_config: dict[str, Any], state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = httpx.get(f"{local_stack.api_url}/v1/status", timeout=30).json()
    assert status["reason"] != "holiday", status
    today = datetime.now(PRAGUE).date()
    holidays = json.dumps([today.isoformat(), (today + timedelta(1)).isoformat()])
    # As an operator would: `ringback config KEY=VALUE` on the running stack.
    assert cli.main(["config", "--state-file", str(state_file), f"holidays={holidays}"]) == 0
    assert "holidays changed" in capsys.readouterr().out
    # Past the cache age no worker may still answer from the previous configuration.
    time.sleep(LOCAL_MAX_AGE_S + 0.5)
    for _ in range(4):  # several requests: more than one worker may serve them
        status = httpx.get(f"{local_stack.api_url}/v1/status", timeout=30).json()
        assert (status["status"], status["reason"]) == ("offline", "holiday"), status


def test_a_config_edit_the_functions_would_refuse_is_not_written(
    local_stack: Any, operator_config: dict[str, Any], state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(["config", "--state-file", str(state_file), "slot_minutes=1", "timezone=Mars/Olympus"]) == 1
    )
    out = capsys.readouterr().out
    assert "not changed" in out and "slot_minutes" in out and "timezone" in out
    assert cli.main(["config", "--state-file", str(state_file)]) == 0
    assert json.loads(capsys.readouterr().out) == operator_config


def test_make_demo_walks_the_whole_loop(local_stack: Any, state_file: Path) -> None:
    lines: list[str] = []
    result = demo.Demo(json.loads(state_file.read_text()), out=lines.append).run()
    text = "\n".join(lines)
    for step, title in enumerate(
        [
            "Widget status",
            "'call me now' request",
            "member in Webitel",
            "queue hook",
            "projections",
            "routing lookup",
            "cancel",
        ],
        start=1,
    ):
        assert re.search(rf"^{step}\. .*{re.escape(title)}", text, re.M), (title, text)
    assert "pending_callback=True" in text
    # What the demo printed is what the stack holds.
    (member,) = [m for m in local_stack.webitel.members(result["queue_id"]) if m["id"] == result["member_id"]]
    assert member["variables"]["ringback_callback_id"] == result["callback_id"]
    assert member.get("stop_cause") == "cancel"
    assert result["cancel"]["status"] == "cancelled"
    # The command itself, as `make demo` runs it.
    assert cli.main(["demo", "--state-file", str(state_file)]) == 0


def test_make_fire_says_why_nothing_was_due(
    local_stack: Any, operator_config: dict[str, Any], state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(PRAGUE)
    tomorrow = now + timedelta(days=1)
    # Open only tomorrow 08:00-09:00, and a queue of this test's own (no other test's entries).
    _put(
        local_stack,
        {
            **operator_config,
            "business_hours": {WEEK[tomorrow.weekday()]: ["08:00-09:00"]},
            "holidays": [],
            "callback_queue_id": "9",
        },
    )
    time.sleep(LOCAL_MAX_AGE_S + 0.5)
    for n in range(2):
        answer = httpx.post(
            f"{local_stack.api_url}/v1/callbacks",
            json={"mode": "later", "phone": f"+420776{int(time.time() * 1000 + n) % 1_000_000:06d}"},
            headers={"Idempotency-Key": f"fire-{time.time_ns()}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
    capsys.readouterr()
    assert cli.main(["fire", "CallbacksSchedule", "--state-file", str(state_file)]) == 0
    out = capsys.readouterr().out
    assert "CallbacksSchedule (callbacks -> Webitel queue 9): nothing sent" in out, out
    day = f"{tomorrow:%a} {tomorrow.day} {tomorrow:%b}"
    assert f"nothing was due: 2 pending, next due {day} 08:00 Europe/Prague: outside business hours" in out


def test_commands_name_the_state_file_they_did_not_find(tmp_path: Path) -> None:
    missing = tmp_path / "other.json"
    with pytest.raises(SystemExit) as stopped:
        cli.main(["fire", "CallbacksSchedule", "--state-file", str(missing)])
    assert str(missing) in str(stopped.value) and "make run" in str(stopped.value)

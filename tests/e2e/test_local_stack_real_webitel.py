"""`make run WEBITEL_URL=... WEBITEL_TOKEN=...`: the local stack against a Webitel of one's own.

A second sandbox, started separately with its own token, stands in for "the real Webitel": the
stack must start no sandbox of its own, point every function at that URL and token, seed
nothing there (the demo campaign only when asked), and still deliver a callback to it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import cli
from devstack.stack import WEEK
from devstack.template import ROOT
from devstack.webitel_sandbox import WebitelSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def real_webitel() -> Iterator[WebitelSandbox]:
    webitel = WebitelSandbox(token="the-admins-own-token")
    webitel.start()
    webitel.seed_demo()  # an installation with its queues and agents, and no members yet
    yield webitel
    webitel.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found += [int(entry.name), *_children(int(entry.name))]
    return found


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    state_file: Path
    state: dict[str, Any]
    before: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.state["urls"]["api"])


@pytest.fixture(scope="module")
def stack_on_real(
    real_webitel: WebitelSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """`make run WEBITEL_URL=... WEBITEL_TOKEN=... OPERATOR_CONFIG=... STATE_FILE=...`, other ports."""
    folder = tmp_path_factory.mktemp("real-webitel")
    config = folder / "operator-config.json"
    # Queue ids (and, for this test, hours open all day) from the operator's own config file.
    config.write_text(
        json.dumps(
            {
                "callback_queue_id": "1",
                "debtor_queue_id": "2",
                "business_hours": {day: ["00:00-24:00"] for day in WEEK},
                "holidays": [],
            }
        )
    )
    state_file = folder / "stack.json"
    before = real_webitel.state()
    command = [sys.executable, "-m", "devstack", "run", "--no-scheduler", "--state-file", str(state_file)]
    for name in ("--api-port", "--moto-port", "--webitel-port"):
        command += [name, str(_free_port())]
    command += ["--webitel-url", real_webitel.url, "--operator-config", str(config)]
    env = {**os.environ, "WEBITEL_TOKEN": real_webitel.token}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not state_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        if not state_file.exists():
            process.kill()
            pytest.fail("the stack never wrote its state file: " + process.communicate()[0][-3000:])
        time.sleep(0.2)  # the state file is written in one go, after the seeding
        yield RunningStack(process, state_file, json.loads(state_file.read_text()), before)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "a real Webitel: nothing was started or seeded there" in output
    assert "campaign.csv" not in output


def test_no_sandbox_of_its_own_and_every_function_points_at_the_real_one(
    stack_on_real: RunningStack, real_webitel: WebitelSandbox
) -> None:
    state = stack_on_real.state
    assert state["webitel"] == "real" and state["urls"]["webitel"] == real_webitel.url
    assert "webitel_ui" not in state["urls"]  # no sandbox page: nothing listens on --webitel-port
    assert state["tokens"]["webitel"] == real_webitel.token
    assert state["hours"] == "template.yaml"
    # Each worker process is a function's Lambda environment: read what it was given.
    pointed = []
    for pid in _children(stack_on_real.process.pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
        if "RINGBACK_WEBITEL_BASE_URL" in env:
            pointed.append(env["RINGBACK_WEBITEL_BASE_URL"])
    assert pointed and set(pointed) == {real_webitel.url}


def test_seeding_touches_nothing_in_the_real_webitel(
    stack_on_real: RunningStack, real_webitel: WebitelSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # The demo campaign is loaded only when asked (--seed-campaign): the schedules, fired through
    # the commands with the stack's own state file, find nothing of the demo's to upload.
    state_file = str(stack_on_real.state_file)
    assert cli.main(["fire", "CampaignsSchedule", "--state-file", state_file]) == 0
    assert cli.main(["fire", "CallbacksSchedule", "--state-file", state_file]) == 0
    capsys.readouterr()
    after = real_webitel.state()
    assert after["members"] == stack_on_real.before["members"] == []
    assert after["queues"] == stack_on_real.before["queues"]


def test_a_callback_reaches_the_real_webitel(
    stack_on_real: RunningStack, real_webitel: WebitelSandbox
) -> None:
    phone = f"+420777{time.time_ns() % 1_000_000:06d}"
    answer = httpx.post(
        f"{stack_on_real.api_url}/v1/callbacks",
        json={"mode": "now", "phone": phone},
        headers={"Idempotency-Key": f"real-{time.time_ns()}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    members = [
        m
        for m in real_webitel.members("1")
        if m["variables"].get("ringback_callback_id") == answer.json()["id"]
    ]
    assert len(members) == 1 and members[0]["communications"][0]["destination"] == phone


def test_run_refuses_a_webitel_url_without_its_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WEBITEL_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--webitel-url", "https://cc.example.com/api", "--state-file", str(tmp_path / "s")])
    assert "WEBITEL_TOKEN" in str(stopped.value)


def test_make_demo_needs_a_number_of_ones_own_against_a_real_webitel(
    stack_on_real: RunningStack, real_webitel: WebitelSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    state_file = str(stack_on_real.state_file)
    members_before = len(real_webitel.members())
    assert cli.main(["demo", "--state-file", state_file]) == 1
    assert "a number of your own (make demo PHONE=" in capsys.readouterr().out
    assert len(real_webitel.members()) == members_before  # nothing was sent to make one up
    mine = f"+420778{time.time_ns() % 1_000_000:06d}"
    assert cli.main(["demo", "--state-file", state_file, "--phone", mine]) == 0
    assert "The whole loop works" in capsys.readouterr().out
    (member,) = [m for m in real_webitel.members("1") if m["communications"][0]["destination"] == mine]
    assert member.get("stop_cause") == "cancel"  # the demo cancelled its own call at the end

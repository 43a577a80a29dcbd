"""The dialer through the whole local stack: the CLI import command (S3 + notification), the
campaigns schedule fired as EventBridge would, and the re-drive command."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from devstack.commands import import_campaign, redrive
from ringback.domain.campaigns import entry_id_for

pytestmark = pytest.mark.e2e


def test_import_command_then_schedule_delivers_once(
    local_stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_stack.state()
    run = uuid.uuid4().hex[:8]
    number = 600_000 + uuid.uuid4().int % 300_000
    csv_file = tmp_path / f"e2e-{run}.csv"
    csv_file.write_text(
        "name,phone,calling_window,var_run\n"
        f"E2E {run},+420 606 {number:06d},mon-sun 00:00-24:00,{run}\n"
        f"Broken {run},+420 1,mon-sun 00:00-24:00,{run}\n"
    )
    assert import_campaign.run(str(csv_file), state) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["imported"] == 1 and report["bad_rows"][0]["line"] == 3

    local_stack.fire("CampaignsSchedule")
    local_stack.fire("CampaignsSchedule")
    ours = [m for m in local_stack.webitel.members("2") if m["variables"].get("run") == run]
    assert len(ours) == 1
    assert ours[0]["communications"][0]["destination"] == f"+420606{number:06d}"

    entry_id = entry_id_for("2", "", f"+420606{number:06d}")
    assert redrive.run([entry_id], state) == 1  # delivered, not rejected: nothing to re-drive
    assert "not rejected" in capsys.readouterr().out


def test_dnc_file_goes_to_the_dnc_prefix(tmp_path: Path) -> None:
    assert import_campaign.key_for(tmp_path / "dnc-2026-11.csv") == "campaigns/dnc/dnc-2026-11.csv"
    assert import_campaign.key_for(tmp_path / "november.csv") == "campaigns/november.csv"

"""`make run` (python -m devstack run): starts every part, prints and writes its URLs, and
Ctrl-C stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack.template import ROOT, load

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                child = int(entry.name)
                found |= {child} | _children(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_run_serves_every_part_and_ctrl_c_stops_them_all(tmp_path: Path) -> None:
    ports = {"api": _free_port(), "moto": _free_port(), "webitel": _free_port()}
    state_file = tmp_path / "stack.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "run",
            "--api-port",
            str(ports["api"]),
            "--moto-port",
            str(ports["moto"]),
            "--webitel-port",
            str(ports["webitel"]),
            "--state-file",
            str(state_file),
            "--no-scheduler",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group, as a terminal's foreground job: Ctrl-C reaches every process in it.
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not state_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert state_file.exists(), "the stack never wrote its state file"
        state = json.loads(state_file.read_text())
        assert state["urls"]["api"] == f"http://127.0.0.1:{ports['api']}"
        assert state["urls"]["moto"] == f"http://127.0.0.1:{ports['moto']}"
        assert state["urls"]["webitel"] == f"http://127.0.0.1:{ports['webitel']}/api"
        assert set(state["urls"]) >= {"api", "moto", "webitel", "widget"}
        assert set(state["tokens"]) >= {"routing", "events", "webitel"}
        assert all(state["tokens"].values())

        # Every function's health route answers through the gateway, in its own worker.
        health = [r for r in load().routes if r.path.startswith("/v1/health/")]
        assert health
        for route in health:
            answer = httpx.get(state["urls"]["api"] + route.path, timeout=30)
            assert answer.status_code == 200, (route.path, answer.text)
            assert answer.headers["content-type"].startswith("application/json")
        unknown = httpx.get(state["urls"]["api"] + "/v1/nope")
        assert unknown.status_code == 404
        assert unknown.json() == {"message": "Not Found"}
        # The sandbox and moto are real servers.
        assert httpx.get(state["urls"]["webitel"] + "/call_center/queues").status_code == 401
        assert httpx.get(state["urls"]["webitel_ui"]).status_code == 200
        tables = httpx.post(
            state["urls"]["moto"],
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-central-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=x",
            },
            content="{}",
        ).json()["TableNames"]
        expected = {state["names"][t] for t in ("CustomersTable", "CallbacksTable", "DialerOutboxTable")}
        assert expected <= set(tables)

        children = _children(process.pid)
        assert children, "functions run in worker processes of their own"
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C on the console does
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output[-3000:]
    assert "ringback local stack is up" in output
    # Ctrl-C stops with one line: no traceback from the stack or any worker.
    after = output.split("Ctrl-C stops everything.", 1)[1]
    assert "Traceback" not in after and "KeyboardInterrupt" not in after, after[-3000:]
    said = [line for line in after.splitlines() if line.strip() and not line.startswith("[")]
    assert said == ["stopping the local stack"], said
    assert f"http://127.0.0.1:{ports['api']}" in output
    time.sleep(0.5)
    assert not [pid for pid in children if _alive(pid)], "Ctrl-C left processes behind"
    assert not state_file.exists()
    for port in ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"

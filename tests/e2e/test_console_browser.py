"""The operator console in a real headless Chromium against the local stack.

Signs in with the keyboard, sees a submitted request appear on the board, sees it move to
"uploaded" after the callbacks schedule fires, re-drives a member the Webitel sandbox rejected,
checks the page with axe-core (pinned in package.json; ``make test`` installs it) and signs
out. Screenshots go to ``test-artifacts/``. Like the widget's browser test, it opens the
contact centre all week (the operator config, restored afterwards) so a "later" request is due
at once whatever the wall clock says.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from ringback.adapters.outbox_dynamo import DynamoDialerOutbox
from ringback.domain.outbox import OutboxEntry, OutboxState
from ringback.domain.webitel import MemberItem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
REGION = "eu-central-1"
WALL = {"width": 1440, "height": 1000}


def _client(stack: Any, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=stack.moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _wait_for(check: Callable[[], Any], what: str, page: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        page.wait_for_timeout(250)


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> Iterator[Any]:
    """The local stack with the contact centre open all week (restored afterwards)."""
    ssm = _client(local_stack, "ssm")
    name = local_stack.provisioned.names["OperatorConfigParameter"]
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    config = json.loads(original)
    config["business_hours"] = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    config["holidays"] = []
    config["callbacks"] = {**config.get("callbacks", {}), "per_ip_per_hour": 10_000}
    ssm.put_parameter(Name=name, Value=json.dumps(config), Overwrite=True, Type="String")
    env = local_stack.provisioned.function_environment(local_stack.template, "CallbacksFunction")
    time.sleep(int(env.get("RINGBACK_OPERATOR_CONFIG_MAX_AGE_S", "60")) + 1)
    yield local_stack
    ssm.put_parameter(Name=name, Value=original, Overwrite=True, Type="String")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (make test does)")
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _rejected_member(stack: Any) -> str:
    """A member of the callback queue with a communication type the sandbox does not have: the next
    callbacks run sends it and Webitel rejects it (a receipt with the reason)."""
    outbox = DynamoDialerOutbox(
        stack.provisioned.names["DialerOutboxTable"], dynamodb=_client(stack, "dynamodb")
    )
    entry_id = f"e2econsole{secrets.token_hex(6)}"
    number = f"+42060{secrets.randbelow(10_000_000):07d}"
    member = MemberItem.model_validate(
        {
            "name": "console e2e",
            "variables": {"ringback_id": entry_id},
            "communications": [{"destination": number, "type": {"id": "99"}}],
        }
    )
    outbox.add(
        OutboxEntry(
            entry_id=entry_id,
            # A campaign row: a callback entry without its request is held back by the dialer's
            # re-check (a submit that died), and this one has no request.
            source="campaign",
            source_id=entry_id,
            queue_id="1",
            member=member,
            due_at=datetime.now(UTC),
        )
    )
    return entry_id


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_sign_in_watch_a_request_upload_redrive_a_rejection_and_sign_out(stack: Any, browser: Any) -> None:
    context = browser.new_context(viewport=WALL, timezone_id="Europe/Prague")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    page.goto(f"{stack.api_url}/console")
    credential = page.get_by_label("Console credential")
    credential.wait_for(state="visible")
    _shot(page, "signin")

    # A wrong credential is refused on the page; the right one opens the board (keyboard only).
    credential.fill("not-the-credential")
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="not valid").wait_for()
    credential.fill(stack.tokens["console"])
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Callback board").wait_for()
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["rb_console"]["httpOnly"] and cookies["rb_console"]["sameSite"] == "Strict"
    assert cookies["rb_console"]["secure"] and cookies["rb_console"]["expires"] > time.time()
    assert "rb_console" not in page.evaluate("document.cookie")

    # A visitor asks for a call: the polling board shows it without a reload.
    phone = f"77{secrets.randbelow(10_000_000):07d}"
    answer = httpx.post(
        f"{stack.api_url}/v1/callbacks",
        json={"mode": "later", "phone": phone, "country": "CZ", "utm_source": "e2e", "source": "web"},
        headers={"origin": stack.api_url},
    )
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["id"]
    row = page.locator(f'tr[data-request-id="{request_id}"]')
    row.wait_for(timeout=15_000)
    assert row.locator("td").first.inner_text().startswith("Pending")
    assert "utm_source=e2e" in row.inner_text()
    assert phone not in page.content() and phone[-2:] in row.inner_text()
    _shot(page, "board")

    # The callbacks schedule sends it (and the member Webitel will reject) to the sandbox.
    entry_id = _rejected_member(stack)
    stack.fire("CallbacksSchedule")
    _wait_for(lambda: row.locator("td").first.inner_text().startswith("Uploaded"), "uploaded", page)
    rejected = page.locator(f'#rejected tr[data-entry-id="{entry_id}"]')
    rejected.wait_for(timeout=15_000)
    assert "communication" in rejected.inner_text().lower()
    # The funnel counts it in its "uploaded" stage (the request's source, this day).
    funnel = page.locator("#funnel-sources")
    headers = funnel.locator("thead th").all_inner_texts()
    assert headers == ["Source", "Opened", "Requested", "Uploaded", "Connected"]
    web = funnel.locator("tbody tr").filter(has=page.locator("th", has_text="web"))
    _wait_for(lambda: int(web.locator("td").nth(2).inner_text()) >= 1, "uploaded in the funnel", page)
    _shot(page, "uploaded")

    # An agent changes status: the agents panel shows it now and on today's timeline.
    agent = f"E2E Agent {secrets.token_hex(3)}"
    for status in ("online", "pause"):
        hook = httpx.post(
            f"{stack.api_url}/v1/events/webitel",
            json={
                "event": "agent_status",
                "agent_id": f"e2e-{agent[-6:]}",
                "agent_name": agent,
                "status": status,
            },
            headers={"Authorization": f"Bearer {stack.tokens['events']}"},
        )
        assert hook.status_code in (200, 202), hook.text
    line = page.locator("#agent-timeline tbody tr").filter(has=page.locator("th", has_text=agent))
    line.wait_for(timeout=15_000)
    _wait_for(lambda: "pause" in line.inner_text(), "the agent's pause on the timeline", page)
    assert (page.locator("#agents-chart svg[role=img] desc").text_content() or "").count(agent) == 1
    health = page.locator("#health").inner_text()
    assert (
        "Degraded routing answers today" in health
        and "unknown" not in health.split("Degraded routing answers today")[1]
    )
    _shot(page, "agents")

    # Re-drive it after "fixing" it: the dialer's own re-drive puts it back in line.
    rejected.get_by_role("button", name=f"Re-drive member {entry_id}").click()
    page.get_by_text(f"Member {entry_id}: re-driven").wait_for()
    outbox = DynamoDialerOutbox(
        stack.provisioned.names["DialerOutboxTable"], dynamodb=_client(stack, "dynamodb")
    )
    stored = outbox.get(entry_id)
    assert stored is not None and stored.state == OutboxState.PENDING
    rejected.wait_for(state="detached", timeout=15_000)
    _shot(page, "redriven")
    outbox.cancel(entry_id, reason="console e2e done")  # later runs of the shared stack skip it

    # Accessibility: axe-core finds no serious or critical issue on the signed-in page.
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make node_modules/.installed` (make test does)")
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, serious

    # Nothing secret in a URL; sign out ends the session for the page and for the API.
    assert not [u for u in urls if stack.tokens["console"] in u or "token=" in u]
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    credential.wait_for(state="visible")
    _shot(page, "signed-out")
    status = page.evaluate("fetch('/v1/console/data', {credentials: 'same-origin'}).then(r => r.status)")
    assert status == 401
    assert not errors, errors
    context.close()

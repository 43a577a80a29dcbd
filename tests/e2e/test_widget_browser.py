"""The embeddable widget in a real headless Chromium against the local stack.

Debian's ``chromium`` (``make test`` installs it) driven by Playwright's sync API; Playwright
never downloads a browser here. Every submission uses a fresh phone number (the stack's tables
are shared by the whole session). Screenshots of the panel go to ``test-artifacts/``.

For the online / busy checks the contact centre must be open whatever the wall clock says, so
the module switches the operator configuration (an SSM parameter the operator may change
without redeploying) to open-all-week with relaxed per-IP limits (every browser request comes
from 127.0.0.1) and a 1 s status cache, and puts the original back afterwards.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
REGION = "eu-central-1"
CALLBACK_QUEUE = "1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VISITOR_TZ = "America/New_York"  # the contact centre is in Europe/Prague: times must be converted
MAX_GZIP_BYTES = 13 * 1024
EVENT_NAMES = [
    "ringbackReady",
    "ringbackStatus",
    "otoOpened",
    "ringbackClosed",
    "otoSessionRequested",
    "otoCmbRequested",
    "otoCallBooked",
    "otoInvalidPhone",
    "otoNoAgentsAvailable",
    "ringbackCancelled",
]
# Collects the widget's CustomEvents on window before any page script runs.
COLLECT_EVENTS = "window.__rb = [];" + "".join(
    f"window.addEventListener({json.dumps(n)}, function (e) {{"
    f" window.__rb.push({{name: {json.dumps(n)}, detail: JSON.parse(JSON.stringify(e.detail))}}); }});"
    for n in EVENT_NAMES
)


# ---------------------------------------------------------------------------- fixtures


def _new_phone() -> str:
    """A valid Czech mobile number nobody else in the session uses (national format)."""
    digits = f"77{secrets.randbelow(10_000_000):07d}"
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _e164(national: str) -> str:
    return "+420" + national.replace(" ", "")


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> Any:
    return local_stack


@pytest.fixture(scope="module")
def dynamodb(stack: Any) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def ssm(stack: Any) -> Any:
    return boto3.client(
        "ssm",
        endpoint_url=stack.moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module", autouse=True)
def open_all_week(stack: Any, ssm: Any) -> Iterator[float]:
    """Switch the operator config; yield the moment every worker's cached config has expired."""
    name = stack.provisioned.names["OperatorConfigParameter"]
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    config = json.loads(original)
    config["business_hours"] = {
        day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    config["holidays"] = []
    config["status_cache_seconds"] = 1
    config["callbacks"] = {
        **config.get("callbacks", {}),
        "per_ip_per_hour": 10_000,
        "distinct_numbers_per_ip_per_day": 10_000,
    }
    ssm.put_parameter(Name=name, Value=json.dumps(config), Overwrite=True, Type="String")
    env = stack.provisioned.function_environment(stack.template, "CallbacksFunction")
    max_age = int(env.get("RINGBACK_OPERATOR_CONFIG_MAX_AGE_S", "60"))
    yield time.monotonic() + max_age + 1
    ssm.put_parameter(Name=name, Value=original, Overwrite=True, Type="String")


@pytest.fixture
def open_now(open_all_week: float, stack: Any) -> None:
    """Wait until no worker can still hold the previous configuration, and agents are back online."""
    for agent in ("11", "12"):
        stack.webitel.set_agent_status(agent, "online")
    remaining = open_all_week - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    _wait_for(lambda: httpx.get(f"{stack.api_url}/v1/status").json()["status"] == "online", "status online")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (make test does)")
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visitor:
    """One browser tab on the demo page, with what it sent and saw recorded."""

    def __init__(self, page: Any, api_url: str) -> None:
        self.page = page
        self.api = api_url
        self.requests: list[Any] = []
        self.responses: list[Any] = []
        self.errors: list[str] = []
        self.failed: list[Any] = []  # requests that got no answer at all
        # Bound methods of builtins cannot carry Playwright's handler wrapper: use plain functions.
        page.on("request", self._record_request)
        page.on("response", self._record_response)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("requestfailed", self._record_failure)

    def _record_request(self, request: Any) -> None:
        self.requests.append(request)

    def _record_response(self, response: Any) -> None:
        self.responses.append(response)

    def _record_failure(self, request: Any) -> None:
        self.failed.append(request)

    # The widget lives in an open shadow root: Playwright's locators pierce it.
    @property
    def fab(self) -> Any:
        return self.page.locator("#ringback-widget .fab")

    @property
    def panel(self) -> Any:
        return self.page.locator("#ringback-widget #rb-panel")

    def open(self, path: str = "/widget") -> Visitor:
        self.page.goto(self.api + path)
        self.page.wait_for_function("() => window.ringbackWidget && window.ringbackWidget.status !== null")
        return self

    def open_panel(self) -> None:
        self.fab.click()
        self.panel.wait_for(state="visible")

    def choose(self, mode_label: str) -> None:
        self.panel.get_by_role("radio", name=mode_label, exact=True).check()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("window.__rb")
        return [e["detail"] for e in found if name is None or e["name"] == name]

    def callback_posts(self) -> list[Any]:
        return [r for r in self.requests if r.method == "POST" and r.url.endswith("/v1/callbacks")]

    def widget_event_statuses(self) -> list[tuple[str, int]]:
        """Each answered ``POST /v1/events/widget`` (the event it carried, its status); a post the
        widget tried again appears once per attempt."""
        return [
            (json.loads(r.request.post_data)["event"], r.status)
            for r in self.responses
            if r.url.endswith("/v1/events/widget")
        ]

    def event_stored(self, name: str) -> bool:
        """The API took the widget's ``name`` event: 202, or 200 when a retry found it stored."""
        return any(e == name and status in (200, 202) for e, status in self.widget_event_statuses())

    def event_posts(self) -> str:
        """What became of the event posts so far, for a failure message."""
        failed = [
            (json.loads(r.post_data)["event"], r.failure) for r in self.failed if "/v1/events/" in r.url
        ]
        return f"answered {self.widget_event_statuses()}, failed {failed}"

    def submit(self, button: str, *, double_click: bool = False) -> dict[str, Any]:
        target = self.panel.get_by_role("button", name=button, exact=True)
        with self.page.expect_response(lambda r: r.url.endswith("/v1/callbacks")) as answer:
            if double_click:
                target.dblclick()
            else:
                target.click()
        response = answer.value
        assert response.status == 202, response.text()
        self.panel.locator("#rb-done").wait_for(state="visible")
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def visitor_factory(browser: Any, stack: Any) -> Iterator[Callable[..., Visitor]]:
    contexts: list[Any] = []

    def make(
        viewport: dict[str, int] = DESKTOP, timezone: str = VISITOR_TZ, locale: str = "en-US"
    ) -> Visitor:
        context = browser.new_context(viewport=viewport, timezone_id=timezone, locale=locale)
        context.add_init_script(COLLECT_EVENTS)
        contexts.append(context)
        return Visitor(context.new_page(), stack.api_url)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def visitor(visitor_factory: Callable[..., Visitor]) -> Visitor:
    return visitor_factory()


# ---------------------------------------------------------------------------- helpers


def _wait_for(
    check: Callable[[], Any], what: str | Callable[[], str], timeout_s: float = 20.0, page: Any = None
) -> Any:
    """Poll ``check``; with a ``page``, wait through Playwright so its events keep arriving.
    ``what`` may be a function: what it says at the timeout goes into the failure."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what() if callable(what) else what}")
        if page is not None:
            page.wait_for_timeout(250)
        else:
            time.sleep(0.25)


def _request_item(dynamodb: Any, stack: Any, callback_id: str) -> dict[str, Any] | None:
    table = stack.provisioned.names["CallbacksTable"]
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "REQUEST"}}, ConsistentRead=True
    ).get("Item")
    return item


def _outbox_entry(dynamodb: Any, stack: Any, callback_id: str) -> dict[str, Any] | None:
    table = stack.provisioned.names["DialerOutboxTable"]
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"OUT#cb_{callback_id}"}, "sk": {"S": "ENTRY"}}, ConsistentRead=True
    ).get("Item")
    return item


def _members(stack: Any, callback_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in stack.webitel.members(CALLBACK_QUEUE)
        if m["variables"].get("ringback_callback_id") == callback_id
    ]


def _assert_stored(
    dynamodb: Any, stack: Any, answer: dict[str, Any], mode: str, phone: str
) -> dict[str, Any]:
    item = _request_item(dynamodb, stack, answer["id"])
    assert item is not None, "the request is not in the CallbacksTable"
    assert item["mode"]["S"] == mode
    assert item["phone"]["S"] == _e164(phone)
    assert item["source"]["S"] == "ringback"
    assert item["page_url"]["S"].startswith(stack.api_url + "/widget")
    return item


def _cancel_from_confirmation(
    visitor: Visitor, dynamodb: Any, stack: Any, callback_id: str
) -> dict[str, Any]:
    with visitor.page.expect_response(lambda r: f"/v1/callbacks/{callback_id}" in r.url) as answer:
        visitor.panel.get_by_role("button", name="Cancel this call").click()
    response = answer.value
    assert response.request.method == "DELETE"
    assert "token=" in response.url  # the self-service link of the 202 answer, no other credential
    assert response.status in (200, 202), response.text()
    visitor.panel.get_by_text("Your call has been cancelled.").wait_for()
    item = _request_item(dynamodb, stack, callback_id)
    assert item is not None
    assert item["status"]["S"] == "cancelled"
    cancelled = visitor.events("ringbackCancelled")
    assert cancelled and cancelled[-1]["leadGuid"] == callback_id
    result: dict[str, Any] = response.json()
    return result


def _funnel_totals(stack: Any) -> dict[str, int]:
    """The widget funnel of yesterday..tomorrow (the event fan-out's read endpoint)."""
    today = datetime.now(UTC).date()
    answer = httpx.get(
        f"{stack.api_url}/v1/funnel",
        params={
            "from": date.fromordinal(today.toordinal() - 1).isoformat(),
            "to": date.fromordinal(today.toordinal() + 1).isoformat(),
        },
        headers={"authorization": f"Bearer {stack.tokens['agent']}"},
    )
    assert answer.status_code == 200, answer.text
    totals: dict[str, int] = answer.json()["total"]
    return totals


def _local_clock(moment: str, zone: str, *, am_pm: bool = True) -> str:
    """How en-US writes the wall-clock time of ``moment`` in ``zone``: 2:30 PM."""
    value = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    clock = f"{value.hour % 12 or 12}:{value:%M}"
    return f"{clock} {'AM' if value.hour < 12 else 'PM'}" if am_pm else clock


def _screenshot(visitor: Visitor, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    visitor.page.screenshot(path=str(path))
    assert path.stat().st_size > 1000
    return path


# ---------------------------------------------------------------------------- tests


def test_script_and_demo_page_are_served_small_and_self_contained(stack: Any) -> None:
    script = httpx.get(f"{stack.api_url}/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "max-age" in script.headers["cache-control"]
    assert len(gzip.compress(script.content, 9)) < MAX_GZIP_BYTES
    # HTTP APIs do not compress: the function gzips for clients that accept it.
    assert script.headers["content-encoding"] == "gzip"
    assert script.num_bytes_downloaded < MAX_GZIP_BYTES
    assert "accept-encoding" in script.headers["vary"].lower()
    # No third-party requests: the script names no other host, loads no font, stylesheet or script.
    assert not re.search(r"https?://", script.text.split("\n", 1)[1])
    assert "@import" not in script.text and "@font-face" not in script.text
    page = httpx.get(f"{stack.api_url}/widget")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert len(re.findall(r"<script[^>]*\bsrc=", page.text)) == 1
    assert 'src="widget.js"' in page.text
    assert 'data-site-key="pk_demo_site"' in page.text


def test_bad_number_shows_the_api_field_error_next_to_the_phone_field(visitor: Visitor) -> None:
    visitor.open()
    visitor.open_panel()
    visitor.choose("Call me back")
    visitor.panel.get_by_label("Phone number").fill("12")
    with visitor.page.expect_response(lambda r: r.url.endswith("/v1/callbacks")) as answer:
        visitor.panel.get_by_role("button", name="Call me back", exact=True).click()
    response = answer.value
    assert response.status == 422
    problems = {p["field"]: p["message"] for p in response.json()["fields"]}
    assert "phone" in problems
    error = visitor.panel.locator("#rb-phone-e")
    error.wait_for(state="visible")
    assert error.inner_text() == problems["phone"]
    phone = visitor.panel.get_by_label("Phone number")
    assert phone.get_attribute("aria-invalid") == "true"
    assert "rb-phone-e" in (phone.get_attribute("aria-describedby") or "")
    assert visitor.page.evaluate("document.activeElement.shadowRoot.activeElement.id") == "rb-phone"
    invalid = visitor.events("otoInvalidPhone")
    assert len(invalid) == 1
    assert invalid[0]["phone"] == "12"
    assert invalid[0]["kpiGuid"] and invalid[0]["session"] == invalid[0]["kpiGuid"]
    _wait_for(
        lambda: visitor.event_stored("otoInvalidPhone"),
        lambda: f"otoInvalidPhone stored: {visitor.event_posts()}",
        page=visitor.page,
    )
    assert visitor.panel.locator("#rb-done").is_hidden()
    assert visitor.errors == []


@pytest.mark.usefixtures("open_now")
def test_custom_normalisation_hook_null_blocks_the_submit(
    visitor: Visitor, dynamodb: Any, stack: Any
) -> None:
    visitor.open()
    visitor.page.evaluate(
        "window.ringbackWidget.setCustomNumberNormalization(function (typed) {"
        " var d = typed.replace(/\\D/g, ''); return d.length === 9 ? '+420' + d : null; })"
    )
    visitor.open_panel()
    visitor.choose("Call me back")
    visitor.panel.get_by_label("Phone number").fill("777 12")
    visitor.panel.get_by_role("button", name="Call me back", exact=True).click()
    error = visitor.panel.locator("#rb-phone-e")
    error.wait_for(state="visible")
    assert error.inner_text() == "This does not look like a valid phone number."
    invalid = visitor.events("otoInvalidPhone")
    assert [e["problem"] for e in invalid] == ["custom_normalization"]
    assert visitor.callback_posts() == []  # null: the API is not called at all

    # A number the hook accepts is sent in the international form it returned.
    phone = _new_phone()
    visitor.panel.get_by_label("Phone number").fill(phone.replace(" ", "-"))
    answer = visitor.submit("Call me back")
    sent = visitor.callback_posts()[-1].post_data_json
    assert sent["phone"] == _e164(phone)
    assert error.is_hidden()
    _assert_stored(dynamodb, stack, answer, "later", phone)
    _cancel_from_confirmation(visitor, dynamodb, stack, answer["id"])


def test_a_refused_event_is_posted_again_after_its_retry_after_with_the_same_event_id(
    visitor: Visitor,
) -> None:
    refused: list[str] = []

    def refuse_the_first_open(route: Any) -> None:
        body = json.loads(route.request.post_data)
        if body["event"] != "otoOpened" or refused:
            route.continue_()
            return
        refused.append(body["event_id"])
        route.fulfill(
            status=503,
            headers={
                "content-type": "application/json",
                "retry-after": "30",  # the widget's own pause would be 1 s
                "access-control-allow-origin": "*",
                "access-control-expose-headers": "Retry-After",
            },
            body='{"error": "unavailable", "message": "a dependency is unavailable"}',
        )

    visitor.page.clock.install()  # the widget's timers, moved on by the test below
    visitor.page.route("**/v1/events/widget", refuse_the_first_open)
    visitor.open()
    visitor.open_panel()

    def opens() -> list[dict[str, Any]]:
        return [
            body
            for body in (
                json.loads(r.post_data) for r in visitor.requests if r.url.endswith("/v1/events/widget")
            )
            if body["event"] == "otoOpened"
        ]

    _wait_for(
        lambda: refused and ("otoOpened", 503) in visitor.widget_event_statuses(),
        "the refusal",
        page=visitor.page,
    )
    visitor.page.wait_for_timeout(3000)  # past the widget's own first pause: Retry-After is kept
    assert len(opens()) == 1, visitor.event_posts()
    visitor.page.clock.fast_forward(30_000)
    _wait_for(lambda: visitor.event_stored("otoOpened"), visitor.event_posts, page=visitor.page)
    assert [body["event_id"] for body in opens()] == refused * 2  # one event, counted once
    assert [s for e, s in visitor.widget_event_statuses() if e == "otoOpened"] == [503, 202]
    assert visitor.errors == []


@pytest.mark.usefixtures("open_now")
def test_call_me_now_reaches_webitel_at_once_and_can_be_cancelled(
    visitor: Visitor, dynamodb: Any, stack: Any
) -> None:
    funnel_before = _funnel_totals(stack)
    visitor.open()
    assert visitor.fab.inner_text().strip() == "Call me"
    visitor.open_panel()
    _screenshot(visitor, "widget-panel-desktop.png")
    visitor.choose("Now")
    phone = _new_phone()
    visitor.panel.get_by_label("Your name (optional)").fill("Jana Nováková")
    visitor.panel.get_by_label("Phone number").fill(phone)
    answer = visitor.submit("Call me now")
    sent = visitor.callback_posts()[-1]
    assert sent.post_data_json["mode"] == "now"
    key = sent.headers["idempotency-key"]
    assert re.fullmatch(r"[0-9a-f-]{32,36}", key)

    item = _assert_stored(dynamodb, stack, answer, "now", phone)
    assert item["name"]["S"] == "Jana Nováková"
    members = _wait_for(lambda: _members(stack, answer["id"]), "the Webitel member of a 'now' request")
    assert members[0]["communications"][0]["destination"] == _e164(phone)
    assert members[0]["variables"]["page_url"].startswith(stack.api_url)

    # The confirmation names the expected call time in the visitor's zone and language.
    expected = visitor.panel.locator("#rb-done p").first.inner_text()
    assert expected.startswith("Expected call time:")
    assert _local_clock(answer["expected_call_at"], VISITOR_TZ, am_pm=False) in expected
    assert expected.endswith("(New York time)")  # the zone by name, not "EST"
    assert answer["id"] in visitor.panel.locator("#rb-done").inner_text()
    requested = visitor.events("otoSessionRequested")
    assert len(requested) == 1
    assert requested[0]["leadGuid"] == answer["id"] and requested[0]["lead"] == answer["id"]
    assert requested[0]["phone"] == phone and requested[0]["name"] == "Jana Nováková"
    assert visitor.events("otoNoAgentsAvailable") == []  # agents are free

    # A retried submission with the same key gets the same answer (no second request).
    retry = httpx.post(
        f"{stack.api_url}/v1/callbacks",
        content=sent.post_data,
        headers={"content-type": "application/json", "idempotency-key": key, "origin": stack.api_url},
    )
    assert retry.status_code == 202
    assert retry.json()["id"] == answer["id"]

    result = _cancel_from_confirmation(visitor, dynamodb, stack, answer["id"])
    assert result["webitel"] == "stopped"
    assert all(m["stop_cause"] for m in _members(stack, answer["id"]))
    for name in ("otoOpened", "otoSessionRequested"):
        _wait_for(
            lambda: visitor.event_stored(name),  # noqa: B023 (called before the loop moves on)
            lambda: f"{name} stored: {visitor.event_posts()}",  # noqa: B023
            page=visitor.page,
            timeout_s=60,  # a fire-and-forget post; on a loaded machine the events worker starts slowly
        )
    # The posted events reach the event fan-out's daily widget funnel.
    _wait_for(
        lambda: all(_funnel_totals(stack)[k] > funnel_before[k] for k in ("opened", "requested")),
        "the widget funnel to count the visit",
    )
    assert visitor.errors == []


@pytest.mark.usefixtures("open_now")
def test_call_me_back_is_delivered_by_the_schedule_and_can_be_cancelled(
    visitor: Visitor, dynamodb: Any, stack: Any
) -> None:
    visitor.open()
    visitor.open_panel()
    visitor.choose("Call me back")
    phone = _new_phone()
    visitor.panel.get_by_label("Phone number").fill(phone)
    visitor.panel.get_by_label("I agree to be called about my request.").check()
    answer = visitor.submit("Call me back", double_click=True)
    visitor.page.wait_for_timeout(500)
    assert len(visitor.callback_posts()) == 1  # the second click of a double click sends nothing
    assert visitor.callback_posts()[0].post_data_json["consent"] is True
    _assert_stored(dynamodb, stack, answer, "later", phone)
    entry = _outbox_entry(dynamodb, stack, answer["id"])
    assert entry is not None, "a 'later' request must wait in the dialer outbox"
    due = datetime.fromisoformat(entry["due_at"]["S"].replace("Z", "+00:00"))
    if due <= datetime.now(UTC):
        stack.fire("CallbacksSchedule")
        _wait_for(lambda: _members(stack, answer["id"]), "the member uploaded by CallbacksSchedule")
    else:
        assert _members(stack, answer["id"]) == []
    booked = visitor.events("otoCmbRequested")
    assert len(booked) == 1 and booked[0]["leadGuid"] == answer["id"]
    _cancel_from_confirmation(visitor, dynamodb, stack, answer["id"])
    assert all(m["stop_cause"] for m in _members(stack, answer["id"]))


@pytest.mark.usefixtures("open_now")
def test_a_lost_submit_is_retried_with_the_same_idempotency_key(
    visitor: Visitor, dynamodb: Any, stack: Any
) -> None:
    attempts: list[str] = []

    def drop_the_first(route: Any) -> None:
        attempts.append(route.request.headers["idempotency-key"])
        if len(attempts) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    visitor.page.route(f"{stack.api_url}/v1/callbacks", drop_the_first)
    visitor.open()
    visitor.open_panel()
    visitor.choose("Call me back")
    phone = _new_phone()
    visitor.panel.get_by_label("Phone number").fill(phone)
    answer = visitor.submit("Call me back")
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    _assert_stored(dynamodb, stack, answer, "later", phone)

    # A new submission (another request after "New request") gets a new key.
    visitor.panel.get_by_role("button", name="New request").click()
    visitor.choose("Call me back")
    visitor.panel.get_by_label("Phone number").fill(_new_phone())
    second = visitor.submit("Call me back")
    assert len(attempts) == 3 and attempts[2] != attempts[0]
    for callback_id in (answer["id"], second["id"]):
        assert httpx.delete(
            f"{stack.api_url}/v1/callbacks/{callback_id}",
            headers={"authorization": f"Bearer {stack.tokens['agent']}"},
        ).status_code in (200, 202)


@pytest.mark.usefixtures("open_now")
def test_schedule_picks_a_slot_shown_in_the_visitors_timezone(
    visitor: Visitor, dynamodb: Any, stack: Any
) -> None:
    visitor.open()
    visitor.open_panel()
    with visitor.page.expect_response(lambda r: "/v1/callbacks/slots" in r.url) as first_slots:
        visitor.choose("Schedule")
    assert f"tz={VISITOR_TZ.replace('/', '%2F')}" in first_slots.value.url
    slot = visitor.panel.locator("input[name=slot]").first
    slot.wait_for(state="attached", timeout=15_000)
    start = slot.get_attribute("value")
    assert start is not None
    label = visitor.panel.locator("#rb-sched .s label").first.inner_text().strip()
    assert label == _local_clock(start, VISITOR_TZ)
    # The zone by name, as people say it (not "GMT-5" nor the IANA id).
    assert "(New York time)" in visitor.panel.locator("#rb-slot-n").inner_text()
    visitor.panel.locator("#rb-sched .s label").first.click()
    _screenshot(visitor, "widget-schedule-desktop.png")  # docs/img/widget-panel.png is a copy
    phone = _new_phone()
    visitor.panel.get_by_label("Phone number").fill(phone)
    answer = visitor.submit("Book the call")
    assert visitor.callback_posts()[-1].post_data_json["scheduled_at"] == start
    item = _assert_stored(dynamodb, stack, answer, "scheduled", phone)
    assert datetime.fromisoformat(item["slot_start"]["S"].replace("Z", "+00:00")) == datetime.fromisoformat(
        start
    )
    entry = _outbox_entry(dynamodb, stack, answer["id"])
    assert entry is not None
    due = datetime.fromisoformat(entry["due_at"]["S"].replace("Z", "+00:00"))
    if due <= datetime.now(UTC):
        stack.fire("CallbacksSchedule")
        _wait_for(lambda: _members(stack, answer["id"]), "the member uploaded by CallbacksSchedule")
    else:
        stack.fire("CallbacksSchedule")  # not due yet: the uploader leaves it waiting
        assert _members(stack, answer["id"]) == []
    booked = visitor.events("otoCallBooked")
    assert len(booked) == 1
    assert booked[0]["leadGuid"] == answer["id"] and booked[0]["scheduledDate"] == start
    expected = visitor.panel.locator("#rb-done p").first.inner_text()
    assert _local_clock(start, VISITOR_TZ, am_pm=False) in expected
    _screenshot(visitor, "widget-confirmation-desktop.png")
    _cancel_from_confirmation(visitor, dynamodb, stack, answer["id"])
    entry = _outbox_entry(dynamodb, stack, answer["id"])
    assert entry is not None and entry["state"]["S"] == "cancelled"


@pytest.mark.usefixtures("open_now")
def test_keyboard_only_flow(visitor: Visitor, dynamodb: Any, stack: Any) -> None:
    page = visitor.open().page
    active = (
        "document.activeElement && document.activeElement.id === 'ringback-widget' ? 'rb:' + "
        "(document.activeElement.shadowRoot.activeElement.id || document.activeElement.shadowRoot"
        ".activeElement.className || document.activeElement.shadowRoot.activeElement.name) : 'page'"
    )
    page.locator("body").focus()
    for _ in range(15):  # the button is the last tab stop of the page
        page.keyboard.press("Tab")
        if page.evaluate(active) == "rb:fab":
            break
    assert page.evaluate(active) == "rb:fab"
    page.keyboard.press("Enter")
    visitor.panel.wait_for(state="visible")
    assert visitor.fab.get_attribute("aria-expanded") == "true"
    assert page.evaluate(active) == "rb:mode"  # focus moved into the dialog, on the chosen mode
    page.keyboard.press("ArrowRight")  # now -> call me back
    assert visitor.panel.get_by_role("radio", name="Call me back").is_checked()

    # Esc closes and gives the focus back to the button; Enter opens again.
    page.keyboard.press("Escape")
    visitor.panel.wait_for(state="hidden")
    assert page.evaluate(active) == "rb:fab"
    assert visitor.fab.get_attribute("aria-expanded") == "false"
    page.keyboard.press("Enter")
    visitor.panel.wait_for(state="visible")

    # The focus stays inside the dialog (trap) in both directions.
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        where = page.evaluate(active)
        assert where.startswith("rb:") and where != "rb:fab", where
        seen.add(where)
    assert {"rb:rb-name", "rb:rb-phone", "rb:rb-country", "rb:rb-consent"} <= seen
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(active).startswith("rb:")

    # Fill and send the form with keys only.
    visitor.panel.get_by_role("radio", name="Call me back").focus()
    phone = _new_phone()
    page.keyboard.press("Tab")
    page.keyboard.type("Keyboard Person")
    page.keyboard.press("Tab")  # country
    page.keyboard.press("Tab")  # phone
    assert page.evaluate(active) == "rb:rb-phone"
    page.keyboard.type(phone)
    page.keyboard.press("Tab")  # consent
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # submit
    with page.expect_response(lambda r: r.url.endswith("/v1/callbacks")) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 202
    body = answer.value.json()
    visitor.panel.locator("#rb-done").wait_for(state="visible")
    assert page.evaluate(active) == "rb:rb-done-t"  # the confirmation is announced and focused
    _assert_stored(dynamodb, stack, body, "later", phone)

    # Cancel with the keyboard too: Tab to the cancel button, Enter.
    page.keyboard.press("Tab")
    assert page.evaluate(active) == "rb:rb-cancel"
    with page.expect_response(lambda r: f"/v1/callbacks/{body['id']}" in r.url) as cancelled:
        page.keyboard.press("Enter")
    assert cancelled.value.status in (200, 202)
    visitor.panel.get_by_text("Your call has been cancelled.").wait_for()
    page.keyboard.press("Escape")
    visitor.panel.wait_for(state="hidden")
    assert page.evaluate(active) == "rb:fab"
    assert [e["event"] for e in visitor.events("ringbackClosed")] == ["ringbackClosed", "ringbackClosed"]


@pytest.mark.usefixtures("open_now")
def test_status_button_follows_the_agents(visitor: Visitor, dynamodb: Any, stack: Any) -> None:
    sandbox = stack.webitel

    def shows(status: str) -> bool:
        visitor.open()
        return bool(visitor.page.evaluate("window.ringbackWidget.status") == status)

    try:
        assert shows("online")
        assert visitor.page.locator("#ringback-widget .w").get_attribute("data-status") == "online"
        assert visitor.fab.inner_text().strip() == "Call me"

        for agent in ("11", "12"):  # the free agents of the callback queue go on pause
            sandbox.set_agent_status(agent, "pause")
        _wait_for(lambda: shows("busy"), "the busy status", timeout_s=30)
        assert visitor.fab.inner_text().strip() == "Call me back"
        assert "busy" in (visitor.fab.get_attribute("aria-label") or "")
        statuses = visitor.events("ringbackStatus")
        assert statuses[-1]["status"] == "busy" and statuses[-1]["code"] == 2

        # "Now" while everybody is busy: the widget says so (otoNoAgentsAvailable), the request is kept.
        visitor.open_panel()
        assert "All our agents are busy" in visitor.panel.locator("#rb-status").inner_text()
        visitor.choose("Now")
        phone = _new_phone()
        visitor.panel.get_by_label("Phone number").fill(phone)
        answer = visitor.submit("Call me now")
        no_agents = visitor.events("otoNoAgentsAvailable")
        assert len(no_agents) == 1 and no_agents[0]["problem"] == "busy" and no_agents[0]["statusCode"] == 2
        assert len(visitor.events("otoSessionRequested")) == 1
        _assert_stored(dynamodb, stack, answer, "now", phone)
        _cancel_from_confirmation(visitor, dynamodb, stack, answer["id"])

        for agent in ("11", "12", "13"):
            sandbox.set_agent_status(agent, "offline")
        _wait_for(lambda: shows("offline"), "the offline status", timeout_s=30)
        assert visitor.fab.inner_text().strip() == "Leave your number"
        assert visitor.page.locator("#ringback-widget .w").get_attribute("data-status") == "offline"
        # Offline: "call me back" is offered first.
        visitor.open_panel()
        assert visitor.panel.get_by_role("radio", name="Call me back").is_checked()
        assert visitor.events("ringbackStatus")[-1]["code"] == 0
    finally:
        for agent, status in (("11", "online"), ("12", "online"), ("13", "pause")):
            sandbox.set_agent_status(agent, status)
    _wait_for(lambda: shows("online"), "the online status again", timeout_s=30)


def test_phone_width_is_a_full_width_sheet(visitor_factory: Callable[..., Visitor]) -> None:
    visitor = visitor_factory(viewport=PHONE)
    visitor.open()
    assert visitor.fab.evaluate("n => getComputedStyle(n).color") == "rgb(255, 255, 255)"
    visitor.open_panel()
    box = visitor.panel.bounding_box()
    assert box is not None
    assert box["x"] == 0 and box["width"] == PHONE["width"]
    assert abs(box["y"] + box["height"] - PHONE["height"]) <= 1
    phone_input = visitor.panel.get_by_label("Phone number").bounding_box()
    assert phone_input is not None and phone_input["x"] + phone_input["width"] <= PHONE["width"]
    assert visitor.fab.is_hidden()  # the sheet covers the button's place; closing brings it back
    _screenshot(visitor, "widget-panel-phone.png")
    visitor.panel.get_by_role("button", name="Close").click()
    visitor.panel.wait_for(state="hidden")
    assert visitor.fab.is_visible()


def test_czech_texts_colours_and_position_from_data_attributes(
    visitor_factory: Callable[..., Visitor], stack: Any
) -> None:
    visitor = visitor_factory(locale="cs-CZ", timezone="Europe/Prague")
    host_page = (
        '<!doctype html><html lang="cs"><head><meta charset="utf-8"><title>Host</title></head><body>'
        "<h1>Hostitelská stránka</h1>"
        f'<script src="{stack.api_url}/widget.js" data-lang="cs" data-country="SK" data-color="#fc0"'
        ' data-position="left" data-site-key="pk_demo_site"></script></body></html>'
    )
    visitor.page.route(
        f"{stack.api_url}/host-cs",
        lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=host_page),
    )
    visitor.open("/host-cs")
    visitor.open_panel()
    assert visitor.panel.get_by_role("heading", name="Zavoláme vám").is_visible()
    assert visitor.panel.get_by_label("Telefonní číslo").is_visible()
    assert "Slovensko" in visitor.panel.locator("#rb-phone-h").inner_text()
    fab = visitor.fab.bounding_box()
    assert fab is not None and fab["x"] < 100  # data-position="left"
    chosen = visitor.panel.locator(".m input:checked + span")
    assert chosen.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(255, 204, 0)"
    # No data-text-color: the text on a light main colour is dark (contrast), on the default one white.
    assert chosen.evaluate("n => getComputedStyle(n).color") == "rgb(17, 17, 17)"
    visitor.panel.get_by_label("Telefonní číslo").fill("12")
    visitor.panel.get_by_role("button", name=re.compile("^Zavolejte mi")).click()
    visitor.panel.locator("#rb-phone-e").wait_for(state="visible")
    assert visitor.panel.locator("#rb-phone-e").inner_text() == "Toto nevypadá jako platné telefonní číslo."
    sent = visitor.callback_posts()[-1].post_data_json
    assert sent["country"] == "SK" and sent["language"] == "cs"
    visitor.page.keyboard.press("Escape")
    visitor.panel.wait_for(state="hidden")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SMALL_PHONE = {"width": 360, "height": 640}
SHORT_DESKTOP = {"width": 1280, "height": 600}


@pytest.fixture
def open_one_day_only(stack: Any, ssm: Any) -> Iterator[date]:
    """Open only on the weekday two days from now (Prague), 08:00-18:00; yield that day."""
    name = stack.provisioned.names["OperatorConfigParameter"]
    before = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    day = (datetime.now(ZoneInfo("Europe/Prague")) + timedelta(days=2)).date()
    config = {
        **json.loads(before),
        "business_hours": {WEEKDAYS[day.weekday()]: ["08:00-18:00"]},
        "holidays": [],
    }
    ssm.put_parameter(Name=name, Value=json.dumps(config), Overwrite=True, Type="String")
    _wait_for(lambda: httpx.get(f"{stack.api_url}/v1/status").json()["reason"] == "closed", "status closed")
    yield day
    ssm.put_parameter(Name=name, Value=before, Overwrite=True, Type="String")
    _wait_for(
        lambda: httpx.get(f"{stack.api_url}/v1/status").json()["reason"] != "closed", "status open again"
    )


def test_now_is_disabled_with_the_reason_and_closed_days_are_not_offered(
    visitor_factory: Callable[..., Visitor], open_one_day_only: date
) -> None:
    visitor = visitor_factory(timezone="Europe/Prague")
    visitor.open()
    visitor.open_panel()
    now = visitor.panel.get_by_role("radio", name="Now", exact=True)
    assert now.is_disabled()
    assert visitor.panel.get_by_role("radio", name="Call me back").is_checked()
    note = visitor.panel.locator("#rb-now-n")
    assert note.is_visible()
    assert note.inner_text().startswith("Now: not possible, we are closed (we open ")
    assert note.inner_text().endswith(" Prague time).")
    assert now.get_attribute("aria-describedby") == "rb-now-n"  # screen readers hear the reason
    with visitor.page.expect_response(lambda r: "/v1/callbacks/slots" in r.url) as slots:
        visitor.choose("Schedule")
    assert "days=14" in slots.value.url  # the whole horizon in one request
    visitor.panel.locator("input[name=slot]").first.wait_for(state="attached", timeout=15_000)
    offered = visitor.panel.locator("#rb-day option").evaluate_all("os => os.map(o => o.value)")
    # Only the open weekday is offered (twice in a 14-day horizon at most), starting with that day.
    assert offered and offered[0] == open_one_day_only.isoformat()
    assert {date.fromisoformat(d).weekday() for d in offered} == {open_one_day_only.weekday()}
    assert len(offered) <= 2
    assert "(Prague time)" in visitor.panel.locator("#rb-slot-n").inner_text()
    _screenshot(visitor, "widget-now-disabled-closed-days.png")


@pytest.mark.parametrize("viewport", [SMALL_PHONE, SHORT_DESKTOP], ids=["360x640", "1280x600"])
def test_the_panel_fits_and_scrolls(
    visitor_factory: Callable[..., Visitor], viewport: dict[str, int]
) -> None:
    visitor = visitor_factory(viewport=viewport)
    visitor.open()
    visitor.open_panel()
    visitor.choose("Schedule")  # the tallest form: days, times, the zone note
    visitor.panel.locator("input[name=slot]").first.wait_for(state="attached", timeout=15_000)
    box = visitor.panel.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= viewport["width"] and box["y"] + box["height"] <= viewport["height"] + 1
    overflow = visitor.panel.evaluate("n => [n.scrollHeight, n.clientHeight, getComputedStyle(n).overflowY]")
    if overflow[0] > overflow[1]:
        assert overflow[2] in ("auto", "scroll"), overflow  # taller than the window: it scrolls
    submit = visitor.panel.get_by_role("button", name="Book the call", exact=True)

    def inside_the_card() -> bool:
        button, panel = submit.bounding_box(), visitor.panel.bounding_box()
        assert button is not None and panel is not None
        return (
            panel["y"] <= button["y"]
            and button["y"] + button["height"] <= panel["y"] + panel["height"] + 1
            and button["y"] + button["height"] <= viewport["height"]
        )

    # The submit button stays at the bottom of the card (sticky) while the form scrolls under it.
    assert inside_the_card()
    _screenshot(visitor, f"widget-schedule-{viewport['width']}x{viewport['height']}.png")
    visitor.panel.evaluate("n => { n.scrollTop = n.scrollHeight; }")
    assert inside_the_card()
    visitor.panel.locator("#rb-sched .s label").last.click()  # the last time is reachable too
    assert visitor.panel.locator("input[name=slot]").last.is_checked()


def test_docs_screenshot_exists() -> None:
    """docs/widget.md shows a screenshot of the panel (refreshed from test-artifacts/ by hand)."""
    image = ROOT / "docs" / "img" / "widget-panel.png"
    assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "img/widget-panel.png" in (ROOT / "docs" / "widget.md").read_text()

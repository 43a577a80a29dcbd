"""`make demo` / `ringback demo`: walk the whole loop on the running local stack, printing each
step and its result, as a contact center engineer would try it by hand:

1. the widget's availability status (``GET /v1/status``);
2. a "call me now" request from the website (``POST /v1/callbacks``);
3. the member it became in Webitel (searched by ringback's tag, as the dialer does);
4. a Webitel queue hook for that call (an outbound attempt offered to an agent);
5. the projections people query (the call and the request's timeline);
6. a routing lookup for the number, which now says ``pending_callback``;
7. a cancel through the self-service link (the member is stopped in Webitel).

Every step checks its answer; the command stops at the first that is not what it should be
and exits non-zero, so the e2e test runs exactly this against its own stack.

Against a real Webitel (``make run WEBITEL_URL=...``) the member is a real call: the demo then
needs a number of your own (``make demo PHONE=+420...``) and never makes one up.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ringback.domain.outbox import CALLBACK_TAG


class DemoFailed(Exception):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def _request(
    method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return Answer(response.status, json.loads(raw) if raw else None)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Answer(error.code, parsed)


def _demo_phone() -> str:
    """A Czech mobile number of the demo's own (not one of the demo customers')."""
    return f"+420775{secrets.randbelow(1_000_000):06d}"


def _masked(phone: str) -> str:
    return phone[:7] + "***" + phone[-2:]


class Demo:
    def __init__(
        self, stack_json: dict[str, Any], out: Callable[[str], None] = print, phone: str | None = None
    ) -> None:
        self.real_webitel = stack_json.get("webitel") == "real"
        self.phone = phone
        self.api = stack_json["urls"]["api"].rstrip("/")
        self.webitel = stack_json["urls"]["webitel"].rstrip("/")
        self.tokens: dict[str, str] = stack_json["tokens"]
        self.out = out
        self.step = 0

    def _bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def _show(self, title: str, answer: Answer | None, summary: str) -> None:
        self.step += 1
        code = f" -> {answer.status}" if answer is not None else ""
        self.out(f"{self.step}. {title}{code}")
        self.out(f"   {summary}")

    @staticmethod
    def _expect(ok: bool, what: str, answer: Any) -> None:
        if not ok:
            raise DemoFailed(f"{what}: {json.dumps(answer, default=str)[:600]}")

    def _webitel_member(self, queue_id: str, callback_id: str, timeout_s: float = 20) -> dict[str, Any]:
        query = urllib.parse.urlencode({f"variables[{CALLBACK_TAG}]": callback_id, "page": 1, "size": 10})
        url = f"{self.webitel}/call_center/queues/{queue_id}/members?{query}"
        headers = {"X-Webitel-Access": self.tokens["webitel"]}
        deadline = time.monotonic() + timeout_s
        while True:
            answer = _request("GET", url, headers=headers)
            items = (answer.body or {}).get("items") or [] if answer.status == 200 else []
            if items:
                return dict(items[0])
            if time.monotonic() > deadline:
                raise DemoFailed(f"no member for callback {callback_id} in Webitel queue {queue_id}")
            time.sleep(0.5)

    def run(self) -> dict[str, Any]:
        if self.real_webitel and not self.phone:
            raise DemoFailed(
                "this stack talks to a real Webitel, where the demo's member is a real call: "
                "give a number of your own (make demo PHONE=+420...)"
            )
        phone = self.phone or _demo_phone()
        status = _request("GET", f"{self.api}/v1/status")
        self._expect(status.status == 200, "the widget's status", status.body)
        modes = status.body.get("modes", {})
        self._show(
            "Widget status (GET /v1/status)",
            status,
            f"{status.body['status']} ({status.body['reason']}), modes: "
            + ", ".join(f"{m} {'yes' if on else 'no'}" for m, on in modes.items()),
        )
        self._expect(
            modes.get("now") is True,
            "'now' is not offered (the centre is closed or nobody is free; the demo needs it open: "
            "make run without HOURS=template)",
            status.body,
        )

        submit = _request(
            "POST",
            f"{self.api}/v1/callbacks",
            body={"mode": "now", "phone": phone, "name": "Demo Visitor", "source": "demo"},
            headers={"Idempotency-Key": f"demo-{secrets.token_hex(6)}"},
        )
        self._expect(submit.status == 202, "the callback request", submit.body)
        callback = submit.body
        self._show(
            "A 'call me now' request from the website (POST /v1/callbacks)",
            submit,
            f"request {callback['id']} for {_masked(phone)}: {callback['status']}, "
            f"expected call {callback.get('expected_call_at')}",
        )

        queue_id = str(callback.get("queue_id") or "1")
        member = self._webitel_member(queue_id, callback["id"])
        self._show(
            "The member in Webitel (GET /call_center/queues/{q}/members?variables[...])",
            None,
            f"member {member['id']} in queue {queue_id}, priority {member.get('priority')}, "
            f"tagged {CALLBACK_TAG}={callback['id']}",
        )

        call_id = f"demo-{secrets.token_hex(8)}"
        hook = _request(
            "POST",
            f"{self.api}/v1/events/webitel",
            body={
                "event": "offering",
                "direction": "outbound",
                "queue": queue_id,
                "member": str(member["id"]),
                "attempt": str(secrets.randbelow(10**6)),
                "uuid": call_id,
                "agent": "1001",
                "cid": phone,
                "timestamp": str(int(time.time() * 1000)),
                CALLBACK_TAG: callback["id"],
            },
            headers=self._bearer("events"),
        )
        self._expect(hook.status in (200, 202), "the queue hook", hook.body)
        self._show(
            "A Webitel queue hook for that call (POST /v1/events/webitel, offering)",
            hook,
            json.dumps(hook.body)[:200],
        )

        deadline = time.monotonic() + 30
        while True:
            call = _request("GET", f"{self.api}/v1/calls/{call_id}", headers=self._bearer("agent"))
            if call.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self._expect(call.status == 200, "the call's projection", call.body)
        timeline = _request(
            "GET", f"{self.api}/v1/callbacks/{callback['id']}/timeline", headers=self._bearer("agent")
        )
        self._expect(timeline.status == 200, "the request's timeline", timeline.body)
        entries = timeline.body.get("events") or timeline.body.get("timeline") or []
        self._show(
            "The projections (GET /v1/calls/{uuid}, GET /v1/callbacks/{id}/timeline)",
            call,
            f"call {call_id}: {call.body.get('state') or call.body.get('status')}; "
            f"timeline of {callback['id']}: {len(entries)} entries",
        )

        # A lookup past the routing budget answers the safe default ("degraded"), as Webitel's
        # flow needs; the first one of a freshly started worker may be that slow: ask again.
        for _ in range(3):
            routing = _request(
                "GET",
                f"{self.api}/v1/routing?{urllib.parse.urlencode({'cid': phone})}",
                headers=self._bearer("routing"),
            )
            if routing.status != 200 or routing.body.get("reason") != "degraded":
                break
            self.out("   (the lookup answered the degraded default within its time budget; asking again)")
        self._expect(
            routing.status == 200 and routing.body.get("pending_callback") is True,
            "the routing lookup does not say pending_callback",
            routing.body,
        )
        self._show(
            "A routing lookup for that number (GET /v1/routing?cid=...)",
            routing,
            f"pending_callback={routing.body['pending_callback']}, found={routing.body.get('found')}",
        )

        link = (callback.get("self_service") or {}).get("cancel") or {}
        self._expect(bool(link.get("url")), "the request has no self-service cancel link", callback)
        cancel = _request(str(link.get("method") or "DELETE"), str(link["url"]))
        self._expect(cancel.status == 200, "the cancel", cancel.body)
        self._show(
            "A cancel through the self-service link",
            cancel,
            f"request {cancel.body.get('status')}, Webitel member {cancel.body.get('webitel')}",
        )
        self.out("The whole loop works: website -> ringback -> Webitel -> hooks -> projections -> routing.")
        return {
            "callback_id": callback["id"],
            "member_id": str(member["id"]),
            "queue_id": queue_id,
            "call_id": call_id,
            "cancel": cancel.body,
        }


def run(stack_json: dict[str, Any], phone: str | None = None) -> int:
    try:
        Demo(stack_json, phone=phone).run()
    except DemoFailed as failed:
        print(f"demo stopped: {failed}")
        return 1
    except OSError as error:
        print(f"demo stopped: the local stack did not answer ({error}); is `make run` still up?")
        return 1
    return 0

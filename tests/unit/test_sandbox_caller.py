"""The sandbox's caller knob interprets the flow of docs/ivr-callbacks.md as flow_manager runs it:
every branch of the page's flow, with a fake ringback answering the requests it sends."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.webitel_sandbox import caller, flow_text, hooks

pytestmark = pytest.mark.unit

NOW_MS = 1_764_633_600_000
TOKENS = {"routing": "routing-secret-token", "ivr": "ivr-secret-token"}


@dataclass
class FakeRingback:
    """Answers by path; records what was sent (URL, headers, body)."""

    answers: dict[str, Any] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: urllib.request.Request, timeout_s: float) -> tuple[int, str, bytes]:
        path = request.full_url.split("127.0.0.1:3000", 1)[1]
        raw = request.data if isinstance(request.data, bytes) else b""
        self.sent.append(
            {
                "url": request.full_url,
                "method": request.get_method(),
                "headers": {k.lower(): v for k, v in request.header_items()},
                "raw": raw,
                "body": json.loads(raw) if raw else None,
                "timeout_s": timeout_s,
            }
        )
        answer = self.answers.get(path)
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return 404, "application/json", b'{"error": "not_found"}'
        status, body = answer
        return status, "application/json", json.dumps(body).encode()

    def paths(self) -> list[str]:
        return [s["url"].split("127.0.0.1:3000", 1)[1] for s in self.sent]


def routing(**fields: Any) -> tuple[int, dict[str, Any]]:
    answer = {
        "found": False,
        "debt": False,
        "language": "cs",
        "pending_callback": False,
        "callback_id": None,
        "offer_callback": True,
        "estimated_wait_s": "420",
        "wait_queue_id": "3",
        "offer_say": "Budete čekat přibližně 7 minut. Chcete-li si podržet své pořadí, stiskněte 1.",
        "pending_say": None,
        "kept_say": None,
    }
    if fields.get("pending_callback"):
        answer.update(pending_say="Chcete-li ji zrušit, stiskněte 2.", kept_say="Zavoláme vám. Na shledanou.")
    answer.update(fields)
    return 200, answer


ACCEPTED = (
    200,
    {
        "accepted": "true",
        "callback_id": "cb-1",
        "linked": "false",
        "expected_call_in_s": "300",
        "position": "2",
        "say": "Zavoláme vám asi za 5 minut.",
        "reason": "",
    },
)


def desk(ringback: FakeRingback) -> caller.CallerDesk:
    target = hooks.HookTarget("http://127.0.0.1:3000/v1/events/webitel", "events-token")
    return caller.CallerDesk(lambda: target, clock=lambda: NOW_MS, send=ringback)


def play(ringback: FakeRingback, **spec: Any) -> dict[str, Any]:
    return desk(ringback).play({"cid": "+420777123456", "tokens": TOKENS, **spec})


def apps(report: dict[str, Any]) -> list[str]:
    return [step["app"] for step in report["transcript"] if step["app"] not in ("if", "js")]


def test_accept_sends_the_flows_requests_says_the_answer_and_hangs_up() -> None:
    ringback = FakeRingback({"/v1/routing": routing(), "/v1/callbacks/ivr": ACCEPTED})
    report = play(ringback, press="1", call_id="call-uuid-1")
    assert report["state"] == "hung_up"
    assert apps(report) == ["httpRequest", "joinQueue", "timer", "tts", "httpRequest", "tts", "hangup"]
    lookup, accept = ringback.sent
    assert lookup["url"] == "http://127.0.0.1:3000/v1/routing" and lookup["method"] == "POST"
    assert lookup["headers"]["authorization"] == "Bearer routing-secret-token"
    assert lookup["headers"]["content-type"] == "application/json"
    assert lookup["body"] == {"cid": "+420777123456"}
    assert lookup["timeout_s"] == 1.0
    assert accept["url"] == "http://127.0.0.1:3000/v1/callbacks/ivr"
    assert accept["headers"]["authorization"] == "Bearer ivr-secret-token"
    # Go's json.Marshal of the data map: keys sorted, compact; then ${...} substituted.
    assert accept["raw"] == (
        b'{"call_id":"call-uuid-1","cid":"+420777123456","joined_at":"1764633600000",'
        b'"language":"cs","queue_id":"3"}'
    )
    spoken = [s["text"] for s in report["transcript"] if s["app"] == "tts"]
    assert spoken[0].startswith("Budete čekat přibližně 7 minut.")  # the lookup's offer_say
    assert spoken[1] == "Zavoláme vám asi za 5 minut."
    assert report["variables"]["ringback_accepted"] == "true"
    assert report["variables"]["ringback_position"] == "2"
    # The transcript never shows a token.
    assert "secret" not in json.dumps(report["transcript"])


def test_declined_or_unanswered_accept_keeps_the_caller_waiting_in_the_queue() -> None:
    declined = (200, {"accepted": "false", "reason": "degraded", "say": "Zůstaňte prosím na lince."})
    ringback = FakeRingback({"/v1/routing": routing(), "/v1/callbacks/ivr": declined})
    report = play(ringback, press="1")
    assert report["state"] == "waiting" and "hangup" not in apps(report)
    assert report["transcript"][-1] == {"app": "tts", "text": "Zůstaňte prosím na lince."}

    silent = FakeRingback({"/v1/routing": routing(), "/v1/callbacks/ivr": TimeoutError("timed out")})
    report = play(silent, press="1")
    assert report["state"] == "waiting"
    failed = [s for s in report["transcript"] if s["app"] == "httpRequest"][-1]
    assert "TimeoutError" in failed["error"] and "ringback_accepted" not in report["variables"]
    assert report["transcript"][-1]["text"].startswith("Sorry, we cannot arrange a callback now.")


@pytest.mark.parametrize("press", [None, "2", "9"])
def test_no_key_or_another_key_sends_nothing_and_the_caller_waits(press: str | None) -> None:
    ringback = FakeRingback({"/v1/routing": routing()})
    report = play(ringback, press=press)
    assert ringback.paths() == ["/v1/routing"] and report["state"] == "waiting"
    prompt = [s for s in report["transcript"] if s["app"] == "tts"]
    assert len(prompt) == 1 and prompt[0]["set_var"] == "ringback_key"
    assert ("ringback_key" in report["variables"]) is (press is not None)


@pytest.mark.parametrize(
    "answer",
    [routing(offer_callback=False), (401, {"error": "unauthorized"}), OSError("connection refused")],
    ids=["no-offer", "401", "unreachable"],
)
def test_without_an_offer_the_caller_just_waits(answer: Any) -> None:
    ringback = FakeRingback({"/v1/routing": answer})
    report = play(ringback, press="1")
    assert ringback.paths() == ["/v1/routing"]
    assert report["state"] == "waiting" and apps(report) == ["httpRequest", "joinQueue", "timer"]


def test_a_repeat_caller_cancels_with_2() -> None:
    cancelled = (200, {"cancelled": "true", "callback_id": "cb-9", "say": "Zrušeno.", "reason": ""})
    ringback = FakeRingback(
        {
            "/v1/routing": routing(pending_callback=True, callback_id="cb-9", offer_callback=False),
            "/v1/callbacks/ivr/cancel": cancelled,
        }
    )
    report = play(ringback, press="2", call_id="repeat-call")
    assert report["state"] == "hung_up"
    assert apps(report) == ["httpRequest", "tts", "httpRequest", "tts", "hangup"]
    cancel = ringback.sent[1]
    assert cancel["url"].endswith("/v1/callbacks/ivr/cancel")
    assert cancel["headers"]["authorization"] == "Bearer ivr-secret-token"
    assert cancel["raw"] == b'{"call_id":"repeat-call","cid":"+420777123456"}'
    assert report["transcript"][-2] == {"app": "tts", "text": "Zrušeno."}
    spoken = [s["text"] for s in report["transcript"] if s["app"] == "tts"]
    assert spoken[0] == "Chcete-li ji zrušit, stiskněte 2."  # the lookup's pending_say


@pytest.mark.parametrize("press", ["1", None])
def test_a_repeat_caller_keeps_the_request_with_1_or_no_key(press: str | None) -> None:
    ringback = FakeRingback({"/v1/routing": routing(pending_callback=True, offer_callback=False)})
    report = play(ringback, press=press)
    assert ringback.paths() == ["/v1/routing"]
    assert report["state"] == "hung_up" and "joinQueue" not in apps(report)
    spoken = [s["text"] for s in report["transcript"] if s["app"] == "tts"]
    assert spoken == ["Chcete-li ji zrušit, stiskněte 2.", "Zavoláme vám. Na shledanou."]


def test_a_held_caller_waits_until_the_timers_fire_and_each_fires_its_tries_only() -> None:
    ringback = FakeRingback({"/v1/routing": routing(), "/v1/callbacks/ivr": ACCEPTED})
    calls = desk(ringback)
    report = calls.play({"cid": "+420777123456", "tokens": TOKENS, "hold": True, "call_id": "held"})
    assert report["state"] == "waiting" and apps(report) == ["httpRequest", "joinQueue"]
    assert report["variables"]["ringback_joined_at"] == str(NOW_MS)
    after = calls.fire_timers("held", {"press": "1"})
    assert after["state"] == "hung_up" and ringback.paths() == ["/v1/routing", "/v1/callbacks/ivr"]
    assert calls.call("held") == after
    with pytest.raises(caller.FlowError, match="not waiting"):
        calls.fire_timers("held", {})


def test_a_held_caller_whose_timer_ran_out_of_tries_stays_waiting() -> None:
    ringback = FakeRingback({"/v1/routing": routing()})
    calls = desk(ringback)
    calls.play({"cid": "+420777123456", "tokens": TOKENS, "hold": True, "call_id": "held"})
    calls.fire_timers("held", {})
    before = len(calls.call("held")["transcript"])
    calls.fire_timers("held", {"press": "1"})  # tries: 1 in the page's flow
    assert len(calls.call("held")["transcript"]) == before


def test_values_are_json_escaped_in_the_body_and_the_queue_can_be_another() -> None:
    ringback = FakeRingback({"/v1/routing": routing(language="čš<&>\n"), "/v1/callbacks/ivr": ACCEPTED})
    report = play(ringback, cid='+420 777 "12"', press="1", queue_id="7")
    assert ringback.sent[0]["raw"] == b'{"cid":"+420 777 \\"12\\""}'
    assert ringback.sent[0]["body"] == {"cid": '+420 777 "12"'}
    assert '"language":"čš\\u003c\\u0026\\u003e\\n"' in ringback.sent[1]["raw"].decode()
    assert ringback.sent[1]["body"]["language"] == "čš<&>\n"
    assert [s["queue_id"] for s in report["transcript"] if s["app"] == "joinQueue"] == ["7"]


def test_json_escaping_is_flow_managers_not_gos() -> None:
    # model/json.go JsonString: a backslash, and a quote after one, are copied as they are.
    assert flow_text.json_string('a\\"b') == 'a\\"b'
    assert flow_text.json_string('a"b') == 'a\\"b'
    assert flow_text.json_string("\u2028\x01\x7f") == "\\u2028\\u0001\x7f"
    assert flow_text.substitute_json('{"a":"${x}","b":"${unset}"}', {"x": "1"}) == '{"a":"1","b":""}'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"tokens": TOKENS}, "cid"),
        ({"cid": "+420777123456"}, "tokens"),
        ({"cid": "+420777123456", "tokens": {"routing": 1}}, "tokens"),
        ({"cid": "+420777123456", "tokens": TOKENS, "timeout_ms": 0}, "timeout_ms"),
        ({"cid": "+420777123456", "tokens": TOKENS, "press": {"key": 1}}, "press"),
    ],
)
def test_bad_requests_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(caller.FlowError, match=message):
        desk(FakeRingback()).play(spec)


def test_a_missing_token_a_missing_target_and_a_replayed_call_are_refused() -> None:
    ringback = FakeRingback({"/v1/routing": routing()})
    with pytest.raises(caller.FlowError, match=r"tokens\.ivr"):
        desk(ringback).play({"cid": "+1", "tokens": {"routing": "r"}, "press": "1"})
    with pytest.raises(caller.FlowError, match="hooks"):
        caller.CallerDesk(lambda: None, send=ringback).play({"cid": "+1", "tokens": TOKENS})
    calls = desk(ringback)
    calls.play({"cid": "+1", "tokens": TOKENS, "call_id": "c"})
    with pytest.raises(caller.FlowError, match="played already"):
        calls.play({"cid": "+1", "tokens": TOKENS, "call_id": "c"})


def test_an_app_the_sandbox_does_not_interpret_is_refused() -> None:
    calls = caller.CallerDesk(
        lambda: hooks.HookTarget("http://127.0.0.1:3000/x", "t"),
        flow=lambda: [{"ccPosition": {"setVar": "p"}}],
        send=FakeRingback(),
    )
    with pytest.raises(caller.FlowError, match="ccPosition"):
        calls.play({"cid": "+1", "tokens": TOKENS})


# -- the pieces of flow_manager it transcribes -------------------------------------------------


def test_gjson_strings_as_webitel_exports_them() -> None:
    body = {"t": True, "f": False, "n": None, "i": 12, "x": 1.5, "s": "a", "o": {"k": [1, 2]}}
    assert [caller.gjson_string(body, p) for p in ("t", "f", "n", "i", "x", "s", "missing")] == [
        "true",
        "false",
        "",
        "12",
        "1.5",
        "a",
        "",
    ]
    assert caller.gjson_string(body, "o") == '{"k":[1,2]}'
    assert caller.gjson_string(body, "o.k.1") == "2"
    assert caller.gjson_string(None, "t") == ""


def test_go_json_sorts_keys_and_escapes_html() -> None:
    assert flow_text.go_json({"b": "<&>", "a": "ž"}) == '{"a":"ž","b":"\\u003c\\u0026\\u003e"}'


def test_other_scripts_are_refused() -> None:
    with pytest.raises(caller.FlowError, match="js"):
        caller.run_js("return 1;", {}, NOW_MS)
    with pytest.raises(caller.FlowError, match="js"):  # the page no longer computes the minutes
        caller.run_js("return String(Math.max(1, Math.ceil(${estimated_wait_s} / 60)));", {}, NOW_MS)


_VALUES = st.sampled_from(["", "true", "false", "1", "2"])


@given(
    a=_VALUES,
    b=_VALUES,
    x=_VALUES,
    y=_VALUES,
    ops=st.tuples(st.sampled_from(["==", "!="]), st.sampled_from(["==", "!="])),
    join=st.sampled_from(["&&", "||"]),
    grouped=st.booleans(),
)
def test_expressions_compare_strings_as_javascript_does(
    a: str, b: str, x: str, y: str, ops: tuple[str, str], join: str, grouped: bool
) -> None:
    left = f'${{a}} {ops[0]} "{x}"'
    right = f'${{b}} {ops[1]} "{y}"'
    expression = f"({left}) {join} ({right})" if grouped else f"{left} {join} {right}"
    python_left = (a == x) if ops[0] == "==" else (a != x)
    python_right = (b == y) if ops[1] == "==" else (b != y)
    expected = (python_left and python_right) if join == "&&" else (python_left or python_right)
    assert caller.evaluate(expression, {"a": a, "b": b}) is expected


@pytest.mark.parametrize("expression", ["${a} > 1", "${a} == ", "isNaN(${a})", '${a} == "1" &&'])
def test_expressions_it_cannot_evaluate_are_refused(expression: str) -> None:
    with pytest.raises(caller.FlowError, match="cannot evaluate"):
        caller.evaluate(expression, {"a": "1"})


@given(value=st.text().filter(lambda v: "\\" not in v))
def test_any_value_without_a_backslash_arrives_intact_in_the_json_body(value: str) -> None:
    # With a backslash flow_manager passes the value's own escapes through (see above).
    body = flow_text.substitute_json(flow_text.go_json({"cid": "${cid}"}), {"cid": value})
    assert json.loads(body) == {"cid": value}

"""The sandbox plays an inbound caller: ``POST /_sandbox/caller``.

The flow is not a copy: it is the JSON snippet of docs/ivr-callbacks.md ("The inbound flow
schema"), read when a caller is played, and interpreted as flow_manager runs it, so the page and
the knob cannot drift apart. What is transcribed from flow_manager (docs/webitel-contract.md):

* the flow is an array of apps run in order (``flow/flow.go``); an app that fails is logged and
  the flow goes on (``flow/handler.go`` ``Route``);
* ``${name}`` is replaced by the variable's value, nothing when unset (``model/variables.go``
  ``ParseText``); in ``httpRequest.data`` (an object, marshalled to JSON with its keys sorted, as
  Go's ``json.Marshal`` does a map) each value is JSON-escaped (``ParseOptionJson``);
* ``httpRequest`` (``flow/http.go``): ``url``, ``method`` (POST), ``headers`` (``content-type``
  defaults to ``application/json``), ``timeout`` (ms, default 1000, one attempt); ``responseCode``
  receives the status; ``exportVariables`` reads gjson paths from a JSON answer, every value a
  string (``true`` -> ``"true"``, ``null`` or missing -> ``""``); a failed request sets nothing;
* ``if`` (``flow/if.go``): ``${name}`` becomes the variable's string; the knob evaluates the
  comparisons the page uses (``==``, ``!=`` on strings, ``&&``, ``||``, parentheses) and refuses
  anything else;
* ``js`` (``flow/javascript.go``): only the function the page uses (the time now in epoch
  ms); any other script is refused;
* ``tts`` with ``getDigits`` (``routes/call/tts.go``, ``providers/fs/control.go``): the key the
  caller presses goes to ``setVar`` (``MyVar`` when not set); no key sets nothing;
* ``joinQueue`` (``routes/call/queue.go``): the caller waits in the queue; its ``timers``
  (``flow/timer.go``: ``interval``, ``tries``, ``actions``) fire in order, each once per firing;
* ``hangup`` (``routes/call/hangup.go``) ends the call.

Requests go to ringback's API at the address of the hook target (``POST /_sandbox/hooks``): the
snippet's host is replaced by that one, its paths kept, and its token placeholders by the tokens
of the request.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from devstack.webitel_sandbox import hooks
from devstack.webitel_sandbox.flow_text import go_json, substitute_json, substitute_text

DOC: Final = Path(__file__).resolve().parents[2] / "docs" / "ivr-callbacks.md"
FLOW_HEADING: Final = "## The inbound flow schema"
# The snippet's token placeholders, by the name of the token put in their place.
TOKEN_PLACEHOLDERS: Final = {
    "routing": "REPLACE_WITH_A_ROUTING_TOKEN",
    "ivr": "REPLACE_WITH_AN_IVR_TOKEN",
}
DEFAULT_DIGITS_VAR: Final = "MyVar"  # providers/fs/control.go PlaybackUrlAndGetDigits
DEFAULT_HTTP_TIMEOUT_MS: Final = 1000  # flow/http.go buildHttpClient

# The script the page's ``js`` app runs, with what it computes (otto is not reimplemented).
_JS_NOW: Final = re.compile(r"return String\(Date\.now\(\)\);")


class FlowError(ValueError):
    """The request to play a caller, or the flow, is not something the knob can run."""


def inbound_flow(doc: Path = DOC) -> list[dict[str, Any]]:
    """The first JSON block after the flow heading of docs/ivr-callbacks.md."""
    text = doc.read_text(encoding="utf-8")
    after = text[text.index(FLOW_HEADING) :]
    match = re.search(r"```json\n(.*?)```", after, flags=re.S)
    if match is None:
        raise FlowError(f"no JSON flow under {FLOW_HEADING!r} in {doc.name}")
    flow: list[dict[str, Any]] = json.loads(match.group(1))
    return flow


def gjson_string(body: Any, path: str) -> str:
    """gjson.GetBytes(body, path) as flow/http.go exports it: JSON compacted, else String()."""
    value: Any = body
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, str):
        return value
    return json.dumps(value)


# -- if expressions ---------------------------------------------------------------------------

_TOKEN: Final = re.compile(r'\s*(\$\{[^}]*\}|"(?:[^"\\]|\\.)*"|==|!=|&&|\|\||\(|\))')


def evaluate(expression: str, variables: Mapping[str, str]) -> bool:
    """The comparisons of flow/if.go the page uses: ``${a} == "x" && (${b} != "" || ...)``."""
    tokens: list[str] = []
    position = 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise FlowError(f"the sandbox cannot evaluate this expression: {expression!r}")
        tokens.append(match.group(1))
        position = match.end()
    parser = _Expression(tokens, variables, expression)
    result = parser.disjunction()
    if parser.index != len(tokens):
        raise FlowError(f"the sandbox cannot evaluate this expression: {expression!r}")
    return result


@dataclass
class _Expression:
    tokens: list[str]
    variables: Mapping[str, str]
    source: str
    index: int = 0

    def _peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise FlowError(f"the sandbox cannot evaluate this expression: {self.source!r}")
        self.index += 1
        return token

    def disjunction(self) -> bool:
        result = self.conjunction()
        while self._peek() == "||":
            self._take()
            right = self.conjunction()
            result = result or right
        return result

    def conjunction(self) -> bool:
        result = self.comparison()
        while self._peek() == "&&":
            self._take()
            right = self.comparison()
            result = result and right
        return result

    def comparison(self) -> bool:
        if self._peek() == "(":
            self._take()
            result = self.disjunction()
            if self._take() != ")":
                raise FlowError(f"the sandbox cannot evaluate this expression: {self.source!r}")
            return result
        left = self._operand()
        operator = self._take()
        right = self._operand()
        if operator == "==":
            return left == right
        if operator == "!=":
            return left != right
        raise FlowError(f"the sandbox cannot evaluate this expression: {self.source!r}")

    def _operand(self) -> str:
        token = self._take()
        if token.startswith("${"):
            # sys.getVariable("name"): a string, "" when unset.
            return self.variables.get(token[2:-1], "")
        if token.startswith('"'):
            value: str = json.loads(token)
            return value
        raise FlowError(f"the sandbox cannot evaluate this expression: {self.source!r}")


def run_js(data: str, variables: Mapping[str, str], now_ms: int) -> str:
    if _JS_NOW.fullmatch(data.strip()):
        return str(now_ms)
    raise FlowError(f"the sandbox cannot run this js: {data!r}")


# -- the call ---------------------------------------------------------------------------------


class _Hangup(Exception):
    pass


class _InQueue(Exception):
    pass


# (request, timeout in seconds) -> (status, content type, body); raises OSError when no answer.
Sender = Callable[[urllib.request.Request, float], tuple[int, str, bytes]]


def send_http(request: urllib.request.Request, timeout_s: float) -> tuple[int, str, bytes]:
    """Once, no retry (flow/http.go); an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # the hook target: loopback
            return answer.status, answer.headers.get("content-type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read()


@dataclass
class Endpoint:
    """Where ringback is (the hook target's scheme and host) and the tokens to put in place."""

    base_url: str
    tokens: Mapping[str, str]
    timeout_ms: int | None = None


@dataclass
class PlayedCall:
    call_id: str
    endpoint: Endpoint
    press: str | None
    queue_id: str | None
    clock: Callable[[], int]
    send: Sender
    variables: dict[str, str] = field(default_factory=dict)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    state: str = "ringing"
    timers: list[dict[str, Any]] = field(default_factory=list)
    timer_runs: list[int] = field(default_factory=list)
    # One firing at a time: two timer requests for the same call run one after the other.
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- running ----------------------------------------------------------------------------

    def run(self, flow: list[dict[str, Any]]) -> None:
        self.state = "in_flow"
        try:
            self._apps(flow)
            self.state = "ended"
        except _InQueue:
            self.state = "waiting"
        except _Hangup:
            self.state = "hung_up"

    def fire_timers(self) -> int:
        """Each timer of the queue the caller waits in, once (if it has tries left)."""
        if self.state != "waiting":
            raise FlowError(f"call {self.call_id} is not waiting in a queue (state {self.state})")
        fired = 0
        try:
            for index, timer in enumerate(self.timers):
                interval = int(timer.get("interval") or 0)
                tries = int(timer.get("tries") or 0) or 999  # flow/timer.go
                if interval <= 0 or self.timer_runs[index] >= tries:
                    continue
                self.timer_runs[index] += 1
                fired += 1
                self.transcript.append({"app": "timer", "index": index, "interval": interval})
                self._apps(list(timer.get("actions") or []))
        except _Hangup:
            self.state = "hung_up"
        return fired

    def _apps(self, apps: list[dict[str, Any]]) -> None:
        for step in apps:
            for name, args in step.items():
                handler = getattr(self, f"_app_{name}", None)
                if handler is None:
                    raise FlowError(f"the sandbox does not interpret the app {name!r}")
                handler(args)

    def _app_if(self, args: dict[str, Any]) -> None:
        expression = str(args.get("expression") or "")
        result = evaluate(expression, self.variables)
        self.transcript.append({"app": "if", "expression": expression, "result": result})
        self._apps(list(args.get("then" if result else "else") or []))

    def _app_js(self, args: dict[str, Any]) -> None:
        data = str(args.get("data") or "")
        name = str(args.get("setVar") or "")
        value = run_js(data, self.variables, self.clock())
        if name:
            self.variables[name] = value
        self.transcript.append({"app": "js", "data": data, "set": {name: value}})

    def _app_tts(self, args: dict[str, Any]) -> None:
        text = substitute_text(str(args.get("text") or ""), self.variables)
        entry: dict[str, Any] = {"app": "tts", "text": text}
        if not text:
            # routes/call/tts.go: "text" is required; the flow goes on.
            entry["error"] = "tts: text is required"
        digits = args.get("getDigits")
        if isinstance(digits, dict) and text:
            name = str(digits.get("setVar") or DEFAULT_DIGITS_VAR)
            entry["digits"] = self.press
            entry["set_var"] = name
            if self.press:
                self.variables[name] = self.press
        self.transcript.append(entry)

    def _app_hangup(self, args: Any) -> None:
        self.transcript.append({"app": "hangup", "cause": str(args or "")})
        raise _Hangup

    def _app_joinQueue(self, args: dict[str, Any]) -> None:
        queue = args.get("queue") or {}
        queue_id = self.queue_id or str(queue.get("id") or "")
        self.timers = [t for t in args.get("timers") or [] if isinstance(t, dict)]
        self.timer_runs = [0] * len(self.timers)
        self.transcript.append(
            {
                "app": "joinQueue",
                "queue_id": queue_id,
                "priority": args.get("priority", 0),
                "timers": [int(t.get("interval") or 0) for t in self.timers],
            }
        )
        raise _InQueue

    def _app_httpRequest(self, args: dict[str, Any]) -> None:
        url = self._rebase(substitute_text(str(args.get("url") or ""), self.variables).strip())
        method = str(args.get("method") or "POST").upper()
        headers = {
            str(k): self._token(substitute_text(str(v), self.variables))
            for k, v in (args.get("headers") or {}).items()
        }
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/json"
        body = b""
        data = args.get("data")
        if isinstance(data, str):
            body = substitute_text(data, self.variables).encode()
        elif data is not None:
            # An object: marshalled, then each value JSON-escaped (ParseOptionJson).
            body = substitute_json(go_json(data), self.variables).encode()
        timeout_ms = self.endpoint.timeout_ms or int(args.get("timeout") or DEFAULT_HTTP_TIMEOUT_MS)
        entry: dict[str, Any] = {
            "app": "httpRequest",
            "method": method,
            "url": url,
            "headers": {k: _masked(k, v) for k, v in headers.items()},
            "body": _parsed(body),
            "timeout_ms": timeout_ms,
        }
        self.transcript.append(entry)
        request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
        try:
            status, content_type, raw = self.send(request, timeout_ms / 1000)
        except OSError as error:
            # flow/http.go: the app fails, nothing is set, the flow goes on.
            entry["error"] = f"{type(error).__name__}: {error}"
            return
        entry["status"] = status
        entry["answer"] = _parsed(raw)
        exported: dict[str, str] = {}
        if args.get("responseCode"):
            exported[str(args["responseCode"])] = str(status)
        export = args.get("exportVariables")
        if raw and isinstance(export, dict) and "application/json" in content_type:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            for name, path in export.items():
                exported[str(name)] = gjson_string(parsed, str(path))
        self.variables.update(exported)
        entry["exported"] = exported

    def _rebase(self, url: str) -> str:
        base = urlsplit(self.endpoint.base_url)
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def _token(self, value: str) -> str:
        for name, placeholder in TOKEN_PLACEHOLDERS.items():
            if placeholder in value:
                token = self.endpoint.tokens.get(name)
                if not token:
                    raise FlowError(f"tokens.{name} is required (the flow sends {placeholder})")
                value = value.replace(placeholder, token)
        return value

    def report(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "state": self.state,
            "variables": dict(self.variables),
            "transcript": list(self.transcript),
        }


def _masked(name: str, value: str) -> str:
    if name.lower() == "authorization":
        scheme, _, token = value.partition(" ")
        return f"{scheme} ***" if token else "***"
    return value


def _parsed(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class CallerDesk:
    """The calls the sandbox has played, by call id (a held call waits for its timers)."""

    def __init__(
        self,
        target: Callable[[], hooks.HookTarget | None],
        flow: Callable[[], list[dict[str, Any]]] = inbound_flow,
        clock: Callable[[], int] = lambda: int(time.time() * 1000),
        send: Sender = send_http,
    ) -> None:
        self._target = target
        self._flow = flow
        self._clock = clock
        self._send = send
        self._calls: dict[str, PlayedCall] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def play(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """``{"cid", "tokens": {"routing", "ivr"}, "press", "queue_id", "call_id", "hold",
        "timeout_ms"}``: run the flow for this caller; the transcript of every step."""
        cid = spec.get("cid")
        if not isinstance(cid, str) or not cid.strip():
            raise FlowError("cid: the caller's number is required")
        tokens = spec.get("tokens")
        if not isinstance(tokens, dict) or not all(isinstance(v, str) for v in tokens.values()):
            raise FlowError('tokens: {"routing": "...", "ivr": "..."} is required')
        target = self._target()
        if target is None:
            raise FlowError(
                "no API address: POST /_sandbox/hooks {url, token} first (the caller calls that host)"
            )
        parts = urlsplit(target.url)
        timeout_ms = spec.get("timeout_ms")
        if timeout_ms is not None and (
            not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms < 1
        ):
            raise FlowError("timeout_ms: a positive integer (milliseconds)")
        call = PlayedCall(
            call_id=_text(spec, "call_id") or str(uuid.uuid4()),
            endpoint=Endpoint(f"{parts.scheme}://{parts.netloc}", dict(tokens), timeout_ms),
            press=_text(spec, "press") or None,
            queue_id=_text(spec, "queue_id") or None,
            clock=self._clock,
            send=self._send,
        )
        # The channel's variables (providers/fs/variables.go): the caller's number, the call's id.
        call.variables.update({"caller_id_number": cid.strip(), "uuid": call.call_id})
        with self._lock:
            if call.call_id in self._calls:
                raise FlowError(f"call_id: call {call.call_id} was played already")
            self._calls[call.call_id] = call
        flow = self._flow()
        call.run(flow)
        if call.state == "waiting" and not spec.get("hold"):
            call.fire_timers()
        return call.report()

    def fire_timers(self, call_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The timers of a held caller's queue fire now; ``press`` is the key for their prompts."""
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:
            raise FlowError(f"call {call_id} was not played by this sandbox")
        with call.lock:
            if "press" in spec:
                call.press = _text(spec, "press") or None
            call.fire_timers()
            return call.report()

    def call(self, call_id: str) -> dict[str, Any]:
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:
            raise FlowError(f"call {call_id} was not played by this sandbox")
        return call.report()


def _text(spec: Mapping[str, Any], name: str) -> str:
    value = spec.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FlowError(f"{name}: must be a string")
    return str(value).strip()

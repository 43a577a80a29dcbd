"""IvrCallbacksFunction's entry point (template.yaml ``Handler: entry.lambda_handler``).

A caller in a Webitel queue waits on the accept and the cancel, and the flow's ``httpRequest``
gives up after 1000 ms, a new container's imports included. Powertools' event handler (its
package loads every resolver) is not needed to answer them, so the two routes are answered
here by the resolver's own steps without the resolver: the same body gate (``api.gate``), the
same token check, body reading and answers (``api.ivr_reply``), the same service calls and the
same error answers (``api.answers``, which the resolver registers). Whatever else comes (a body
the gate refuses, another route, an event of another shape) goes to the resolver,
``ivr_api.py`` (a name no other function's folder has), imported on the first such request:
nothing is done before that choice but reads, so it is answered once and the same way. The
schedule's ``{"job": "ivr-offer"}`` refreshes the offer snapshot the routing lookup reads.
``tests/unit/test_ivr_entry.py`` holds the two paths to the same answers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ringback.adapters import ivr_factory as wiring
from ringback.api.answers import ErrorAnswers, answer_error, error_answers
from ringback.api.gate import BodyGate, default_body_limit
from ringback.api.ivr_reply import read_body, refusal, reply_answer
from ringback.api.lean import headers_of, lowered, response_of, route_of
from ringback.observability import flush_metrics_safely, logger

# The routes, and whether each is the accept (else the cancel).
ROUTES = {"/v1/callbacks/ivr": True, "/v1/callbacks/ivr/cancel": False}
# The name of the function's handled-error metric (``IvrHandledErrors``, template.yaml).
NAME = "Ivr"


@lru_cache(maxsize=1)
def _gate() -> BodyGate:
    return BodyGate(max_bytes=default_body_limit)


@lru_cache(maxsize=1)
def _errors() -> ErrorAnswers:
    return error_answers(name=NAME)


def _prepared(event: Any) -> tuple[bool, Any, str | None] | None:
    """(accept or cancel, the body's JSON value, the Authorization header) when the resolver
    would hand ``event`` to one of the routes with the body its gate passed; else None."""
    route = route_of(event)
    if route is None or route.method != "POST" or route.path not in ROUTES:
        return None
    if headers_of(event) is None:
        return None
    gated = dict(event)
    if _gate().check(gated) is not None:
        return None  # the resolver's gate refuses it the same way
    authorization = lowered(headers_of(gated) or {}).get("authorization")
    return ROUTES[route.path], gated.get("body"), authorization


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        if isinstance(event, dict) and event.get("job") == "ivr-offer":
            return wiring.refresh_offer()
        prepared = _prepared(event)
        if prepared is None:
            import ivr_api  # type: ignore[import-not-found,unused-ignore]  # a sibling module

            result: dict[str, Any] = ivr_api.app.resolve(event, context)
            return result
        accept, raw_body, authorization = prepared
        try:
            service = wiring.service()
            answer = refusal(service, wiring.gate(), authorization, accept=accept)
            if answer is None:
                body = read_body(raw_body)
                answer = reply_answer(service.accept(body) if accept else service.cancel(body))
        except Exception as error:  # as the resolver's handlers answer it (a JSON 500, counted)
            answer = answer_error(_errors(), error)
        return response_of(answer)
    finally:
        flush_metrics_safely("ivr")


def __getattr__(name: str) -> Any:
    """``entry.app``: the resolver (its OpenAPI schema, for tests and docs)."""
    if name == "app":
        import ivr_api  # type: ignore[import-not-found,unused-ignore]

        return ivr_api.app
    raise AttributeError(name)

"""RoutingFunction's entry point (template.yaml ``Handler: entry.lambda_handler``).

A caller waits on every lookup, and a new container's first one pays for its imports:
Powertools' event handler (its package loads every resolver) was most of what the lookup's cold
start cost above ``import boto3`` and one call (``bench/coldstart.py --importtime routing``).
So ``GET /v1/routing?cid=`` and ``POST /v1/routing {"cid"}`` are answered here, by the
resolver's own steps without the resolver: the same lenient body gate (``api.gate``: a body it
would refuse is dropped), the same cid reading (the query string, or the POST body's JSON or
form), the same use case (``services.routing.answer_request``), the same answer
(``api.routing_reply``) and the same error answers (``api.answers``, which the resolver
registers). Everything else (the health route, another method or path, an event of another
shape) goes to the resolver, ``routing_api.py`` (a name no other function's folder has, so a
process that loads several functions, as the tests do, finds this folder's), imported on the
first such request. Nothing is done before that choice but reads, so a request handed on is
answered once. ``tests/unit/test_routing_entry.py`` holds the two paths to the same answers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ringback.adapters import routing_factory as wiring
from ringback.api.answers import ErrorAnswers, answer_error, error_answers
from ringback.api.gate import BodyGate, default_body_limit
from ringback.api.lean import headers_of, lowered, response_of, route_of, text_map
from ringback.api.routing_reply import routing_answer
from ringback.domain.routing import cid_from_body
from ringback.observability import flush_metrics_safely, logger
from ringback.services.routing import answer_request

PATH = "/v1/routing"
# The name of the function's handled-error metric (``RoutingHandledErrors``, template.yaml).
NAME = "Routing"
_METHODS = frozenset({"GET", "POST"})


@lru_cache(maxsize=1)
def _gate() -> BodyGate:
    return BodyGate(max_bytes=default_body_limit, lenient=True)


@lru_cache(maxsize=1)
def _errors() -> ErrorAnswers:
    return error_answers(name=NAME)


def _prepared(event: Any) -> tuple[str | None, str | None] | None:
    """(cid, Authorization header) when the resolver would hand ``event`` to a lookup route;
    else None (the resolver answers it)."""
    route = route_of(event)
    if route is None or route.path != PATH or route.method not in _METHODS:
        return None
    headers = headers_of(event)
    query = event.get("queryStringParameters")
    query = {} if query is None else query
    if headers is None or not text_map(query):
        return None
    gated = dict(event)
    _gate().check(gated)  # lenient: refuses nothing, drops a body it would refuse elsewhere
    cid = None
    if route.method == "POST":
        cid = cid_from_body(gated.get("body"), bool(gated.get("isBase64Encoded")))
    if cid is None:
        cid = query.get("cid")
    return cid, lowered(headers).get("authorization")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        prepared = _prepared(event)
        if prepared is None:
            import routing_api  # type: ignore[import-not-found,unused-ignore]  # a sibling module

            result: dict[str, Any] = routing_api.app.resolve(event, context)
            return result
        cid, authorization = prepared
        try:
            answer = routing_answer(answer_request(wiring.service(), wiring.gate(), cid, authorization))
        except Exception as error:  # as the resolver's handlers answer it (a JSON 500, counted)
            answer = answer_error(_errors(), error)
        return response_of(answer)
    finally:
        flush_metrics_safely("routing")


def __getattr__(name: str) -> Any:
    """``entry.app``: the resolver (its OpenAPI schema, for tests and docs)."""
    if name == "app":
        import routing_api  # type: ignore[import-not-found,unused-ignore]

        return routing_api.app
    raise AttributeError(name)

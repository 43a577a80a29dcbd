"""``POST /v1/callbacks`` without the resolver: the form submit's cold start (``entry.py``).

The full resolver (``form_api.py``: Powertools' event handler with its OpenAPI validation,
every route and its models) costs a container's first submit more than the submit itself
(``bench/coldstart.py --profile submit``). A submit whose request the resolver would hand to
its route is answered here, by the same code: the body gate (``api.gate``), the same
validation (``CallbackRequest`` over the parsed JSON body, as Powertools validates a
``Body()``), the same submit and idempotency (``accept``, which the resolver's route calls
too), the same error answers (``api.answers``, which the resolver registers) and the same
headers (Content-Type, Cache-Control, CORS). Everything else goes to the resolver, which
answers it as it always has: a refused body, a body that fails validation (its 4xx names the
field), an event of another shape. Nothing is done before that choice but reads, so a request
handed on is answered once. ``tests/unit/test_form_submit.py`` holds the two paths to the same
answers; the OpenAPI document stays the resolver's (``entry.app``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ringback.adapters import callbacks_factory as wiring
from ringback.adapters.lean_settings import get_lean_settings
from ringback.api.answers import Answer, ErrorAnswers, answer_error, cors_headers, error_answers
from ringback.api.gate import BodyGate
from ringback.api.lean import headers_of, lowered, response_of, route_of
from ringback.domain.callbacks import DEFAULT_REGION, CallbackRequest
from ringback.domain.errors import Conflict, Unavailable
from ringback.observability import logger, metrics
from ringback.services.callbacks import Caller

PATH = "/v1/callbacks"
# The name of the function's handled-error metric (``CallbacksHandledErrors``, template.yaml).
NAME = "Callbacks"


def body_limit() -> int:
    """The body gate's limit: the operator config's (``callbacks.max_body_bytes``)."""
    return wiring.config_source().load().callbacks.max_body_bytes


def caller_of(
    headers: Mapping[str, str], domain_name: Callable[[], str | None], stage: str | None, source_ip: str
) -> Caller:
    """Who is asking: ``headers`` case-insensitive (Powertools' event headers), the domain name
    read only when there is no Host header."""
    host = headers.get("host") or domain_name() or ""
    local = host.startswith(("127.0.0.1", "localhost"))
    scheme = headers.get("x-forwarded-proto") or ("http" if local else "https")
    base = f"{scheme}://{host}" + (f"/{stage}" if stage and stage != "$default" else "")
    return Caller(
        client_ip=source_ip,
        origin=headers.get("origin"),
        site_key=headers.get("x-ringback-site-key"),
        base_url=base if host else "",
    )


def accept(request: CallbackRequest, caller: Caller, key: str | None, raw_body: str | None) -> dict[str, Any]:
    """The submit's 202 body: the service's answer, through Powertools Idempotency when the
    request carries an ``Idempotency-Key`` (the key plus the SHA-256 of the raw body name it)."""
    if not key:
        return wiring.callbacks().submit(request, caller).model_dump(mode="json")
    # Powertools Idempotency (and boto3 with it) loads with the first submit that carries a key.
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    run, _ = wiring.idempotency()
    digest = hashlib.sha256((raw_body or "").encode()).hexdigest()
    try:
        answer: dict[str, Any] = run(
            key={"idempotency_key": key[:200], "body_sha256": digest}, request=request, caller=caller
        )
    except IdempotencyAlreadyInProgressError:
        raise Conflict("the same request is being processed; retry in a moment") from None
    except IdempotencyPersistenceLayerError as error:
        logger.warning("idempotency store failed", extra={"error_type": type(error).__name__})
        raise Unavailable("could not process the request; please retry") from error
    return answer


def start(event: Mapping[str, Any], context: Any) -> None:
    """What every request of the function does first (the resolver's handler does the same)."""
    DEFAULT_REGION.set(get_lean_settings().default_region)
    if (event.get("headers") or {}).get("idempotency-key"):
        wiring.idempotency()[1].register_lambda_context(context)


@lru_cache(maxsize=1)
def _gate() -> BodyGate:
    return BodyGate(max_bytes=body_limit)


@lru_cache(maxsize=1)
def _errors() -> ErrorAnswers:
    return error_answers(
        name=NAME, unavailable=wiring.INFRASTRUCTURE_ERRORS, unavailable_loaded=wiring.infrastructure_errors
    )


def _prepared(event: Any) -> tuple[CallbackRequest, Caller, dict[str, Any], dict[str, str]] | None:
    """(the valid request, its caller, the gated event, its headers lower-cased) when the
    resolver would hand this event to the submit route with a valid body; else None."""
    route = route_of(event)
    if route is None or route.method != "POST" or route.path != PATH:
        return None
    context, http = route.context, route.http
    if not isinstance(http.get("sourceIp"), str):
        return None
    gated = dict(event)
    if _gate().check(gated) is not None:
        return None  # the resolver's gate refuses it the same way
    headers = headers_of(gated)
    if headers is None:
        return None
    by_name = lowered(headers)
    content_type = by_name.get("content-type", "").strip()
    body = gated.get("body")
    if content_type and not content_type.startswith("application/json"):
        return None
    if not isinstance(body, str) or not body or gated.get("isBase64Encoded"):
        return None
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            return None  # Powertools reads a list as its first item, null as no body
        request = CallbackRequest.model_validate(data, from_attributes=True)
        caller = caller_of(by_name, lambda: context["domainName"], context["stage"], http["sourceIp"])
    except Exception:
        return None  # the resolver's answer: the 422 naming the field (or its 500)
    return request, caller, gated, by_name


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start(event, context)
    prepared = _prepared(event)
    if prepared is None:
        import form_api  # type: ignore[import-not-found,unused-ignore]  # a sibling module

        result: dict[str, Any] = form_api.app.resolve(event, context)
        return result
    request, caller, gated, headers = prepared
    try:
        body = accept(request, caller, headers.get("idempotency-key"), gated.get("body"))
        answer = Answer(202, json.dumps(body, default=str), {"Cache-Control": "no-store"})
    except Exception as error:
        answer = answer_error(_errors(), error)
    return response_of(
        answer, cors_headers(get_lean_settings().allowed_origin_list, gated.get("headers") or {})
    )

"""The IVR routes' HTTP answers, without Powertools' event handler.

Both entries of the IVR function give them: the lean one (``functions/ivr/entry.py``, the
accept's and the cancel's cold start: a caller waits on it) and the resolver
(``functions/ivr/ivr_api.py``, the OpenAPI document and whatever the lean entry hands on), so
their answers cannot drift.
"""

from __future__ import annotations

import json
from typing import Any

from ringback.api.answers import JSON_HEADERS, Answer, json_error
from ringback.domain import strict_json
from ringback.observability import logger
from ringback.services.callbacks.ivr import IvrAnswer, IvrCallbacks, IvrCancelAnswer, IvrReply
from ringback.services.routing import AuthOutcome, TokenGate

WWW_AUTHENTICATE = 'Bearer realm="ringback-ivr"'


def reply_answer(reply: IvrReply) -> Answer:
    """The flow's answer: 200 with strings for ``exportVariables``, or 400 naming the field."""
    return Answer(reply.status, json.dumps(reply.body, ensure_ascii=False), dict(JSON_HEADERS))


def refusal(
    service: IvrCallbacks, gate: TokenGate, authorization: str | None, *, accept: bool
) -> Answer | None:
    """None when the token is good; else the 401, or the degraded answer when no token can be
    known (the flow keeps the caller in the queue; a 401 would blame its token)."""
    try:
        outcome = gate.check(authorization, service.deadline())
    except Exception as error:  # never a 5xx to the caller's flow
        logger.exception("ivr: token check failed", extra={"error_type": type(error).__name__})
        outcome = AuthOutcome.UNAVAILABLE
    if outcome is AuthOutcome.OK:
        return None
    if outcome is AuthOutcome.UNAVAILABLE:
        from ringback.domain.ivr import say_text

        say = say_text("degraded", None, "cs")
        answer: Any = (
            IvrAnswer(accepted=False, reason="degraded", say=say)
            if accept
            else IvrCancelAnswer(cancelled=False, reason="degraded", say=say)
        )
        return reply_answer(IvrReply(200, answer.to_json()))
    message = (
        "missing bearer token in the Authorization header"
        if outcome is AuthOutcome.MISSING
        else "invalid bearer token"
    )
    return json_error(401, "unauthorized", message, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def read_body(raw: Any) -> Any:
    """The gated body's JSON value, or None (no body, or none the service can read: it names
    the missing fields)."""
    if not raw:
        return None
    try:
        return strict_json.loads(str(raw))
    except (ValueError, RecursionError):
        return None

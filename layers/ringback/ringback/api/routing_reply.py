"""The routing lookup's HTTP answer, without Powertools' event handler.

Both entries of the routing function give it: the lean one (``functions/routing/entry.py``, the
lookup routes' cold start) and the resolver (``functions/routing/routing_api.py``, the health
route and everything else), so their answers cannot drift.
"""

from __future__ import annotations

from ringback.api.answers import JSON_HEADERS, Answer, json_error
from ringback.services.routing import AuthOutcome, RoutingReply

# The realm a refused flow is told (RFC 6750); the flow's token is the routing function's own.
WWW_AUTHENTICATE = 'Bearer realm="ringback-routing"'


def routing_answer(reply: RoutingReply) -> Answer:
    """200 with the routing answer (found, not found or degraded), or 401 naming what is wrong
    with the bearer token: the only refusal the lookup has."""
    if reply.answer is None:
        message = (
            "missing bearer token in the Authorization header"
            if reply.outcome is AuthOutcome.MISSING
            else "invalid bearer token"
        )
        return json_error(401, "unauthorized", message, headers={"WWW-Authenticate": WWW_AUTHENTICATE})
    return Answer(200, reply.answer.to_json(), dict(JSON_HEADERS))

"""The life of a website callback request, shared by the callbacks API, the dialer and the
event fan-out (each moves it forward; none may move it back).

Storage convention (CallbacksTable): ``pk = "CB#<id>"``, ``sk = "REQUEST"``, attributes
``status`` and ``status_at`` (epoch ms of the fact that set it); ``gsi1pk = "PHONE#<e164>"``,
``gsi1sk = "<created_at ISO-8601 UTC>#<id>"`` finds a number's requests. ``pk = "OPEN#<e164>"``,
``sk = "LOCK"`` points at the number's open request (``callback_id``, ``lock_until`` epoch s): taken
when a request is accepted, deleted (only while it names that request) when the request ends; the
routing lookup reads it for ``pending_callback`` (see ``adapters.callback_pointer``).
Webitel members created for a request carry the variables ``ringback_id`` (outbox entry id)
and ``ringback_callback_id`` (request id), which is how call events find their request.
"""

from __future__ import annotations

from enum import StrEnum


class CallbackStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    DIALING = "dialing"
    CONNECTED = "connected"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# Higher rank = later in the life; terminal statuses end it.
_RANK = {
    CallbackStatus.RECEIVED: 0,
    CallbackStatus.QUEUED: 1,
    CallbackStatus.DIALING: 2,
    CallbackStatus.CONNECTED: 3,
    CallbackStatus.COMPLETED: 4,
    CallbackStatus.FAILED: 4,
    CallbackStatus.EXPIRED: 4,
    CallbackStatus.CANCELLED: 4,
}
TERMINAL = frozenset(
    {CallbackStatus.COMPLETED, CallbackStatus.FAILED, CallbackStatus.EXPIRED, CallbackStatus.CANCELLED}
)
OPEN = frozenset(CallbackStatus) - TERMINAL


def status_rank(status: CallbackStatus) -> int:
    return _RANK[status]


def may_advance(current: CallbackStatus, new: CallbackStatus) -> bool:
    """Whether ``new`` may replace ``current``: only forward, never out of a terminal status.

    Events arrive late and out of order; applying them through this rule makes the stored
    status the same whatever order they came in (a late ``dialing`` never reopens a
    ``completed`` request).
    """
    if current in TERMINAL:
        return False
    return _RANK[new] > _RANK[current]

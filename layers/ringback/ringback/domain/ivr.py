"""Callbacks offered from the Webitel IVR while callers wait (issue 17), as pure rules.

* **The offer** (routing answer): the wait of the caller's inbound queue and whether to offer a
  callback come from the *offer snapshot*, a GuardTable item (``CACHE#IVR#OFFER``) that the IVR
  function's schedule refreshes from Webitel's queue report (``services.ivr_offer``). The
  routing lookup reads it in the same ``BatchGetItem`` as the caller's entry, so the offer costs
  no extra round trip; a snapshot older than :data:`SNAPSHOT_MAX_AGE_MS` says nothing (wait
  unknown, no offer).
* **The wait**: Webitel's general queue report (engine ``store/sqlstore/cc_queue_store.go``
  ``QueueReportGeneral``) gives per queue ``waiting`` (for an inbound queue: its attempts not
  yet bridged) and ``avg_asa_sec`` (the average of ``bridged_at - joined_at`` over the report
  window). The estimate is 0 with nobody waiting, ``ceil(avg_asa_sec)`` otherwise, unknown
  when callers wait and the window has no answered call.
* **Keeping the caller's place**: Webitel's dialer takes a queue's members in the order of
  call_center ``store/sqlstore/call_center-schema.sql`` ``cc_distribute_members_list``:
  ``bucket_id nulls last, skill_id, agent_id, priority desc, ready_at asc nulls last, id``
  (``id desc`` for the ``lifo`` strategy; the distributor's indexes ``cc_member_dis_fifo`` /
  ``_lifo`` / ``_strict_fifo_asc`` have the same ``priority DESC, ready_at, id``), and only
  members whose ``ready_at`` (the API's
  ``min_offering_at``, engine ``model/cc_member.go``) is past. An IVR callback is a ``now``
  member with the priority every ``now`` request has and ``min_offering_at`` = the time the
  caller joined the inbound queue; website ``now`` requests carry their creation time there, so
  within one priority the dialer offers them in the order the customers started waiting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SNAPSHOT_KEY = "IVR#OFFER"  # the SharedCache key (GuardTable pk ``CACHE#IVR#OFFER``)
SNAPSHOT_MAX_AGE_MS = 5 * 60 * 1000
# Epoch milliseconds of 2020-01-01 and a day ahead of now: a joined_at outside is a typo.
_EARLIEST_MS = 1_577_836_800_000
_FUTURE_SLACK_MS = 60_000
_MAX_JOINED_AGE_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class QueueWait:
    """One queue's row of the report: callers waiting and the wait estimate (None: unknown)."""

    waiting: int
    wait_s: int | None


@dataclass(frozen=True, slots=True)
class OfferSnapshot:
    """What the schedule last read (see the module doc); times in epoch milliseconds."""

    fetched_at_ms: int
    enabled: bool = False
    offer_after_s: int = 0
    queues: Mapping[str, QueueWait] = field(default_factory=dict)
    branch_queues: Mapping[str, str] = field(default_factory=dict)  # found / debt / unknown
    open_windows: tuple[tuple[int, int], ...] = ()
    capacity_left: int | None = None  # None: the callback queue's count is unknown
    # The operator's language and texts for the flow's prompts (``PROMPT_KEYS``), so the routing
    # answer says them in the caller's language as the IVR route's ``say`` is.
    default_language: str = "en"
    say: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def fresh(self, now_ms: int, max_age_ms: int = SNAPSHOT_MAX_AGE_MS) -> bool:
        return 0 <= now_ms - self.fetched_at_ms <= max_age_ms

    def in_hours(self, now_ms: int) -> bool:
        return any(start <= now_ms < end for start, end in self.open_windows)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "offer_after_s": self.offer_after_s,
            "queues": {
                queue_id: {"waiting": wait.waiting, "wait_s": wait.wait_s}
                for queue_id, wait in self.queues.items()
            },
            "branch_queues": dict(self.branch_queues),
            "open_windows": [list(window) for window in self.open_windows],
            "capacity_left": self.capacity_left,
            "default_language": self.default_language,
            "say": {lang: dict(texts) for lang, texts in self.say.items()},
        }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value.strip())
    return None


def snapshot_from_json(value: Mapping[str, Any], fetched_at_ms: int) -> OfferSnapshot | None:
    """The snapshot of a stored item's value; None when it is not one (never raises)."""
    try:
        queues: dict[str, QueueWait] = {}
        for queue_id, row in dict(value.get("queues") or {}).items():
            waiting = _int(row.get("waiting"))
            wait_s = row.get("wait_s")
            queues[str(queue_id)] = QueueWait(
                waiting=waiting if waiting is not None else 0,
                wait_s=_int(wait_s) if wait_s is not None else None,
            )
        windows = tuple(
            (int(window[0]), int(window[1]))
            for window in value.get("open_windows") or ()
            if isinstance(window, (list, tuple)) and len(window) == 2
        )
        capacity = value.get("capacity_left")
        return OfferSnapshot(
            fetched_at_ms=int(fetched_at_ms),
            enabled=value.get("enabled") is True,
            offer_after_s=_int(value.get("offer_after_s")) or 0,
            queues=queues,
            branch_queues={str(k): str(v) for k, v in dict(value.get("branch_queues") or {}).items()},
            open_windows=windows,
            capacity_left=_int(capacity) if capacity is not None else None,
            default_language=str(value.get("default_language") or "en"),
            say={
                str(lang): {str(k): str(v) for k, v in dict(texts).items() if k in PROMPT_KEYS}
                for lang, texts in dict(value.get("say") or {}).items()
            },
        )
    except (AttributeError, TypeError, ValueError):
        return None


def estimate_wait_s(waiting: int, avg_asa_sec: float) -> int | None:
    """The expected wait of a caller joining now (see the module doc)."""
    if waiting <= 0:
        return 0
    if not math.isfinite(avg_asa_sec) or avg_asa_sec <= 0:
        return None
    return math.ceil(avg_asa_sec)


@dataclass(frozen=True, slots=True)
class RoutingOffer:
    """The routing answer's IVR fields."""

    estimated_wait_s: str | None = None
    offer_callback: bool = False
    wait_queue_id: str | None = None
    offer_say: str | None = None
    pending_say: str | None = None
    kept_say: str | None = None


def branch_of(*, found: bool, debt: bool) -> str:
    """The routing flow's branch of an answer (as ``OperatorConfig.inbound_queue_by_branch``)."""
    if found and debt:
        return "debt"
    return "found" if found else "unknown"


def routing_offer(
    snapshot: OfferSnapshot | None,
    *,
    found: bool,
    debt: bool,
    pending_callback: bool,
    now_ms: int,
    language: str | None = None,
) -> RoutingOffer:
    """Estimated wait and offer flag for one answer: offer only when enabled, the wait exceeds
    the threshold, in hours, with capacity, and the caller has no open callback. With the flag
    come the prompts the flow says (in ``language``, the caller's, else the operator's default):
    ``offer_say`` with an offer, ``pending_say`` and ``kept_say`` to a caller with an open one."""
    fresh = snapshot if snapshot is not None and snapshot.fresh(now_ms) else None
    pending = _pending_prompts(fresh, language) if pending_callback else RoutingOffer()
    if fresh is None:
        return pending
    queue_id = fresh.branch_queues.get(branch_of(found=found, debt=debt))
    if not queue_id:
        return pending
    snapshot = fresh
    wait = snapshot.queues.get(queue_id)
    wait_s = wait.wait_s if wait is not None else None
    offer = (
        snapshot.enabled
        and wait_s is not None
        and wait_s > snapshot.offer_after_s
        and snapshot.in_hours(now_ms)
        and snapshot.capacity_left is not None
        and snapshot.capacity_left > 0
        and not pending_callback
    )
    return replace(
        pending,
        estimated_wait_s=str(wait_s) if wait_s is not None else None,
        offer_callback=offer,
        wait_queue_id=queue_id,
        offer_say=prompt_text("offer", language, snapshot, minutes=wait_minutes(wait_s)) if offer else None,
    )


def wait_minutes(wait_s: int | None) -> int:
    """The wait as the flow says it: whole minutes, rounded up, at least 1."""
    return max(1, math.ceil((wait_s or 0) / 60))


def prompt_text(key: str, language: str | None, snapshot: OfferSnapshot | None, *, minutes: int = 1) -> str:
    """A prompt of the flow in the caller's language (the operator's texts first)."""
    default = snapshot.default_language if snapshot is not None else "en"
    overrides = snapshot.say if snapshot is not None else None
    return say_text(key, language, default, overrides, minutes=minutes)


def _pending_prompts(snapshot: OfferSnapshot | None, language: str | None) -> RoutingOffer:
    return RoutingOffer(
        pending_say=prompt_text("pending", language, snapshot),
        kept_say=prompt_text("kept", language, snapshot),
    )


# ------------------------------------------------------------------ the IVR request


class IvrFieldError(ValueError):
    """A field of the IVR request that cannot be used (answered 400 naming ``field``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class IvrRequest:
    cid: str
    queue_id: str
    joined_at_ms: int
    call_id: str
    language: str | None


_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_QUEUE_ID = re.compile(r"^[1-9]\d{0,18}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


def _text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise IvrFieldError(name, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise IvrFieldError(name, f"{name} must be a string")
    text = str(value).strip()
    if len(text) > 200:
        raise IvrFieldError(name, f"{name} is too long")
    return text


def parse_ivr_request(body: Any, now_ms: int) -> IvrRequest:
    """The accept request of a flow (every value may arrive as a string); raises IvrFieldError."""
    if not isinstance(body, Mapping):
        raise IvrFieldError("body", "the body must be a JSON object")
    cid = _text(body, "cid")
    queue_id = _text(body, "queue_id")
    joined = _text(body, "joined_at")
    call_id = _text(body, "call_id")
    language = _text(body, "language", required=False)
    assert cid is not None and queue_id is not None and joined is not None and call_id is not None
    if not _QUEUE_ID.fullmatch(queue_id):
        raise IvrFieldError("queue_id", "queue_id must be a Webitel queue id (digits)")
    joined_ms = _int(joined)
    if joined_ms is None:
        raise IvrFieldError("joined_at", "joined_at must be epoch milliseconds")
    if joined_ms < _EARLIEST_MS or joined_ms > now_ms + _FUTURE_SLACK_MS:
        raise IvrFieldError("joined_at", "joined_at must be epoch milliseconds, not in the future")
    if joined_ms < now_ms - _MAX_JOINED_AGE_MS:
        raise IvrFieldError("joined_at", "joined_at is more than a day ago")
    if not _CALL_ID.fullmatch(call_id):
        raise IvrFieldError("call_id", "call_id must be the call's uuid")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise IvrFieldError("language", "language must be a language tag like cs or en-GB")
    return IvrRequest(cid=cid, queue_id=queue_id, joined_at_ms=joined_ms, call_id=call_id, language=language)


def parse_cancel_request(body: Any) -> tuple[str, str]:
    """``(cid, call_id)`` of a cancel request; raises IvrFieldError."""
    if not isinstance(body, Mapping):
        raise IvrFieldError("body", "the body must be a JSON object")
    cid = _text(body, "cid")
    call_id = _text(body, "call_id")
    assert cid is not None and call_id is not None
    if not _CALL_ID.fullmatch(call_id):
        raise IvrFieldError("call_id", "call_id must be the call's uuid")
    return cid, call_id


# ------------------------------------------------------------------ what the flow says

# Default texts per language; ``ivr_callback.say`` in the operator config overrides them.
# ``{minutes}`` is the expected call-back time (or the wait) in whole minutes (at least 1);
# ``{minutes_text}`` the same with the word for minutes in its plural form (``minutes_text``).
#
# The flow's own prompts, which the routing answer carries (``RoutingOffer``); the other keys
# are the IVR route's ``say`` answers.
PROMPT_KEYS = frozenset({"offer", "pending", "kept"})
DEFAULT_SAY: Mapping[str, Mapping[str, str]] = {
    "en": {
        "accepted": "Thank you. We will call you back in about {minutes_text}, keeping your place.",
        "linked": "You already have a callback request. We will call you back in about {minutes_text}.",
        "closed": "We are closed now, please call again during our opening hours.",
        "no_capacity": "We cannot take more callback requests right now, please stay on the line.",
        "degraded": "We cannot take your callback request right now, please stay on the line.",
        "disabled": "Please stay on the line, an agent will be with you shortly.",
        "cancelled": "Your callback request is cancelled.",
        "none_open": "You have no callback request to cancel.",
        "offer": (
            "Your expected wait is about {minutes_text}. To keep your place in line and be called back, "
            "press 1. To keep waiting, stay on the line."
        ),
        "pending": "You already have a callback request with us. To keep it, press 1. To cancel it, press 2.",
        "kept": "Your callback request stays as it is. We will call you. Goodbye.",
    },
    "cs": {
        "accepted": "Děkujeme. Zavoláme vám zpět přibližně za {minutes_text} a vaše pořadí zůstává.",
        "linked": "Žádost o zpětné volání už máte. Zavoláme vám přibližně za {minutes_text}.",
        "closed": "Nyní máme zavřeno, zavolejte prosím znovu v otevírací době.",
        "no_capacity": "Další žádosti o zpětné volání teď nepřijímáme, zůstaňte prosím na lince.",
        "degraded": "Vaši žádost o zpětné volání teď nemůžeme přijmout, zůstaňte prosím na lince.",
        "disabled": "Zůstaňte prosím na lince, operátor se vám brzy bude věnovat.",
        "cancelled": "Vaše žádost o zpětné volání je zrušena.",
        "none_open": "Nemáte žádnou žádost o zpětné volání, kterou by bylo možné zrušit.",
        "offer": (
            "Budete čekat přibližně {minutes_text}. Chcete-li si podržet své pořadí "
            "a nechat si zavolat zpět, stiskněte 1. Chcete-li dál čekat, zůstaňte na lince."
        ),
        "pending": "Žádost o zpětné volání už u nás máte. Chcete-li ji ponechat, stiskněte 1. Chcete-li ji zrušit, stiskněte 2.",
        "kept": "Vaše žádost o zpětné volání zůstává. Zavoláme vám. Na shledanou.",
    },
}


def say_text(
    key: str,
    language: str | None,
    default_language: str,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
    *,
    minutes: int = 1,
) -> str:
    """The text for ``key`` in the caller's language (``cs-CZ`` -> ``cs``), else the default."""
    texts: dict[str, dict[str, str]] = {lang: dict(values) for lang, values in DEFAULT_SAY.items()}
    for lang, values in (overrides or {}).items():
        texts.setdefault(lang.lower(), {}).update(values)
    candidates = []
    if language:
        lowered = language.lower().replace("_", "-")
        candidates += [lowered, lowered.split("-")[0]]
    candidates += [default_language.lower(), "en"]
    count = max(minutes, 1)
    for lang in candidates:
        text = texts.get(lang, {}).get(key)
        if text:
            phrase = minutes_text(count, lang.split("-")[0])
            return text.replace("{minutes_text}", phrase).replace("{minutes}", str(count))
    return ""


def minutes_text(count: int, language: str) -> str:
    """``count`` minutes as the texts say it (``{minutes_text}``): the number and the word in
    its plural form. Czech, in the accusative the texts use ("za 1 minutu", "čekat 3 minuty",
    "za 5 minut"); English; other languages get the number and "min"."""
    if language == "cs":
        word = "minutu" if count == 1 else "minuty" if 2 <= count <= 4 else "minut"
        return f"{count} {word}"
    if language == "en":
        return f"{count} minute" if count == 1 else f"{count} minutes"
    return f"{count} min"


def expected_call_in_s(wait_s: int | None, joined_at_ms: int, now_ms: int) -> int | None:
    """When the caller should expect the call: what was left of the queue's wait when they hung
    up (their place is kept); None when the wait is unknown."""
    if wait_s is None:
        return None
    waited_s = max(0, (now_ms - joined_at_ms) // 1000)
    return max(0, wait_s - waited_s)


# ------------------------------------------------------------------ the dialer's order


def dial_order_key(
    *,
    priority: int,
    min_offering_at: int | None,
    member_id: int,
    bucket_id: int | None = None,
    agent_id: int | None = None,
    lifo: bool = False,
) -> tuple[Any, ...]:
    """Sort key of a member as call_center's ``cc_distribute_members_list`` orders them
    (``store/sqlstore/call_center-schema.sql``; ``wait_between_retries_desc`` off). Members of
    another bucket or skill are distributed separately; ``nulls last`` as PostgreSQL sorts."""
    return (
        bucket_id is None,
        bucket_id or 0,
        agent_id is None,
        agent_id or 0,
        -priority,
        min_offering_at is None,
        min_offering_at or 0,
        -member_id if lifo else member_id,
    )

"""The operator console, pure: board rows, today's service level, the session cookie, CSRF.

Nothing here reads a clock, a table or the environment; the console service passes ``now``,
the stored requests (as plain dicts, the way the status index returns them) and the keys.

Board states (what a supervisor calls them) from the request's stored status:

========== ===============================================================
pending     ``received`` and due (the dialer sends it on its next run)
scheduled   ``received`` and due later (a booked slot or the next opening)
uploaded    ``queued``: a member in the Webitel callback queue
in_call     ``dialing`` or ``connected``
========== ===============================================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.phones import mask_e164

BOARD_STATES: Final = ("pending", "scheduled", "uploaded", "in_call")
# Outcomes of a day's requests, as the supervisor reads them, from the terminal statuses.
OUTCOMES: Final = {
    CallbackStatus.COMPLETED.value: "connected",
    CallbackStatus.CONNECTED.value: "connected",
    CallbackStatus.FAILED.value: "missed",
    CallbackStatus.CANCELLED.value: "cancelled",
    CallbackStatus.EXPIRED.value: "expired",
}
OUTCOME_NAMES: Final = ("connected", "missed", "cancelled", "expired")
# The request attributes the console may show; names and e-mails never leave the table.
BOARD_ATTRIBUTES: Final = (
    "id",
    "status",
    "status_at",
    "created_at",
    "phone",
    "source",
    "utm",
    "mode",
    "queue_id",
    "due_at",
    "expected_call_at",
    "expected_call_by",
    "next_opening",
    "slot_start",
    "repeat_count",
    "expires_at",
)
MAX_UTM_CHARS: Final = 64
MAX_REDRIVE: Final = 50


def parse_time(value: Any) -> datetime | None:
    """A stored ISO-8601 time (``Z`` or an offset) as an aware UTC datetime; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def board_state(status: str, due_at: datetime | None, now: datetime) -> str | None:
    """The board column of a request, or None when it is not open."""
    if status == CallbackStatus.RECEIVED.value:
        return "scheduled" if due_at is not None and due_at > now else "pending"
    if status == CallbackStatus.QUEUED.value:
        return "uploaded"
    if status in (CallbackStatus.DIALING.value, CallbackStatus.CONNECTED.value):
        return "in_call"
    return None


def _utm(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k)[:32]: str(v)[:MAX_UTM_CHARS] for k, v in sorted(value.items()) if v}


def board_row(request: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """One request as a board row: masked number, age, promised window, time left, overdue."""
    state = board_state(str(request.get("status", "")), parse_time(request.get("due_at")), now)
    if state is None:
        return None
    expires = request.get("expires_at")
    if isinstance(expires, (int, float)) and 0 < expires <= now.timestamp():
        return None  # past its TTL: DynamoDB deletes it late, the console treats it as gone
    created = parse_time(request.get("created_at"))
    window_start = parse_time(request.get("expected_call_at"))
    window_end = parse_time(request.get("expected_call_by"))
    left = int((window_end - now).total_seconds()) if window_end else None
    phone = str(request.get("phone") or "")
    masked = str(request.get("phone_masked") or "") or (mask_e164(phone) if phone else "***")
    return {
        "id": str(request.get("id", "")),
        "state": state,
        "status": str(request.get("status")),
        "phone": masked,
        "source": str(request.get("source") or "web"),
        "utm": _utm(request.get("utm")),
        "mode": request.get("mode"),
        "created_at": _iso(created),
        "age_s": max(0, int((now - created).total_seconds())) if created else None,
        "window_start": _iso(window_start),
        "window_end": _iso(window_end),
        "time_left_s": left,
        "overdue": left is not None and left < 0,
        "repeats": int(request.get("repeat_count") or 0),
    }


def build_board(
    requests: Iterable[Mapping[str, Any]], now: datetime, *, limit: int = 200, partial: bool = False
) -> dict[str, Any]:
    """Open requests: counts per state, and rows with the overdue first (most overdue on top),
    then the least time left. ``limit`` bounds the rows; the counts cover every request read
    (``partial``: more are open than were read, so the counts are lower bounds)."""
    rows = [row for request in requests if (row := board_row(request, now)) is not None]
    unique = {row["id"]: row for row in rows}
    ordered = sorted(
        unique.values(),
        key=lambda r: (
            not r["overdue"],
            r["time_left_s"] if r["time_left_s"] is not None else math.inf,
            r["id"],
        ),
    )
    counts = dict.fromkeys(BOARD_STATES, 0)
    for row in ordered:
        counts[row["state"]] += 1
    return {
        "counts": counts,
        "overdue": sum(1 for r in ordered if r["overdue"]),
        "total": len(ordered),
        "rows": ordered[:limit],
        "rows_not_shown": max(0, len(ordered) - limit),
        "partial": partial,
    }


# ----------------------------------------------------------------------------- service level


def day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of ``now``'s day in the operator's zone, in UTC."""
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def first_attempts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """callback id -> epoch ms of its first dialer attempt, from attempt records (any order)."""
    first: dict[str, int] = {}
    for record in records:
        if record.get("kind") != "attempt":
            continue
        callback_id, at = str(record["callback_id"]), int(record["at"])
        if callback_id not in first or at < first[callback_id]:
            first[callback_id] = at
    return first


def service_level(
    requests: Iterable[Mapping[str, Any]],
    attempts: Mapping[str, int],
    now: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Today's requests (created since the operator's midnight): time to first attempt (p50/p90),
    share called within the promised window, outcomes, and the same per hour of creation.

    The window share counts a request once its window has ended or it was attempted (a request
    still inside its window is neither a kept nor a broken promise yet)."""
    start = day_start(now, zone)
    hours: dict[int, dict[str, int]] = {
        h: {"requests": 0, "attempted": 0, "within_window": 0, "judged": 0} for h in range(24)
    }
    delays: list[float] = []
    outcomes = dict.fromkeys(OUTCOME_NAMES, 0)
    judged = kept = total = 0
    seen: set[str] = set()
    for request in requests:
        callback_id = str(request.get("id", ""))
        created = parse_time(request.get("created_at"))
        if not callback_id or callback_id in seen or created is None or created < start or created > now:
            continue
        seen.add(callback_id)
        total += 1
        hour = hours[created.astimezone(zone).hour]
        hour["requests"] += 1
        outcome = OUTCOMES.get(str(request.get("status")))
        if outcome is not None and str(request.get("status")) != CallbackStatus.CONNECTED.value:
            outcomes[outcome] += 1
        window_end = parse_time(request.get("expected_call_by"))
        first = attempts.get(callback_id)
        if first is not None:
            at = datetime.fromtimestamp(first / 1000, UTC)
            delays.append(max(0.0, (at - created).total_seconds()))
            hour["attempted"] += 1
            within = window_end is None or at <= window_end
            judged += 1
            hour["judged"] += 1
            kept += within
            hour["within_window"] += within
        elif window_end is not None and window_end <= now:
            judged += 1
            hour["judged"] += 1
    p50, p90 = percentile(delays, 50), percentile(delays, 90)
    return {
        "day": start.astimezone(zone).date().isoformat(),
        "requests": total,
        "attempted": len(delays),
        "first_attempt_p50_s": round(p50) if p50 is not None else None,
        "first_attempt_p90_s": round(p90) if p90 is not None else None,
        "within_window": kept,
        "judged": judged,
        "within_window_share": round(kept / judged, 3) if judged else None,
        "outcomes": outcomes,
        "per_hour": [{"hour": h, **counts} for h, counts in hours.items()],
    }


# The service level kept as counters (domain.events.console_rows keeps them per request, the
# page reads a few small items): the time to first attempt as a histogram, exact to the second
# under a minute and in buckets 10 % wide above (a percentile is the midpoint of the bucket the
# nearest-rank value falls in: within 5 % of the exact figure, or 1 s); a window that ended
# without an attempt counted by the end of its 10-minute bucket (at most 10 minutes late).
DELAY_EXACT_S: Final = 60
DELAY_RATIO: Final = 1.1
WINDOW_BUCKET_MS: Final = 600_000
WINDOW_BUCKETS: Final = 151  # a 25-hour day's 150 buckets, and one for "after the day"


def delay_bucket(seconds: float) -> int:
    """The histogram bucket of a delay (whole seconds under a minute, 10 % wide above)."""
    if seconds < DELAY_EXACT_S:
        return max(0, int(seconds))
    index = DELAY_EXACT_S + int(math.log(seconds / DELAY_EXACT_S) / math.log(DELAY_RATIO))
    # Guard the float log at a bucket's edge: the bucket's bounds must hold the delay.
    while index > DELAY_EXACT_S and delay_bucket_bounds(index)[0] > seconds:
        index -= 1
    while delay_bucket_bounds(index)[1] <= seconds:
        index += 1
    return index


def delay_bucket_bounds(index: int) -> tuple[float, float]:
    """``[low, high)`` seconds of a histogram bucket."""
    if index < DELAY_EXACT_S:
        return float(index), float(index + 1)
    low = DELAY_EXACT_S * DELAY_RATIO ** (index - DELAY_EXACT_S)
    return low, low * DELAY_RATIO


def window_bucket(window_end_ms: int, day_start_ms: int) -> int:
    """The 10-minute bucket of the operator's day a promised window ends in (rounded up, so a
    bucket is over once every window in it is)."""
    offset = max(0, window_end_ms - day_start_ms)
    return min(-(-offset // WINDOW_BUCKET_MS), WINDOW_BUCKETS)


def histogram_percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile of a delay histogram (bucket -> count): its bucket's midpoint
    (the whole second under a minute)."""
    total = sum(n for n in histogram.values() if n > 0)
    if not total:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for index in sorted(histogram):
        seen += max(0, histogram[index])
        if seen >= rank:
            if index < DELAY_EXACT_S:
                return float(index)
            low, high = delay_bucket_bounds(index)
            return (low + high) / 2
    return None  # pragma: no cover - the ranks add up to total


def service_level_of_counts(counts: Mapping[str, int], now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """:func:`service_level` from the day's counters (``console_rows.request_counts`` summed over
    the shards): exact counts, percentiles from the histogram, broken windows by bucket."""
    start = day_start(now, zone)
    elapsed = int((now - start).total_seconds() * 1000)
    histogram = {int(k[1:]): n for k, n in counts.items() if k.startswith("d") and k[1:].isdigit()}
    broken = sum(
        n
        for k, n in counts.items()
        if k.startswith("w") and k[1:].isdigit() and int(k[1:]) * WINDOW_BUCKET_MS <= elapsed
    )
    attempted, kept = counts.get("t", 0), counts.get("k", 0)
    judged = attempted + broken
    p50, p90 = histogram_percentile(histogram, 50), histogram_percentile(histogram, 90)
    return {
        "day": start.astimezone(zone).date().isoformat(),
        "requests": counts.get("n", 0),
        "attempted": attempted,
        "first_attempt_p50_s": round(p50) if p50 is not None else None,
        "first_attempt_p90_s": round(p90) if p90 is not None else None,
        "within_window": kept,
        "judged": judged,
        "within_window_share": round(kept / judged, 3) if judged else None,
        "outcomes": {name: counts.get(f"o_{name}", 0) for name in OUTCOME_NAMES},
        "per_hour": [
            {
                "hour": h,
                "requests": counts.get(f"n{h:02d}", 0),
                "attempted": counts.get(f"t{h:02d}", 0),
                "within_window": counts.get(f"k{h:02d}", 0),
            }
            for h in range(24)
        ],
    }


# ------------------------------------------------------------------------------ request bodies


class SignIn(BaseModel):
    """Body of ``POST /v1/console/session``."""

    model_config = ConfigDict(extra="forbid")
    credential: str = Field(min_length=1, max_length=256)


class Redrive(BaseModel):
    """Body of ``POST /v1/console/redrive``."""

    model_config = ConfigDict(extra="forbid")
    entry_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_REDRIVE
    )


# ------------------------------------------------------------------------- session and CSRF

SESSION_COOKIE: Final = "rb_console"
SESSION_VERSION: Final = 1


@dataclass(frozen=True)
class Session:
    session_id: str
    credential: str  # the fingerprint of the credential it was opened with
    issued_at: int
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_key(signing_key: str) -> bytes:
    """The console's own key, derived from the stack's signing key (one secret to rotate)."""
    return hmac.new(signing_key.encode(), b"ringback-console-session-v1", hashlib.sha256).digest()


def credential_fingerprint(key: bytes, credential: str) -> str:
    """Which credential opened a session, without the credential: removing a credential from
    its secret ends the sessions it opened."""
    return hmac.new(key, b"credential:" + credential.encode(), hashlib.sha256).hexdigest()[:24]


def open_session(key: bytes, credential: str, now: datetime, ttl: timedelta) -> tuple[Session, str]:
    """A new session and its signed cookie value."""
    issued = int(now.timestamp())
    session = Session(
        session_id=secrets.token_urlsafe(16),
        credential=credential_fingerprint(key, credential),
        issued_at=issued,
        expires_at=issued + int(ttl.total_seconds()),
    )
    payload = json.dumps(
        {
            "v": SESSION_VERSION,
            "sid": session.session_id,
            "cred": session.credential,
            "iat": session.issued_at,
            "exp": session.expires_at,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    body = _b64(payload)
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return session, f"{body}.{signature}"


def read_session(
    key: bytes, value: str | None, valid_fingerprints: Iterable[str], now: datetime
) -> Session | None:
    """The session a cookie value carries, or None if it is absent, forged, expired or was
    opened with a credential that is no longer valid."""
    if not value or value.count(".") != 1 or len(value) > 1024:
        return None
    body, signature = value.split(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        data = json.loads(_unb64(body))
        session = Session(
            session_id=str(data["sid"]),
            credential=str(data["cred"]),
            issued_at=int(data["iat"]),
            expires_at=int(data["exp"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if data.get("v") != SESSION_VERSION or session.expires_at <= int(now.timestamp()):
        return None
    if not any(hmac.compare_digest(session.credential, fp) for fp in valid_fingerprints):
        return None
    return session


def csrf_token(key: bytes, session: Session) -> str:
    """The double-submit token of a session (the page reads it from the data answer and sends
    it back in a header; a cross-site page can neither read it nor forge it)."""
    return _b64(hmac.new(key, b"csrf:" + session.session_id.encode(), hashlib.sha256).digest())[:32]


def csrf_matches(key: bytes, session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(key, session), str(presented))


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a state-changing request's ``Origin`` names the host it was sent to.

    Browsers send ``Origin`` on every POST/DELETE; a request without it (curl) must still pass
    the CSRF token and the SameSite cookie, so a missing Origin is not a refusal by itself."""
    if origin is None:
        return True
    if not host or origin == "null":
        return False
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


def cookie_value(cookies: Iterable[str], name: str = SESSION_COOKIE) -> str | None:
    """The value of ``name`` among the request's cookies (``["a=1", "b=2"]``)."""
    for cookie in cookies:
        key, _, value = cookie.strip().partition("=")
        if key == name:
            return value
    return None

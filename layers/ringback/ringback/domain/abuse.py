"""Rules that keep bots from turning the dialer against strangers' phones (toll fraud, spam).

All limits come from ``OperatorConfig.callbacks`` (``CallbackPolicy``) and ``allowed_countries``.
Counters are fixed windows keyed by pseudonyms (keyed hashes), never by raw numbers or IPs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ringback.domain.callbacks import CallbackPolicy
from ringback.domain.phones import COSTLY_KINDS, PhoneNumber

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class Guard:
    """One limit to enforce atomically with the write that consumes it.

    ``kind`` ``counter``: at most ``limit`` hits per fixed window. ``distinct``: at most
    ``limit`` different ``member`` values per window (repeats of a member are free).
    """

    name: str
    kind: Literal["counter", "distinct"]
    key: str
    limit: int
    window_s: int
    window_start: datetime
    message: str
    member: str | None = None

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(seconds=self.window_s)

    @property
    def storage_key(self) -> str:
        return f"RL#{self.name}#{self.key}#{int(self.window_start.timestamp())}"

    def retry_after_s(self, now: datetime) -> int:
        return max(math.ceil((self.window_end - now).total_seconds()), 1)


def window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC)


def submit_guards(
    policy: CallbackPolicy, *, phone_key: str, ip_key: str | None, now: datetime
) -> list[Guard]:
    """The limits one accepted submit consumes: per number, per client IP, distinct numbers."""
    guards = [
        Guard(
            "number_hour",
            "counter",
            phone_key,
            policy.per_number_per_hour,
            HOUR,
            window_start(now, HOUR),
            "too many callback requests for this number in the last hour",
        ),
        Guard(
            "number_day",
            "counter",
            phone_key,
            policy.per_number_per_day,
            DAY,
            window_start(now, DAY),
            "too many callback requests for this number today",
        ),
    ]
    if ip_key:
        guards += [
            Guard(
                "ip_hour",
                "counter",
                ip_key,
                policy.per_ip_per_hour,
                HOUR,
                window_start(now, HOUR),
                "too many callback requests from your network in the last hour",
            ),
            Guard(
                "ip_numbers_day",
                "distinct",
                ip_key,
                policy.distinct_numbers_per_ip_per_day,
                DAY,
                window_start(now, DAY),
                "too many different phone numbers from your network today",
                member=phone_key,
            ),
        ]
    return guards


def number_problem(
    number: PhoneNumber, policy: CallbackPolicy, allowed_countries: Sequence[str]
) -> str | None:
    """Why ringback must not dial ``number`` on a website visitor's word (None: it may)."""
    if number.kind in COSTLY_KINDS or number.kind in policy.denied_kinds:
        return f"we cannot call back this kind of number ({number.kind.value.replace('_', ' ')})"
    for prefix in policy.denied_prefixes:
        if number.e164.startswith(prefix):
            return "we cannot call back numbers in this range"
    if allowed_countries and number.region not in allowed_countries:
        return f"we only call back numbers from {', '.join(allowed_countries)}"
    return None


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """Browsers send Origin; a server-to-server forward (Whisbi hook) does not and is allowed."""
    if origin is None or not allowed or "*" in allowed:
        return True
    return origin.rstrip("/") in {a.rstrip("/") for a in allowed}

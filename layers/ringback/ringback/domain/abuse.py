"""Rules that keep bots from turning the dialer against strangers' phones (toll fraud, spam).

All limits come from ``OperatorConfig.callbacks`` (``CallbackPolicy``) and ``allowed_countries``.
Counters are fixed windows keyed by pseudonyms (keyed hashes), never by raw numbers or IPs.
"""

from __future__ import annotations

import ipaddress
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ringback.domain.callback_policy import CallbackPolicy
from ringback.domain.phones import COSTLY_KINDS, PhoneNumber

MINUTE = 60
HOUR = 3600
DAY = 86400
# The block one party usually holds: an IPv4 /24, an IPv6 /64 (one customer's LAN, RFC 6177).
IPV4_NETWORK_BITS = 24
IPV6_NETWORK_BITS = 64
GLOBAL_KEY = "all"
# The global cap is one counter every submit writes: spread over shards (each allowing its share
# of the cap) and over one item per hour, so no single item takes every submit's write or grows
# through the day (a day's item held 1,440 minute counters, ~36 KB: each update billed that).
GLOBAL_SHARD_SHARE = 100  # requests per minute one shard's counter allows at most
GLOBAL_MAX_SHARDS = 16


def global_shards(cap_per_minute: int) -> int:
    """How many counters carry the global cap: one per 100 requests a minute, 1 to 16."""
    return max(1, min(GLOBAL_MAX_SHARDS, cap_per_minute // GLOBAL_SHARD_SHARE))


def global_counter(cap_per_minute: int, phone_key: str, now: datetime) -> tuple[str, int]:
    """The global cap's counter this submit counts on (by its number's pseudonym, so the shards
    fill evenly) and that counter's share of the cap. The shares add up to at least the cap and
    less than the cap plus the shard count; an uneven spread refuses a little before the cap."""
    shards = global_shards(cap_per_minute)
    shard = zlib.crc32(phone_key.encode()) % shards
    return f"{GLOBAL_KEY}{shard:02d}h{now.astimezone(UTC).hour:02d}", math.ceil(cap_per_minute / shards)


def network_of(client_ip: str | None) -> str | None:
    """The client's network block (``198.51.100.0/24``, ``2001:db8:1:2::/64``), None if unreadable.

    An IPv4-mapped IPv6 address (``::ffff:198.51.100.7``) counts as its IPv4 address.
    """
    if not client_ip:
        return None
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits = IPV4_NETWORK_BITS if address.version == 4 else IPV6_NETWORK_BITS
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


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
    subject: str = ""  # guards of one subject (``number``, ``ip``) share one stored item per day

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(seconds=self.window_s)

    @property
    def storage_key(self) -> str:
        return f"RL#{self.name}#{self.key}#{int(self.window_start.timestamp())}"

    def retry_after_s(self, now: datetime) -> int:
        return max(math.ceil((self.window_end - now).total_seconds()), 1)


@dataclass(frozen=True)
class GuardItem:
    """The guards of one subject, folded into one stored item per day (one conditional
    ``UpdateItem`` enforces every window at once: a refusal of any consumes nothing on it).

    Counters are attributes named after the guard and its window inside the day
    (``number_hour_10``, ``number_day``); a distinct guard is a string set (``ip_numbers_day``).
    """

    storage_key: str
    day_start: datetime
    guards: tuple[Guard, ...]

    @property
    def expires_at(self) -> int:
        return int((self.day_start + timedelta(seconds=DAY)).timestamp())

    def attribute(self, guard: Guard) -> str:
        if guard.kind == "distinct" or guard.window_s == DAY:
            return guard.name
        index = int((guard.window_start - self.day_start).total_seconds()) // guard.window_s
        return f"{guard.name}_{index:02d}"

    def exhausted(self, stored: Mapping[str, object]) -> Guard | None:
        """The first guard that ``stored`` (the item's attributes) leaves no room for."""
        for guard in self.guards:
            value = stored.get(self.attribute(guard))
            if guard.kind == "counter":
                if isinstance(value, int) and value >= guard.limit:
                    return guard
            elif (
                isinstance(value, (set, frozenset))
                and guard.member not in value
                and len(value) >= guard.limit
            ):
                return guard
        return None


def fold_guards(guards: Sequence[Guard]) -> list[GuardItem]:
    """Group guards by subject and key into one item per day (windows must divide a day)."""
    grouped: dict[tuple[str, str], list[Guard]] = {}
    for guard in guards:
        if DAY % guard.window_s or guard.window_s > DAY:
            raise ValueError(f"guard {guard.name}: its window must divide a day")
        grouped.setdefault((guard.subject or guard.name, guard.key), []).append(guard)
    items = []
    for (subject, key), members in grouped.items():
        day = window_start(members[0].window_start, DAY)
        items.append(GuardItem(f"RL#{subject}#{key}#{int(day.timestamp())}", day, tuple(members)))
    return items


def window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC)


def submit_guards(
    policy: CallbackPolicy,
    *,
    phone_key: str,
    ip_key: str | None,
    now: datetime,
    network_key: str | None = None,
) -> list[Guard]:
    """The limits one accepted submit consumes: per number, per client IP and its network,
    distinct numbers per IP, and the global cap of new requests per minute."""
    guards = [
        Guard(
            "number_hour",
            "counter",
            phone_key,
            policy.per_number_per_hour,
            HOUR,
            window_start(now, HOUR),
            "too many callback requests for this number in the last hour",
            subject="number",
        ),
        Guard(
            "number_day",
            "counter",
            phone_key,
            policy.per_number_per_day,
            DAY,
            window_start(now, DAY),
            "too many callback requests for this number today",
            subject="number",
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
                subject="ip",
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
                subject="ip",
            ),
        ]
    global_key, global_limit = global_counter(policy.new_callbacks_per_minute, phone_key, now)
    guards.append(
        Guard(
            "global_minute",
            "counter",
            global_key,
            global_limit,
            MINUTE,
            window_start(now, MINUTE),
            "the callback service is receiving too many requests; please try again in a minute",
            subject="global",
        )
    )
    if network_key:
        guards.append(
            Guard(
                "network_hour",
                "counter",
                network_key,
                policy.per_network_per_hour,
                HOUR,
                window_start(now, HOUR),
                "too many callback requests from your network in the last hour",
                subject="network",
            )
        )
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

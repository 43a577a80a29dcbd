"""Debtor campaigns: CSV rows -> outbox entries for the debtor queue, and calling windows.

Pure rules (no I/O). The CSV format, the merge rules and the calling-window design are
described in docs/dialer.md; in short:

- one header row; known columns (case-insensitive, spaces = underscores) are ``name``,
  ``phone`` / ``phone1``..``phone20`` / ``phones`` (separated by ``;`` or ``|``), ``key``,
  ``campaign``, ``debt_amount``, ``debt_currency``, ``timezone``, ``agent``, ``bucket``,
  ``expire_at``, ``priority``, ``not_before``, ``calling_window``; free variables are columns
  named ``var_<name>``. Any other column is a file error (a misspelt ``phone2`` must not be
  dropped silently).
- the entry id is derived from the queue, the campaign and the row's ``key`` (or its
  normalised primary phone), so the same debtor in two rows or two files is ONE entry: later
  rows are merged into it (phones united, the later row's values win, the higher priority
  wins, the later expiry wins).
- Webitel's member ``timezone`` is a lookup id of Webitel's own table, not an IANA name, so
  ringback carries the IANA zone(s) in the variable ``ringback_tz`` with the calling window in
  ``ringback_window`` and gates uploads itself; when the operator maps IANA names to Webitel
  timezone ids, the lookup is set too so Webitel's queue calendar applies in local time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

from ringback.domain.operator_config import END_OF_DAY, WEEKDAYS, Weekday, format_clock, parse_range
from ringback.domain.outbox import ID_TAG, OutboxEntry
from ringback.domain.phones import InvalidPhone, parse_phone, phone_hash
from ringback.domain.webitel import (
    INT32_MAX,
    INT32_MIN,
    MAX_COMMUNICATIONS,
    MAX_EPOCH_MS,
    MAX_MEMBER_NAME_LENGTH,
    Lookup,
    MemberCommunication,
    MemberItem,
    epoch_ms,
)

TZ_VARIABLE = "ringback_tz"
WINDOW_VARIABLE = "ringback_window"
SOURCE_VARIABLE = "ringback_source"
CAMPAIGN_VARIABLE = "ringback_campaign"
DEBT_AMOUNT_VARIABLE = "debt_amount"
DEBT_CURRENCY_VARIABLE = "debt_currency"
VARIABLE_PREFIX = "var_"

_PHONE_COLUMN = re.compile(r"^phone([1-9]|1[0-9]|20)?$")
KNOWN_COLUMNS = frozenset(
    {
        "name",
        "phones",
        "key",
        "campaign",
        "debt_amount",
        "debt_currency",
        "timezone",
        "agent",
        "bucket",
        "expire_at",
        "priority",
        "not_before",
        "calling_window",
    }
)
_ALIASES = {
    "expiry": "expire_at",
    "expires": "expire_at",
    "expires_at": "expire_at",
    "amount": "debt_amount",
    "currency": "debt_currency",
    "tz": "timezone",
    "window": "calling_window",
}
_ID = re.compile(r"^[0-9]{1,19}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_RESERVED_VARIABLES = frozenset(
    {
        ID_TAG,
        TZ_VARIABLE,
        WINDOW_VARIABLE,
        SOURCE_VARIABLE,
        CAMPAIGN_VARIABLE,
        DEBT_AMOUNT_VARIABLE,
        DEBT_CURRENCY_VARIABLE,
    }
)
MAX_VARIABLE_LENGTH = 1000
_UNKNOWN_ZONE = "Etc/Unknown"
# How far ahead a calling window is searched for its next opening.
_WINDOW_HORIZON_DAYS = 14


class RowProblem(ValueError):
    """Why one CSV row cannot be imported; ``message`` names the column."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------
# Calling windows


@dataclass(frozen=True)
class CallingWindow:
    """Days and one local time range in which a member may be called, e.g. ``mon-sat 08:00-20:00``."""

    days: frozenset[Weekday]
    opens: time
    closes: time

    @classmethod
    def parse(cls, text: str) -> CallingWindow:
        parts = text.strip().lower().split()
        if len(parts) != 2:
            raise ValueError(f"'{text}' is not a calling window like 'mon-sat 08:00-20:00'")
        days = _parse_days(parts[0])
        hours = parse_range(parts[1])
        return cls(days=frozenset(days), opens=hours.opens, closes=hours.closes)

    def spec(self) -> str:
        days = ",".join(day for day in WEEKDAYS if day in self.days)
        return f"{days} {self.opens:%H:%M}-{format_clock(self.closes)}"

    def _open_in(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone)
        clock = local.time()
        # "24:00" is open to the end of the day, its last minute and second included.
        before_close = clock < self.closes or self.closes == END_OF_DAY
        return WEEKDAYS[local.weekday()] in self.days and self.opens <= clock and before_close

    def is_open(self, moment: datetime, zones: Sequence[ZoneInfo]) -> bool:
        """Open in every zone the member may be in (a number may span several)."""
        return all(self._open_in(moment, zone) for zone in zones)

    def next_opening(self, moment: datetime, zones: Sequence[ZoneInfo]) -> datetime | None:
        """The first moment >= ``moment`` at which the window is open in every zone, or None
        when there is none within two weeks (zones too far apart for one window)."""
        if self.is_open(moment, zones):
            return moment
        candidates: set[datetime] = set()
        for zone in zones:
            local_day = moment.astimezone(zone).date()
            for offset in range(_WINDOW_HORIZON_DAYS + 1):
                day = local_day + timedelta(days=offset)
                opening = datetime.combine(day, self.opens, tzinfo=zone).astimezone(UTC)
                if opening > moment:
                    candidates.add(opening)
        for candidate in sorted(candidates):
            if self.is_open(candidate, zones):
                return candidate
        return None


def _parse_days(text: str) -> list[Weekday]:
    days: list[Weekday] = []
    for part in text.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            start, end = _weekday(first), _weekday(last)
            index = WEEKDAYS.index(start)
            while True:
                days.append(WEEKDAYS[index])
                if WEEKDAYS[index] == end:
                    break
                index = (index + 1) % 7
        else:
            days.append(_weekday(part))
    return days


def _weekday(text: str) -> Weekday:
    for day in WEEKDAYS:
        if day == text:
            return day
    raise ValueError(f"'{text}' is not a weekday (mon..sun)")


def member_zones(entry: OutboxEntry) -> list[ZoneInfo]:
    """The IANA zones an entry's member may be in (empty when it has none)."""
    raw = entry.member.variables.get(TZ_VARIABLE, "")
    zones = []
    for name in raw.split(","):
        if name.strip():
            try:
                zones.append(ZoneInfo(name.strip()))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return zones


def entry_window(entry: OutboxEntry) -> tuple[CallingWindow, list[ZoneInfo]] | None:
    """The calling window an entry carries, with its zones; None for entries without one."""
    spec = entry.member.variables.get(WINDOW_VARIABLE)
    zones = member_zones(entry)
    if not spec or not zones:
        return None
    try:
        return CallingWindow.parse(spec), zones
    except ValueError:
        return None


def zones_for_number(e164: str, fallback: str) -> list[str]:
    """IANA zones of a number from its numbering plan; ``fallback`` when unknown."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return [fallback]
    names = [name for name in phone_timezones.time_zones_for_number(parsed) if name != _UNKNOWN_ZONE]
    return sorted(names) or [fallback]


# ---------------------------------------------------------------------------------------------
# CSV rows -> entries


@dataclass(frozen=True)
class CampaignDefaults:
    """What the import knows besides the rows."""

    queue_id: str
    communication_type_id: str
    default_region: str
    default_timezone: str
    calling_window: CallingWindow
    file_name: str
    now: datetime
    campaign: str = ""
    default_expiry_days: int = 30
    # How far ahead expire_at / not_before may be (settings.campaign_time_horizon_days).
    time_horizon_days: int = 365
    # IANA name -> Webitel timezone lookup id (optional operator configuration).
    timezone_ids: Mapping[str, str] = field(default_factory=dict)


def normalise_column(name: str) -> str:
    key = re.sub(r"[\s\-.]+", "_", name.strip().lower().lstrip("\ufeff"))
    key = re.sub(r"^phone_(\d+)$", r"phone\1", key)
    return _ALIASES.get(key, key)


def check_header(columns: Sequence[str]) -> list[str]:
    """File-level problems of a header row (empty list = usable)."""
    problems: list[str] = []
    seen: set[str] = set()
    normalised = [normalise_column(column) for column in columns]
    for raw, column in zip(columns, normalised, strict=True):
        if not column:
            problems.append("an empty column name in the header")
        elif column in seen:
            problems.append(f"column '{raw}' appears twice")
        elif not (
            column in KNOWN_COLUMNS
            or _PHONE_COLUMN.match(column)
            or (column.startswith(VARIABLE_PREFIX) and _VARIABLE_NAME.match(column[len(VARIABLE_PREFIX) :]))
        ):
            problems.append(
                f"unknown column '{raw}' (free variables are named var_<name>; see the CSV format)"
            )
        seen.add(column)
    if "name" not in seen:
        problems.append("the header has no 'name' column")
    if not any(_PHONE_COLUMN.match(column) or column == "phones" for column in seen):
        problems.append("the header has no 'phone' (or 'phones') column")
    return problems


def entry_id_for(queue_id: str, campaign: str, key: str) -> str:
    """Deterministic: the same debtor (queue, campaign, key or primary phone) is one entry."""
    digest = hashlib.sha256(f"{queue_id}|{campaign}|{key}".encode()).hexdigest()[:40]
    return f"cmp-{digest}"


@dataclass(frozen=True)
class ParsedRow:
    entry: OutboxEntry
    phones: tuple[str, ...]


def parse_row(row: Mapping[str, str | None], line: int, defaults: CampaignDefaults) -> ParsedRow:
    """One CSV row (keys already normalised) as an outbox entry; RowProblem says why not."""
    values = {key: (value or "").strip() for key, value in row.items() if key}
    name = values.get("name", "")
    if not name:
        raise RowProblem("name: required")
    if len(name) > MAX_MEMBER_NAME_LENGTH:
        raise RowProblem(f"name: longer than {MAX_MEMBER_NAME_LENGTH} characters")

    phones = _phones(values, defaults.default_region)
    zone_names = _zones(values.get("timezone", ""), phones[0], defaults.default_timezone)
    zones = [ZoneInfo(zone) for zone in zone_names]
    window = defaults.calling_window
    if values.get("calling_window"):
        try:
            window = CallingWindow.parse(values["calling_window"])
        except ValueError as error:
            raise RowProblem(f"calling_window: {error}") from None
    if window.next_opening(defaults.now, zones) is None:
        raise RowProblem(
            "calling_window: never open in all of the number's possible timezones "
            f"({', '.join(zone_names)}); give the member's timezone"
        )

    expires_at = _expiry(values.get("expire_at", ""), zones[0], defaults)
    priority = _int_column(values, "priority", INT32_MIN, INT32_MAX, default=0)
    not_before = (
        _bounded(_moment(values["not_before"], zones[0], "not_before"), "not_before", defaults)
        if values.get("not_before")
        else None
    )
    if not_before is not None and not_before >= expires_at:
        raise RowProblem("not_before: not before expire_at (the member would expire before it may be called)")

    variables: dict[str, str] = {}
    for column, value in values.items():
        if column.startswith(VARIABLE_PREFIX) and value:
            variable = column[len(VARIABLE_PREFIX) :]
            if variable in _RESERVED_VARIABLES:
                raise RowProblem(f"{column}: '{variable}' is set by ringback")
            if len(value) > MAX_VARIABLE_LENGTH:
                raise RowProblem(f"{column}: longer than {MAX_VARIABLE_LENGTH} characters")
            variables[variable] = value
    amount, currency = values.get("debt_amount", ""), values.get("debt_currency", "").upper()
    if amount:
        variables[DEBT_AMOUNT_VARIABLE] = _amount(amount)
        if not _CURRENCY.match(currency):
            raise RowProblem("debt_currency: a three-letter ISO 4217 code is required with debt_amount")
        variables[DEBT_CURRENCY_VARIABLE] = currency
    elif currency:
        raise RowProblem("debt_amount: required with debt_currency")

    campaign = values.get("campaign") or defaults.campaign
    key = values.get("key") or phones[0]
    entry_id = entry_id_for(defaults.queue_id, campaign, key)
    variables.update(
        {
            ID_TAG: entry_id,
            SOURCE_VARIABLE: "campaign",
            TZ_VARIABLE: ",".join(zone_names),
            WINDOW_VARIABLE: window.spec(),
        }
    )
    if campaign:
        variables[CAMPAIGN_VARIABLE] = campaign

    bucket = _lookup_column(values, "bucket")
    agent = _lookup_column(values, "agent")
    timezone_id = defaults.timezone_ids.get(zone_names[0]) if len(zone_names) == 1 else None
    member = MemberItem(
        name=name,
        priority=priority,
        expire_at=epoch_ms(expires_at),
        # A not_before already past means "now": Webitel gets no min_offering_at at all.
        min_offering_at=epoch_ms(not_before)
        if not_before is not None and not_before > defaults.now
        else None,
        variables=variables,
        timezone=Lookup(id=timezone_id) if timezone_id else None,
        bucket=bucket,
        agent=agent,
        communications=_communications(phones, defaults.communication_type_id),
    )
    source_key = values.get("key") or phone_hash(phones[0])
    entry = OutboxEntry(
        entry_id=entry_id,
        source="campaign",
        source_id=f"{campaign}:{source_key}" if campaign else source_key,
        queue_id=defaults.queue_id,
        member=member,
        due_at=not_before if not_before is not None and not_before > defaults.now else defaults.now,
        expires_at=expires_at,
        file_name=defaults.file_name,
        line=line,
    )
    return ParsedRow(entry=entry, phones=tuple(phones))


def _communications(phones: Sequence[str], type_id: str) -> list[MemberCommunication]:
    count = len(phones)
    return [
        MemberCommunication(
            destination=phone,
            type=Lookup(id=type_id),
            # Webitel dials a member's higher-priority communication first: the primary phone.
            priority=count - index,
            description="primary" if index == 0 else f"phone {index + 1}",
        )
        for index, phone in enumerate(phones)
    ]


def without_phones(entry: OutboxEntry, blocked: set[str]) -> OutboxEntry | None:
    """The entry without its blocked (do-not-call) numbers; None when none is left."""
    phones = [c.destination for c in entry.member.communications if c.destination not in blocked]
    if not phones:
        return None
    if len(phones) == len(entry.member.communications):
        return entry
    type_id = entry.member.communications[0].type.id
    member = entry.member.model_copy(update={"communications": _communications(phones, type_id)})
    return entry.model_copy(update={"member": member})


def merge_entries(first: OutboxEntry, later: OutboxEntry) -> OutboxEntry:
    """``later`` (a duplicate row of the same debtor) merged into ``first``.

    Phones are united (first's order, then later's new ones, at most 20); the later row's
    name, variables, lookups and not-before win; the higher priority and the later expiry win.
    Identity (id, source, queue, file, line) stays ``first``'s.
    """
    phones = [c.destination for c in first.member.communications]
    for communication in later.member.communications:
        if communication.destination not in phones:
            phones.append(communication.destination)
    phones = phones[:MAX_COMMUNICATIONS]
    type_id = later.member.communications[0].type.id
    expiries = [e for e in (first.expires_at, later.expires_at) if e is not None]
    expires_at = max(expiries) if expiries else None
    member = later.member.model_copy(
        update={
            "priority": max(first.member.priority, later.member.priority),
            "expire_at": epoch_ms(expires_at) if expires_at is not None else None,
            "variables": {**first.member.variables, **later.member.variables},
            "communications": _communications(phones, type_id),
        }
    )
    return first.model_copy(
        update={"member": member, "expires_at": expires_at, "due_at": min(first.due_at, later.due_at)}
    )


def _phones(values: Mapping[str, str], region: str) -> list[str]:
    raw: list[tuple[str, str]] = []
    for column in sorted((c for c in values if _PHONE_COLUMN.match(c)), key=_phone_order):
        if values[column]:
            raw.append((column, values[column]))
    for part in re.split(r"[;|]", values.get("phones", "")):
        if part.strip():
            raw.append(("phones", part.strip()))
    if not raw:
        raise RowProblem("phone: at least one phone number is required")
    phones: list[str] = []
    for column, text in raw:
        try:
            number = parse_phone(text, region, reject_costly=True)
        except InvalidPhone as error:
            raise RowProblem(f"{column}: {error.message}") from None
        if number.e164 not in phones:
            phones.append(number.e164)
    if len(phones) > MAX_COMMUNICATIONS:
        raise RowProblem(f"phone: at most {MAX_COMMUNICATIONS} numbers per member")
    return phones


def _phone_order(column: str) -> int:
    suffix = column[len("phone") :]
    return int(suffix) if suffix else 0


def _zones(text: str, primary: str, fallback: str) -> list[str]:
    if text:
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise RowProblem(f"timezone: unknown IANA timezone '{text}'") from None
        return [text]
    return zones_for_number(primary, fallback)


def _moment(text: str, zone: ZoneInfo, column: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RowProblem(f"{column}: '{text[:40]}' is not an ISO 8601 date or time we can use") from None


def _expiry(text: str, zone: ZoneInfo, defaults: CampaignDefaults) -> datetime:
    if not text:
        return defaults.now + timedelta(days=defaults.default_expiry_days)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise RowProblem(f"expire_at: '{text}' is not a date") from None
        # A date means "until the end of that day" in the member's timezone.
        moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    else:
        moment = _moment(text, zone, "expire_at")
    if moment <= defaults.now:
        raise RowProblem("expire_at: already in the past")
    return _bounded(moment, "expire_at", defaults)


# Webitel's engine turns an epoch-ms time into a Go time with ``time.Unix(0, ms *
# int64(time.Millisecond))`` (webitel/engine, model/call.go ``Int64ToTime``): past
# 2262-04-11 the nanoseconds overflow int64 and the member gets a garbage time, so such times
# (an ``expire_at`` in year 6000) are refused here, and sane bounds are far inside it anyway.
_SLACK_PAST = timedelta(days=1)


def _bounded(moment: datetime, column: str, defaults: CampaignDefaults) -> datetime:
    """``moment`` when it lies in [now - 1 day, now + horizon]; RowProblem naming ``column``."""
    earliest = defaults.now - _SLACK_PAST
    latest = defaults.now + timedelta(days=defaults.time_horizon_days)
    if moment < earliest:
        raise RowProblem(f"{column}: {moment:%Y-%m-%d %H:%M} UTC is more than a day in the past")
    if moment > latest:
        raise RowProblem(
            f"{column}: {moment:%Y-%m-%d} is more than {defaults.time_horizon_days} days ahead "
            "(the import's time horizon)"
        )
    if not 0 < int(moment.timestamp() * 1000) <= MAX_EPOCH_MS:
        raise RowProblem(f"{column}: outside the times Webitel can store")
    return moment


def _int_column(values: Mapping[str, str], column: str, low: int, high: int, *, default: int) -> int:
    text = values.get(column, "")
    if not text:
        return default
    try:
        number = int(text)
    except ValueError:
        raise RowProblem(f"{column}: '{text}' is not a whole number") from None
    if not low <= number <= high:
        raise RowProblem(f"{column}: must be between {low} and {high}")
    return number


def _lookup_column(values: Mapping[str, str], column: str) -> Lookup | None:
    text = values.get(column, "")
    if not text:
        return None
    if not _ID.match(text) or int(text) < 1:
        raise RowProblem(f"{column}: must be a Webitel {column} id (a positive whole number)")
    return Lookup(id=text)


def _amount(text: str) -> str:
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise RowProblem(f"debt_amount: '{text}' is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise RowProblem("debt_amount: must be a non-negative amount")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise RowProblem("debt_amount: at most two decimal places")
    return f"{amount:.2f}"

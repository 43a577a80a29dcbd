"""Import a debtor campaign CSV (or a do-not-call CSV) into the dialer outbox, streaming.

Rows are read one at a time and written in chunks, so memory does not grow with the file
(only the ids seen so far, for the duplicate count, are kept). Every bad row is reported with
its line and reason; the good rows are imported. See docs/dialer.md for the format.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ringback.domain.campaigns import (
    CallingWindow,
    CampaignDefaults,
    ParsedRow,
    RowProblem,
    check_header,
    merge_entries,
    normalise_column,
    parse_row,
    without_phones,
)
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import OutboxEntry, OutboxState
from ringback.domain.phones import InvalidPhone, parse_phone
from ringback.domain.receipts import Problem, Receipt, ReceiptGroup
from ringback.observability import logger
from ringback.ports.clock import Clock
from ringback.ports.dnc import DoNotCallList
from ringback.ports.outbox import DialerOutbox
from ringback.ports.receipts import ReceiptStore
from ringback.services.dialer_upload import new_run_id

DEFAULT_WINDOW = "mon-sat 08:00-20:00"
# The csv module's default field limit is 128 KiB; no legitimate cell is near it.
_FIELD_LIMIT = 64 * 1024
_MAX_BAD_ROWS_KEPT = 100_000
_MAX_BAD_ROWS_RETURNED = 1000


@dataclass(frozen=True)
class ImportSettings:
    default_region: str = "CZ"
    calling_window: str = DEFAULT_WINDOW
    default_expiry_days: int = 30
    time_horizon_days: int = 365
    timezone_ids: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 100
    campaign: str = ""


@dataclass
class ImportReport:
    """The receipt plus every bad row (the receipt lists at most 500 per group)."""

    receipt: Receipt
    bad_rows: list[Problem] = field(default_factory=list)
    bad_rows_not_kept: int = 0

    def add_bad_row(self, problem: Problem) -> None:
        if len(self.bad_rows) < _MAX_BAD_ROWS_KEPT:
            self.bad_rows.append(problem)
        else:
            self.bad_rows_not_kept += 1

    def to_dict(self) -> dict[str, object]:
        return {
            **self.receipt.summary(),
            "groups": [group.model_dump(mode="json") for group in self.receipt.groups],
            # Bounded so the answer fits a Lambda response; the errors CSV has every row.
            "bad_rows": [
                problem.model_dump(mode="json", exclude_none=True)
                for problem in self.bad_rows[:_MAX_BAD_ROWS_RETURNED]
            ],
            "bad_rows_total": len(self.bad_rows) + self.bad_rows_not_kept,
        }


def decoded_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Byte chunks (an S3 body, a file) as text lines, without reading everything first.
    Bytes that are not UTF-8 become U+FFFD, and their row is reported, not guessed."""
    pending = b""
    first = True
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            text = raw.decode("utf-8", errors="replace")
            if first:
                text, first = text.removeprefix("\ufeff"), False
            yield text + "\n"
    if pending:
        text = pending.decode("utf-8", errors="replace")
        yield text.removeprefix("\ufeff") if first else text


def _reader(lines: Iterator[str]) -> tuple[csv.DictReader[str] | None, str | None]:
    """A DictReader with the delimiter (``,`` or ``;``) taken from the header line."""
    header = next(lines, None)
    if header is None or not header.strip():
        return None, "the file is empty (a header row is required)"
    delimiter = ";" if header.count(";") > header.count(",") else ","
    csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.DictReader(itertools.chain([header], lines), delimiter=delimiter, restkey="\x00extra")
    return reader, None


def _rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line, row with normalised keys); malformed rows are reported and skipped."""
    columns = [normalise_column(name) for name in reader.fieldnames or []]
    raw_iter = iter(reader)
    while True:
        try:
            row = next(raw_iter)
        except StopIteration:
            return
        except csv.Error as error:
            yield reader.line_num, {"\x00error": f"malformed CSV: {error}"}
            continue
        line = reader.line_num
        if row.get("\x00extra"):
            yield line, {"\x00error": "more values than columns in the header"}
            continue
        values = list(row.values())
        if all(value is None or not str(value).strip() for value in values):
            continue  # blank lines are not rows
        if any(value is not None and "\ufffd" in value for value in values):
            yield line, {"\x00error": "not UTF-8 text; save the file as UTF-8"}
            continue
        yield line, dict(zip(columns, values, strict=False))


class _CampaignImport:
    def __init__(
        self,
        outbox: DialerOutbox,
        dnc: DoNotCallList | None,
        defaults: CampaignDefaults,
        report: ImportReport,
    ) -> None:
        self.outbox = outbox
        self.dnc = dnc
        self.defaults = defaults
        self.report = report
        self.group = report.receipt.group(defaults.queue_id, defaults.file_name)
        self.seen: set[str] = set()

    def bad(self, line: int, reason: str) -> None:
        problem = Problem(line=line, reason=reason)
        self.group.add("bad_rows")
        self.group.problem(problem)
        self.report.add_bad_row(problem)

    def chunk(self, parsed: list[ParsedRow]) -> None:
        blocked: set[str] = set()
        if self.dnc is not None:
            blocked = self.dnc.blocked({phone for row in parsed for phone in row.phones})
        fresh: dict[str, OutboxEntry] = {}
        repeats: list[OutboxEntry] = []
        for row in parsed:
            entry = without_phones(row.entry, blocked) if blocked else row.entry
            if entry is None:
                self.group.add("dnc_suppressed")
                self.group.problem(
                    Problem(line=row.entry.line, reason="do-not-call: every number is on the list")
                )
                continue
            if entry.entry_id in fresh:
                fresh[entry.entry_id] = merge_entries(fresh[entry.entry_id], entry)
                self.group.add("duplicates_merged")
            elif entry.entry_id in self.seen:
                repeats.append(entry)
            else:
                fresh[entry.entry_id] = entry
        new = list(fresh.values())
        added = self.outbox.add_many(new)
        for entry, was_added in zip(new, added, strict=True):
            self.seen.add(entry.entry_id)
            if was_added:
                self.group.add("imported")
            else:
                self.merge_into_stored(entry, within_file=False)
        for entry in repeats:
            self.merge_into_stored(entry, within_file=True)

    def merge_into_stored(self, entry: OutboxEntry, *, within_file: bool) -> None:
        for _ in range(3):
            stored = self.outbox.get(entry.entry_id)
            if stored is None:
                if self.outbox.add(entry):
                    self.group.add("imported")
                    return
                continue
            if stored.state == OutboxState.PENDING:
                if self.outbox.replace(merge_entries(stored, entry), expected=OutboxState.PENDING):
                    self.group.add("duplicates_merged")
                    return
                continue
            if stored.state == OutboxState.REJECTED and not within_file:
                # The row was fixed and uploaded again: replace the rejected member, re-drive it.
                fixed = entry.model_copy(update={"attempts": stored.attempts})
                if self.outbox.replace(fixed, expected=OutboxState.REJECTED):
                    self.outbox.requeue([entry.entry_id], self.defaults.now)
                    self.group.add("imported")
                    return
                continue
            self.group.add("duplicates_skipped")
            return
        self.group.add("duplicates_skipped")


def import_campaign_csv(
    lines: Iterable[str],
    file_name: str,
    outbox: DialerOutbox,
    clock: Clock,
    config: OperatorConfig,
    *,
    settings: ImportSettings | None = None,
    dnc: DoNotCallList | None = None,
    receipts: ReceiptStore | None = None,
) -> ImportReport:
    """Import one campaign file into the debtor queue's outbox; never raises for bad data."""
    settings = settings or ImportSettings()
    now = clock.now()
    receipt = Receipt(run_id=new_run_id(clock, "import"), kind="import", job="campaigns", started_at=now)
    report = ImportReport(receipt=receipt)
    defaults = CampaignDefaults(
        queue_id=config.debtor_queue_id,
        communication_type_id=config.communication_type_id,
        default_region=settings.default_region,
        default_timezone=config.timezone,
        calling_window=CallingWindow.parse(settings.calling_window),
        file_name=file_name,
        now=now,
        campaign=settings.campaign,
        default_expiry_days=settings.default_expiry_days,
        time_horizon_days=settings.time_horizon_days,
        timezone_ids=settings.timezone_ids,
    )
    run = _CampaignImport(outbox, dnc, defaults, report)
    reader, problem = _reader(iter(lines))
    if reader is None:
        receipt.file_problems.append(problem or "unreadable file")
    else:
        header_problems = check_header(reader.fieldnames or [])
        if header_problems:
            # The meaning of the data is unclear (a misspelt column would silently lose a
            # phone number): import nothing and say why.
            receipt.file_problems.extend(f"line 1: {text}" for text in header_problems)
        else:
            _import_rows(reader, run, defaults, report, settings.chunk_size)
    receipt.group(defaults.queue_id, file_name)
    receipt.finished_at = clock.now()
    if receipts is not None:
        receipts.save(receipt)
    logger.info("campaign import", extra={"receipt": receipt.summary()})
    return report


def _import_rows(
    reader: csv.DictReader[str],
    run: _CampaignImport,
    defaults: CampaignDefaults,
    report: ImportReport,
    chunk_size: int,
) -> None:
    chunk: list[ParsedRow] = []
    for line, row in _rows(reader):
        if "\x00error" in row:
            run.bad(line, str(row["\x00error"]))
            continue
        try:
            chunk.append(parse_row(row, line, defaults))
        except RowProblem as error:
            run.bad(line, error.message)
            continue
        if len(chunk) >= chunk_size:
            run.chunk(chunk)
            chunk = []
    if chunk:
        run.chunk(chunk)


def import_dnc_csv(
    lines: Iterable[str],
    file_name: str,
    dnc: DoNotCallList,
    clock: Clock,
    *,
    default_region: str = "CZ",
    receipts: ReceiptStore | None = None,
) -> ImportReport:
    """A do-not-call file: columns ``phone`` (required), ``reason``, ``action`` (add | remove)."""
    receipt = Receipt(run_id=new_run_id(clock, "dnc"), kind="import", job="dnc", started_at=clock.now())
    report = ImportReport(receipt=receipt)
    group = receipt.group("dnc", file_name)
    reader, problem = _reader(iter(lines))
    if reader is None:
        receipt.file_problems.append(problem or "unreadable file")
    else:
        columns = [normalise_column(name) for name in reader.fieldnames or []]
        unknown = [c for c in columns if c not in ("phone", "reason", "action")]
        if "phone" not in columns or unknown:
            receipt.file_problems.append(
                "line 1: a do-not-call file has the columns phone, reason (optional), action "
                f"(optional: add | remove); unknown: {', '.join(unknown) or '-'}"
            )
        else:
            for line, row in _rows(reader):
                reason = row.get("\x00error")
                if reason is None:
                    reason = _dnc_row(row, dnc, file_name, default_region, group)
                if reason is not None:
                    bad = Problem(line=line, reason=str(reason))
                    group.add("bad_rows")
                    group.problem(bad)
                    report.add_bad_row(bad)
    receipt.finished_at = clock.now()
    if receipts is not None:
        receipts.save(receipt)
    return report


def _dnc_row(
    row: dict[str, str | None], dnc: DoNotCallList, file_name: str, region: str, group: ReceiptGroup
) -> str | None:
    action = (row.get("action") or "add").strip().lower()
    if action not in ("add", "remove"):
        return "action: must be add or remove"
    try:
        number = parse_phone(row.get("phone") or "", region)
    except InvalidPhone as error:
        return f"phone: {error.message}"
    if action == "add":
        dnc.add(number.e164, reason=(row.get("reason") or "do-not-call").strip()[:200], source=file_name)
        group.add("dnc_added")
    else:
        dnc.remove(number.e164)
        group.add("dnc_removed")
    return None

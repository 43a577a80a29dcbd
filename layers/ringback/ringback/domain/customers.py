"""The customer directory: who a caller is, read from a CRM's CSV export.

CSV format (one customer a row; the header names the columns, in any order, case-insensitive):

==================  ========  ===============================================================
column              required  meaning
==================  ========  ===============================================================
customer_id         yes       the CRM's id of the customer (max 128 characters)
phones              yes       one or more numbers, separated by ``|`` or ``;`` (or ``,`` when the
                              file itself is ``;``-separated); any common notation
                              (``+420 777 666 555``, ``00420...``, national ``777666555``)
name                no        display name (max 250 characters)
debt                no        explicit debt flag: true/false, yes/no, 1/0, ano/ne; when empty the
                              flag is ``debt_amount > 0``; when given it wins over the amount
debt_amount         no        amount owed, ``1234.50``, ``1 234,50`` or ``1.234,50``
debt_currency       no        ISO 4217 code (CZK, EUR)
debt_as_of          no        date of the debt figure: ``2026-10-31`` or ``31.10.2026``
segment             no        free text a flow can branch on (vip, retail...; max 64)
priority            no        integer, higher first (Webitel member/queue priority); default 0
agent_extension     no        the preferred agent's extension (``1005``)
bucket_id           no        the Webitel bucket that binds the customer to an agent (int64)
language            no        ``cs``, ``en``, ``cs-CZ``...
==================  ========  ===============================================================

The delimiter (``,``, ``;`` or tab) is taken from the header line; a UTF-8 BOM is accepted and
files that are not UTF-8 are read as Windows-1250 (what Czech Excel writes). Unknown columns are
ignored and reported. A bad row is rejected with its line number and every reason; the rest is
imported. A number listed by two customers is rejected on the later row (a caller must map to one
customer); so is a repeated ``customer_id``.

Storage (CustomersTable): one item per phone number, ``pk = "PHONE#<e164>"``, holding the
customer's routing data (the flat fields of :class:`DirectoryEntry`) and ``fp``, a fingerprint of
that data. The routing lookup is one ``GetItem``; an import compares fingerprints to write only
what changed, and a full import deletes the numbers that are no longer in the export after
writing the new ones (see ``services.customer_import``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ringback.domain.phones import InvalidPhone, parse_phone

PK_PREFIX = "PHONE#"

REQUIRED_COLUMNS = ("customer_id", "phones")
OPTIONAL_COLUMNS = (
    "name",
    "debt",
    "debt_amount",
    "debt_currency",
    "debt_as_of",
    "segment",
    "priority",
    "agent_extension",
    "bucket_id",
    "language",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Header spellings CRM exports commonly use for our columns.
_ALIASES = {
    "id": "customer_id",
    "customer": "customer_id",
    "client_id": "customer_id",
    "phone": "phones",
    "phone_numbers": "phones",
    "numbers": "phones",
    "telephone": "phones",
    "has_debt": "debt",
    "debt_flag": "debt",
    "debtor": "debt",
    "amount": "debt_amount",
    "currency": "debt_currency",
    "as_of": "debt_as_of",
    "agent": "agent_extension",
    "extension": "agent_extension",
    "bucket": "bucket_id",
    "lang": "language",
    "locale": "language",
}

_TRUE = frozenset({"true", "yes", "y", "1", "ano", "a", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "ne", "f"})
_WHITESPACE_RUN = re.compile(r"[ \t\r\n]*[\t\r\n][ \t\r\n]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EXTENSION = re.compile(r"^[0-9A-Za-z*#+_.-]{1,20}$")
_BUCKET = re.compile(r"^[1-9]\d{0,18}$")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z]{2}))?$", re.IGNORECASE)
_CZECH_DATE = re.compile(r"^(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{4})$")
_SPACES = re.compile(r"[\s\u00a0\u202f']")
INT32_MAX = 2**31 - 1


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing...)."""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the directory knows about one phone number: the customer it belongs to."""

    e164: str
    customer_id: str
    name: str | None = None
    debt: bool = False
    debt_amount: str | None = None
    debt_currency: str | None = None
    debt_as_of: str | None = None
    segment: str | None = None
    priority: int = 0
    agent_extension: str | None = None
    bucket_id: str | None = None
    language: str | None = None

    @property
    def pk(self) -> str:
        return PK_PREFIX + self.e164

    def attributes(self) -> dict[str, Any]:
        """The stored fields except the number itself (which is the key)."""
        data = asdict(self)
        del data["e164"]
        return data

    def fingerprint(self) -> str:
        """A stable digest of the entry: equal fingerprints mean an unchanged entry."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    phones: tuple[str, ...]
    name: str | None = None
    debt: bool = False
    debt_amount: Decimal | None = None
    debt_currency: str | None = None
    debt_as_of: date | None = None
    segment: str | None = None
    priority: int = 0
    agent_extension: str | None = None
    bucket_id: str | None = None
    language: str | None = None

    def entries(self) -> list[DirectoryEntry]:
        """One directory entry per phone number."""
        return [
            DirectoryEntry(
                e164=phone,
                customer_id=self.customer_id,
                name=self.name,
                debt=self.debt,
                debt_amount=None if self.debt_amount is None else format(self.debt_amount, "f"),
                debt_currency=self.debt_currency,
                debt_as_of=None if self.debt_as_of is None else self.debt_as_of.isoformat(),
                segment=self.segment,
                priority=self.priority,
                agent_extension=self.agent_extension,
                bucket_id=self.bucket_id,
                language=self.language,
            )
            for phone in self.phones
        ]


@dataclass(frozen=True, slots=True)
class RowRejection:
    """A row that was not imported: its line in the file and every reason."""

    line: int
    reason: str
    fields: tuple[str, ...] = ()
    customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "reason": self.reason,
            "fields": list(self.fields),
            "customer_id": self.customer_id,
        }


@dataclass
class ParsedExport:
    customers: list[Customer] = field(default_factory=list)
    rejections: list[RowRejection] = field(default_factory=list)
    rows: int = 0
    delimiter: str = ","
    ignored_columns: tuple[str, ...] = ()


# ------------------------------------------------------------------ decoding and header


def decode_export(data: bytes) -> tuple[str, str]:
    """The text of an export and the encoding it was read with (UTF-8, else Windows-1250)."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1250", errors="replace"), "cp1250"


def _detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column_name(raw: str) -> str:
    name = re.sub(r"[\s\-]+", "_", raw.strip().lstrip("\ufeff").strip().lower())
    return _ALIASES.get(name, name)


def _header(names: list[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    index: dict[str, int] = {}
    ignored: list[str] = []
    for position, raw in enumerate(names):
        name = _column_name(raw)
        if not name:
            continue
        if name in index:
            raise CsvFormatError(f"column '{name}' appears twice in the header")
        if name in COLUMNS:
            index[name] = position
        else:
            ignored.append(raw.strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise CsvFormatError(
            f"the header lacks required column(s) {', '.join(missing)}; "
            f"expected columns: {', '.join(COLUMNS)}"
        )
    return index, tuple(ignored)


# ------------------------------------------------------------------ field parsers


class _FieldError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _text(column: str, value: str, max_len: int) -> str | None:
    # Line breaks and tabs inside a quoted cell become single spaces; other controls are refused.
    value = _WHITESPACE_RUN.sub(" ", value).strip()
    if not value:
        return None
    if _CONTROL.search(value):
        raise _FieldError(column, f"{column} contains control characters")
    if len(value) > max_len:
        raise _FieldError(column, f"{column} is longer than {max_len} characters")
    return value


def parse_amount(value: str) -> Decimal | None:
    """``1234.50``, ``1 234,50``, ``1.234,50``, ``1,234.50`` -> Decimal; empty -> None."""
    text = _SPACES.sub("", value.strip())
    if not text:
        return None
    if "," in text and "." in text:
        # The later separator is the decimal one; the other groups thousands.
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite():
        raise ValueError("not a finite number")
    return amount


def parse_flag(value: str) -> bool | None:
    text = value.strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("use true/false, yes/no, 1/0 or ano/ne")


def parse_day(value: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    match = _CZECH_DATE.match(text)
    try:
        if match:
            return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        if len(text) > 10 and text[10] in "T ":
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("use YYYY-MM-DD or DD.MM.YYYY") from None


def split_phones(value: str, delimiter: str) -> list[str]:
    separators = "".join(s for s in "|;," if s != delimiter)
    return [p.strip() for p in re.split(f"[{re.escape(separators)}]", value) if p.strip()]


def _priority(value: str) -> int:
    text = value.strip()
    if not text:
        return 0
    if not re.fullmatch(r"[+-]?\d{1,10}", text) or abs(int(text)) > INT32_MAX:
        raise _FieldError("priority", "priority must be a whole number (32-bit)")
    return int(text)


def _language(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    match = _LANGUAGE.match(text)
    if not match:
        raise _FieldError("language", "language must be a language code such as cs, en or cs-CZ")
    primary, region = match.group(1).lower(), match.group(2)
    return f"{primary}-{region.upper()}" if region else primary


# ------------------------------------------------------------------ rows


def _customer_from_row(
    values: dict[str, str], delimiter: str, default_region: str
) -> tuple[Customer | None, list[_FieldError]]:
    problems: list[_FieldError] = []

    def guard(column: str, parse: Any, *args: Any) -> Any:
        try:
            return parse(*args)
        except _FieldError as error:
            problems.append(error)
        except ValueError as error:
            problems.append(_FieldError(column, f"{column}: {error}"))
        return None

    customer_id = guard("customer_id", _text, "customer_id", values.get("customer_id", ""), 128)
    if customer_id is None and not any(p.column == "customer_id" for p in problems):
        problems.append(_FieldError("customer_id", "customer_id is required"))

    phones: list[str] = []
    raw_phones = split_phones(values.get("phones", ""), delimiter)
    if not raw_phones:
        problems.append(_FieldError("phones", "phones: at least one phone number is required"))
    for position, raw in enumerate(raw_phones, start=1):
        try:
            e164 = parse_phone(raw, default_region).e164
        except InvalidPhone as error:
            # The number itself stays out of the report: the position identifies it.
            problems.append(
                _FieldError("phones", f"phones: number #{position} is not valid ({error.problem})")
            )
            continue
        if e164 not in phones:
            phones.append(e164)

    name = guard("name", _text, "name", values.get("name", ""), 250)
    explicit_debt = guard("debt", parse_flag, values.get("debt", ""))
    amount = guard("debt_amount", parse_amount, values.get("debt_amount", ""))
    currency_text = values.get("debt_currency", "").strip().upper()
    currency = None
    if currency_text:
        if _CURRENCY.match(currency_text):
            currency = currency_text
        else:
            problems.append(_FieldError("debt_currency", "debt_currency must be a 3-letter ISO 4217 code"))
    as_of = guard("debt_as_of", parse_day, values.get("debt_as_of", ""))
    segment = guard("segment", _text, "segment", values.get("segment", ""), 64)
    priority = guard("priority", _priority, values.get("priority", ""))
    extension = values.get("agent_extension", "").strip() or None
    if extension is not None and not _EXTENSION.match(extension):
        problems.append(
            _FieldError("agent_extension", "agent_extension must be 1-20 letters, digits or *#+_.-")
        )
    bucket = values.get("bucket_id", "").strip() or None
    if bucket is not None and not _BUCKET.match(bucket):
        problems.append(_FieldError("bucket_id", "bucket_id must be a positive whole number (Webitel id)"))
    language = guard("language", _language, values.get("language", ""))

    if problems or customer_id is None:
        return None, problems
    debt = explicit_debt if explicit_debt is not None else (amount is not None and amount > 0)
    return Customer(
        customer_id=customer_id,
        phones=tuple(phones),
        name=name,
        debt=debt,
        debt_amount=amount,
        debt_currency=currency,
        debt_as_of=as_of,
        segment=segment,
        priority=priority or 0,
        agent_extension=extension,
        bucket_id=bucket,
        language=language,
    ), []


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (quoted fields may span lines)."""
    # Only \n, \r and \r\n end a line (str.splitlines would also split on \x1c, \u2028...).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    line = 1
    for record in reader:
        yield line, record
        line = reader.line_num + 1


def parse_export(text: str, *, default_region: str) -> ParsedExport:
    """Parse a customer export; raises :class:`CsvFormatError` only when the header is unusable."""
    first_line = next((ln for ln in io.StringIO(text, newline="") if ln.strip()), "")
    if not first_line:
        raise CsvFormatError("the file is empty: expected a header line and customer rows")
    delimiter = _detect_delimiter(first_line)
    result = ParsedExport(delimiter=delimiter)
    records = _records(text, delimiter)
    index: dict[str, int] | None = None
    width = 0
    seen_ids: dict[str, int] = {}
    owner_of_phone: dict[str, tuple[str, int]] = {}
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue
        if index is None:
            index, result.ignored_columns = _header(record)
            width = len(record)
            continue
        result.rows += 1
        if len(record) > width:
            result.rejections.append(
                RowRejection(
                    line,
                    f"the row has {len(record)} fields but the header has {width} "
                    f"(an unquoted '{delimiter}' inside a value?)",
                )
            )
            continue
        values = {name: (record[pos] if pos < len(record) else "") for name, pos in index.items()}
        customer, problems = _customer_from_row(values, delimiter, default_region)
        raw_id = values.get("customer_id", "").strip() or None
        if customer is None:
            result.rejections.append(
                RowRejection(
                    line,
                    "; ".join(p.message for p in problems),
                    tuple(dict.fromkeys(p.column for p in problems)),
                    raw_id,
                )
            )
            continue
        if customer.customer_id in seen_ids:
            result.rejections.append(
                RowRejection(
                    line,
                    f"customer_id {customer.customer_id} already appears on line "
                    f"{seen_ids[customer.customer_id]}",
                    ("customer_id",),
                    customer.customer_id,
                )
            )
            continue
        clash = next(((i, p) for i, p in enumerate(customer.phones, 1) if p in owner_of_phone), None)
        if clash is not None:
            other_id, other_line = owner_of_phone[clash[1]]
            result.rejections.append(
                RowRejection(
                    line,
                    f"phones: number #{clash[0]} already belongs to customer {other_id} (line {other_line})",
                    ("phones",),
                    customer.customer_id,
                )
            )
            continue
        seen_ids[customer.customer_id] = line
        for phone in customer.phones:
            owner_of_phone[phone] = (customer.customer_id, line)
        result.customers.append(customer)
    if index is None:
        raise CsvFormatError("the file has no header line")
    return result

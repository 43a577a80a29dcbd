"""Importing a CRM's customer export into the directory.

* Every bad row is reported with its line number and reasons; the good rows are imported.
* Idempotent: entries are compared by fingerprint and only new or changed ones are written, so
  importing the same file twice writes nothing the second time (``created = updated = deleted = 0``).
* ``full`` mode (the default) makes the directory equal to the file, without a window in which a
  known customer answers "not found": new and changed numbers are written first (each write
  replaces one item atomically), and only then are the numbers missing from the file deleted,
  each delete conditional on the entry being unchanged since it was read, so a concurrent import's
  write is never lost. ``upsert`` mode writes and never deletes.
* A file that looks broken never empties the directory: when it yields no valid customer, or more
  rows are rejected than accepted, a full import writes the valid rows but deletes nothing and
  says why in ``deletions_skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ringback.domain.customers import DirectoryEntry, RowRejection, decode_export, parse_export
from ringback.observability import logger
from ringback.ports.customers import CustomerStore


class ImportMode(StrEnum):
    FULL = "full"
    UPSERT = "upsert"


@dataclass
class ImportReport:
    source: str
    mode: str
    status: str = "ok"  # ok | partial (some rows rejected) | failed (nothing imported)
    error: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    rows: int = 0
    customers: int = 0
    phone_numbers: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    rejections: list[RowRejection] = field(default_factory=list)
    rejections_truncated: bool = False
    ignored_columns: list[str] = field(default_factory=list)
    deletions_skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "rejections"}
        data["rejections"] = [r.to_dict() for r in self.rejections]
        return data


class CustomerImport:
    """The import use case over a :class:`CustomerStore`."""

    def __init__(
        self, store: CustomerStore, *, default_region: str, max_listed_rejections: int = 1000
    ) -> None:
        self._store = store
        self._default_region = default_region
        self._max_listed = max_listed_rejections

    def run(self, data: bytes, *, source: str, mode: ImportMode = ImportMode.FULL) -> ImportReport:
        report = ImportReport(source=source, mode=mode.value)
        text, report.encoding = decode_export(data)
        try:
            parsed = parse_export(text, default_region=self._default_region)
        except ValueError as error:
            report.status, report.error = "failed", str(error)
            logger.warning("customer import refused the file", extra={"source": source, "error": str(error)})
            return report

        report.delimiter = parsed.delimiter
        report.rows = parsed.rows
        report.customers = len(parsed.customers)
        report.ignored_columns = list(parsed.ignored_columns)
        report.rejected = len(parsed.rejections)
        report.rejections = parsed.rejections[: self._max_listed]
        report.rejections_truncated = report.rejected > len(report.rejections)

        entries: dict[str, DirectoryEntry] = {}
        for customer in parsed.customers:
            for entry in customer.entries():
                entries[entry.e164] = entry
        report.phone_numbers = len(entries)

        existing = self._store.fingerprints()
        to_write: list[DirectoryEntry] = []
        for e164, entry in entries.items():
            previous = existing.get(e164)
            if previous is None:
                report.created += 1
                to_write.append(entry)
            elif previous != entry.fingerprint():
                report.updated += 1
                to_write.append(entry)
            else:
                report.unchanged += 1
        self._store.put(to_write)

        if mode is ImportMode.FULL:
            stale = {e164: fp for e164, fp in existing.items() if e164 not in entries}
            if not parsed.customers:
                report.deletions_skipped = "the file has no valid customer row"
            elif report.rejected > report.customers:
                report.deletions_skipped = (
                    f"more rows were rejected ({report.rejected}) than imported "
                    f"({report.customers}); fix the file and import it again"
                )
            if stale and report.deletions_skipped is None:
                report.deleted = self._store.delete(stale)
            elif not stale:
                report.deletions_skipped = None

        if not parsed.customers:
            report.status = "failed"
            report.error = report.error or "no valid customer row"
        elif report.rejected:
            report.status = "partial"
        # Nested: "created" and friends would clash with LogRecord's own attributes.
        logger.info(
            "customer import finished",
            extra={"import_report": {k: v for k, v in report.to_dict().items() if k != "rejections"}},
        )
        return report

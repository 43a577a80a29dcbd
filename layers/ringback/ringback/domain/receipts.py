"""Receipts: what an upload run or a campaign import did, in a form people can read.

Every dialer upload run that touched anything and every campaign import leaves one receipt in
the DialerOutboxTable (``pk = "RUN#<run_id>"``, ``sk = "RECEIPT"``; ``gsi1pk = "RUNS"``,
``gsi1sk = "<started_at ISO>#<run_id>"`` lists them newest first). Counts are kept per queue
and file; rejected members and bad rows are listed with their reason (bounded, with the number
left out stated, so a receipt always fits one item).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A receipt must fit a DynamoDB item (400 KB): at most this many problems are listed in full.
MAX_LISTED_PROBLEMS = 500

COUNT_FIELDS: tuple[str, ...] = (
    "imported",
    "duplicates_merged",
    "duplicates_skipped",
    "dnc_suppressed",
    "bad_rows",
    "delivered",
    "reconciled",
    "rejected",
    "expired",
    "outside_window",
    "deferred",
    "cancelled_after_send",
    "duplicates_in_webitel",
    "dnc_added",
    "dnc_removed",
    "closed_before_send",
    "members_stopped",
    "stops_deferred",
    "erasures_completed",
)

_LABELS = {
    "imported": "imported into the outbox",
    "duplicates_merged": "duplicates merged",
    "duplicates_skipped": "duplicates of members already delivered or in progress",
    "dnc_suppressed": "suppressed by the do-not-call list",
    "bad_rows": "bad rows (not imported)",
    "delivered": "delivered to Webitel",
    "reconciled": "found already in Webitel (earlier answer lost) and marked delivered",
    "rejected": "rejected by Webitel",
    "expired": "expired before delivery",
    "outside_window": "outside the member's calling window (deferred to the next opening)",
    "deferred": "deferred by an outage (retried with backoff)",
    "cancelled_after_send": "cancelled while being sent (stopped in Webitel)",
    "duplicates_in_webitel": "members found more than once in Webitel",
    "dnc_added": "numbers added to the do-not-call list",
    "dnc_removed": "numbers removed from the do-not-call list",
    "closed_before_send": "not sent: the request closed meanwhile (cancelled, erased, handled)",
    "members_stopped": "members stopped (or deleted) in Webitel after their request closed",
    "stops_deferred": "member stops deferred by an outage (retried with backoff)",
    "erasures_completed": "erasures whose Webitel part the schedule finished",
}


class Problem(BaseModel):
    """One rejected member or one bad CSV row."""

    model_config = ConfigDict(frozen=True)

    reason: str
    line: int | None = None
    entry_id: str | None = None
    source_id: str | None = None


class ReceiptGroup(BaseModel):
    """Counts of one queue and one file (file "" = callbacks)."""

    queue_id: str
    file_name: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    problems: list[Problem] = Field(default_factory=list)
    problems_not_listed: int = 0

    def add(self, name: str, amount: int = 1) -> None:
        if name not in COUNT_FIELDS:
            raise ValueError(f"unknown receipt count {name!r}")
        self.counts[name] = self.counts.get(name, 0) + amount

    def problem(self, problem: Problem) -> None:
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(problem)
        else:
            self.problems_not_listed += 1


class Receipt(BaseModel):
    """What one upload run (``kind="upload"``) or one import (``kind="import"``) did."""

    run_id: str
    kind: Literal["upload", "import", "redrive"]
    job: str
    owner: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    groups: list[ReceiptGroup] = Field(default_factory=list)
    # Set when the run stopped early: Webitel down, contract mismatch, time budget used up.
    stopped: str | None = None
    oldest_pending_age_s: int | None = None
    # File-level problems of an import (unknown column, not a CSV...).
    file_problems: list[str] = Field(default_factory=list)

    def group(self, queue_id: str, file_name: str = "") -> ReceiptGroup:
        for group in self.groups:
            if group.queue_id == queue_id and group.file_name == file_name:
                return group
        group = ReceiptGroup(queue_id=queue_id, file_name=file_name)
        self.groups.append(group)
        return group

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for group in self.groups:
            for name, value in group.counts.items():
                totals[name] = totals.get(name, 0) + value
        return totals

    def total(self, name: str) -> int:
        return self.totals().get(name, 0)

    @property
    def touched_anything(self) -> bool:
        return bool(self.totals()) or self.stopped is not None or bool(self.file_problems)

    def summary(self) -> dict[str, object]:
        """A compact JSON-ready view (what the Lambda returns and the CLI prints first)."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "job": self.job,
            "totals": self.totals(),
            "stopped": self.stopped,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "file_problems": list(self.file_problems),
            "problems": sum(len(g.problems) + g.problems_not_listed for g in self.groups),
        }

    def render_text(self) -> str:
        """The receipt as plain text for people (CLI, support tickets)."""
        lines = [f"{self.kind} run {self.run_id} ({self.job}) started {self.started_at.isoformat()}"]
        if self.finished_at is not None:
            lines[0] += f", finished {self.finished_at.isoformat()}"
        if self.stopped:
            lines.append(f"  stopped early: {self.stopped}")
        lines.extend(f"  file problem: {problem}" for problem in self.file_problems)
        for group in self.groups:
            where = f"queue {group.queue_id}" + (f", file {group.file_name}" if group.file_name else "")
            lines.append(f"  {where}:")
            for name in COUNT_FIELDS:
                if group.counts.get(name):
                    lines.append(f"    {group.counts[name]:>7} {_LABELS[name]}")
            for problem in group.problems:
                at = f"line {problem.line}: " if problem.line is not None else ""
                who = f" [{problem.entry_id}]" if problem.entry_id else ""
                lines.append(f"    - {at}{problem.reason}{who}")
            if group.problems_not_listed:
                lines.append(f"    ... and {group.problems_not_listed} more problems not listed")
        if self.oldest_pending_age_s is not None:
            lines.append(f"  oldest pending member waits for {self.oldest_pending_age_s} s")
        return "\n".join(lines)

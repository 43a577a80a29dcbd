"""The operator console's use cases: signing in and out, the page's data, re-driving members.

``ConsoleAccess`` checks the console credential (a token secret of its own, rotated like the
others: every string value of the JSON object is valid) and the signed session cookie.
``ConsoleData`` folds what the page shows from the console's projections
(``domain.events.console_rows``), all read by key in one BatchGetItem whatever is stored: the
open requests (the board), today's counters (the service level, never its rows), the
funnel's counters, the agents' registers and today's status changes, the routing answers
degraded today, and the ring of the newest receipts; then the rejected members' current state
by key, and the dead-letter queues' depth (cached). It never scans a table and never reads the
event log; its Queries are of the agents' registers and today's status changes (the first
agents' only), each only when its counters changed.

The agents' timeline (the answer's largest part, drawn to the minute) carries a tag naming the
minute and the versions it was drawn from; a page that sends back the tag of the timeline it
shows gets ``null`` in its place while that tag is still the current one (it keeps what it drew).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from ringback.domain import console as c
from ringback.domain.console import MAX_REDRIVE
from ringback.domain.console_charts import agent_timeline, grouped_bars
from ringback.domain.errors import FieldProblem, Forbidden, Unauthorized, Unprocessable
from ringback.domain.events import console_rows as rows
from ringback.domain.events import projections as p
from ringback.domain.outbox import OutboxState
from ringback.domain.receipts import Receipt
from ringback.domain.tokens import token_matches
from ringback.observability import mask_text
from ringback.ports.auth import TokenSource
from ringback.ports.clock import Clock
from ringback.ports.console import ConsoleAggregates, OutboxStates, QueueDepths
from ringback.ports.outbox import DialerOutbox
from ringback.services.dialer_upload import redrive

FUNNEL_DAYS: Final = 7
FUNNEL_CHART_STAGES: Final = ("opened", "requested", "uploaded", "connected")
RECEIPTS_READ: Final = 20
# The page's reads are independent: issued concurrently, the answer takes about as long as the
# slowest one (boto3 clients are thread-safe).
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-read")
_BOARD_COUNTS = frozenset(rows.board_count_keys())


class ConsoleAccess:
    def __init__(
        self,
        credentials: TokenSource,
        signing_key: Callable[[], str],
        *,
        ttl: timedelta = timedelta(hours=12),
    ) -> None:
        self._credentials = credentials
        self._signing_key = signing_key
        self.ttl = ttl

    def _key(self) -> bytes:
        return c.session_key(self._signing_key())

    def sign_in(self, credential: str | None, now: datetime) -> tuple[c.Session, str]:
        """A new session for a valid credential; :class:`Unauthorized` otherwise."""
        if not credential:
            raise Unprocessable(
                "the console credential is missing", fields=(FieldProblem("credential", "required"),)
            )
        if not token_matches(credential, self._credentials.tokens()):
            raise Unauthorized("the console credential is not valid")
        return c.open_session(self._key(), credential, now, self.ttl)

    def session(self, cookie_value: str | None, now: datetime) -> c.Session:
        key = self._key()
        fingerprints = [c.credential_fingerprint(key, t) for t in self._credentials.tokens()]
        session = c.read_session(key, cookie_value, fingerprints, now)
        if session is None:
            raise Unauthorized("sign in to the console")
        return session

    def csrf(self, session: c.Session) -> str:
        return c.csrf_token(self._key(), session)

    def check_write(
        self, session: c.Session, *, csrf: str | None, origin: str | None, host: str | None
    ) -> None:
        """A state-changing request: same origin, and the session's double-submit token."""
        if not c.same_origin(origin, host):
            raise Forbidden("cross-site request refused")
        if not c.csrf_matches(self._key(), session, csrf):
            raise Forbidden("missing or wrong X-Console-CSRF header")

    @staticmethod
    def check_origin(origin: str | None, host: str | None) -> None:
        if not c.same_origin(origin, host):
            raise Forbidden("cross-site request refused")


class ConsoleData:
    def __init__(
        self,
        aggregates: ConsoleAggregates,
        outbox_states: OutboxStates,
        depths: QueueDepths,
        *,
        zone: ZoneInfo,
    ) -> None:
        self._aggregates = aggregates
        self._last_entries: tuple[str, ...] = ()  # the members the last read listed
        self._timeline_kept: tuple[Any, list[dict[str, Any]], str, str] | None = None
        self._facts_kept: tuple[Any, dict[str, dict[str, Any]]] | None = None  # the last facts read
        self._registers_kept: tuple[Any, dict[str, dict[str, Any]]] | None = None  # the last registers
        # Per board partition (its counter's pk): the version read, its rows, rows left unread.
        self._board_kept: dict[str, tuple[Any, list[dict[str, Any]], bool]] = {}
        # The rejected members and the runs of the last receipts read (receipts never change).
        self._receipts_kept: (
            tuple[tuple[Receipt, ...], dict[str, dict[str, Any]], list[dict[str, Any]]] | None
        ) = None
        self._states = outbox_states
        self._depths = depths
        self._zone = zone

    def data(self, now: datetime, timeline_tag: str | None = None) -> dict[str, Any]:
        """What the page shows at ``now``. ``timeline_tag``: the tag of the agents' timeline the
        page shows; while it is the current one, ``agent_timeline`` and ``agent_timeline_chart``
        are ``null`` (unchanged)."""
        start = c.day_start(now, self._zone)
        today = start.astimezone(self._zone).date()
        day = today.isoformat()
        first = today - timedelta(days=FUNNEL_DAYS - 1)
        days = [(first + timedelta(days=d)).isoformat() for d in range(FUNNEL_DAYS)]
        # Two reads at once: every aggregate item by key (one BatchGetItem), and the SQS depths
        # (cached by their adapter); then the rejected members' states by key.
        depths = _POOL.submit(self._depths.depths)
        # The rejected members' states depend on the receipts this read finds; the receipts
        # change once per upload run, so the states of the last read's members are read at
        # the same time (only members new since then wait for a second read).
        expected = list(self._last_entries)
        prefetch = _POOL.submit(self._states.states, expected) if expected else None
        snapshot = self._aggregates.read(rows.page_keys(day, days), day, RECEIPTS_READ)
        items = snapshot.items
        level = c.service_level_of_counts(rows.day_counts(items, day), now, self._zone)
        funnel = self._funnel(first, today, items)
        receipts = snapshot.receipts
        agents = p.fold_agents(self._agents_now(items).values())
        lines, timeline_chart, tag = self._timeline(items, day, start, now)
        unchanged = tag is not None and tag == timeline_tag
        return {
            "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timezone": self._zone.key,
            "board": self._board(items, now),
            "service_level": level,
            "service_level_chart": _service_level_chart(level),
            "funnel": funnel,
            "funnel_chart": _funnel_chart(funnel),
            "receipts": self._receipts_view(receipts, expected, prefetch),
            "agents": agents,
            "agent_timeline": None if unchanged else lines,  # segments in epoch ms
            "agent_timeline_chart": None if unchanged else timeline_chart,
            "agent_timeline_tag": tag,
            "health": self._health(receipts, now, depths.result(), snapshot.routing_degraded),
        }

    def _board(self, items: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
        """The open requests, Queried (all at once) only from the board partitions whose
        version counter moved since the last read: a quiet partition costs no Query, and one
        without a counter has never held a row."""
        versions = {
            str(i.get("pk")): i.get("v") for i in items if (i.get("pk"), i.get("sk")) in _BOARD_COUNTS
        }
        kept = self._board_kept
        stale = [pk for pk, v in versions.items() if v is None or pk not in kept or kept[pk][0] != v]
        per_partition = rows.BOARD_MAX_ROWS // rows.BOARD_SHARDS
        read = _POOL.map(
            lambda pk: self._aggregates.board_rows(rows.board_row_pk_of_count(pk), per_partition), stale
        )
        fresh = {pk: (versions[pk], found, unread) for pk, (found, unread) in zip(stale, read, strict=True)}
        self._board_kept = {pk: fresh.get(pk) or kept[pk] for pk in versions}
        partitions = self._board_kept.values()
        requests = [row["r"] for _, found, _ in partitions for row in found]
        return c.build_board(requests, now, partial=any(unread for _, _, unread in partitions))

    def _agents_now(self, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The first ``AGENTS_SHOWN`` agents' registers, Queried only when the versions of their
        counter items changed (read again every time for items without a version)."""
        keys = set(rows.agents_now_count_keys())
        versions = tuple(
            sorted((str(i.get("pk")), i.get("v")) for i in items if (i.get("pk"), i.get("sk")) in keys)
        )
        versioned = all(v is not None for _, v in versions)
        kept = self._registers_kept
        if versioned and kept is not None and kept[0] == versions:
            return kept[1]
        registers = (
            self._aggregates.first_agents(rows.AGENTS_NOW_PK, rows.AGENTS_SHOWN, rows.AGENTS_MAX_REGISTERS)
            if versions
            else {}
        )
        self._registers_kept = (versions, registers) if versioned else None
        return registers

    def _timeline(
        self, items: list[dict[str, Any]], day: str, start: datetime, now: datetime
    ) -> tuple[list[dict[str, Any]], str, str | None]:
        """Today's agent lines and their chart, to the minute (the chart's resolution), and
        their tag: kept while the minute and the versions of the timeline's counter items are
        the same (items without a version are drawn every time, with no tag). The facts are
        Queried (bounded: the first ``TIMELINE_AGENTS`` agents) only when a counter changed."""
        minute = now.replace(second=0, microsecond=0)
        keys = set(rows.agent_line_count_keys(day))
        versions = tuple(
            sorted((str(i.get("pk")), i.get("v")) for i in items if (i.get("pk"), i.get("sk")) in keys)
        )
        versioned = all(v is not None for _, v in versions)
        key = (day, minute, versions) if versioned else None
        kept = self._timeline_kept
        if key is not None and kept is not None and kept[0] == key:
            return kept[1], kept[2], kept[3]
        facts_kept = self._facts_kept
        if versioned and facts_kept is not None and facts_kept[0] == (day, versions):
            facts = facts_kept[1]
        else:
            facts = (
                self._aggregates.first_agents(
                    rows.agent_line_pk(day), rows.TIMELINE_AGENTS, rows.TIMELINE_MAX_FACTS
                )
                if versions
                else {}
            )
            self._facts_kept = ((day, versions), facts) if versioned else None
        lines = rows.fold_agent_lines(facts, start, minute, limit=rows.TIMELINE_AGENTS)
        chart = agent_timeline(
            f"Agents' status today since {start.astimezone(self._zone).strftime('%H:%M')} ({self._zone.key})",
            lines,
            start.astimezone(self._zone),  # the hours of the operator's day
            minute,
        )
        if key is None:
            self._timeline_kept = None
            return lines, chart, None
        tag = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        self._timeline_kept = (key, lines, chart, tag)
        return lines, chart, tag

    @staticmethod
    def _funnel(first: date, today: date, counters: list[dict[str, Any]]) -> dict[str, Any]:
        days = rows.fold_funnel_counters(counters, first, today)
        sources: dict[str, dict[str, int]] = {}
        for day in days:
            for provider, stages in day["providers"].items():
                totals = sources.setdefault(provider, dict.fromkeys(FUNNEL_CHART_STAGES, 0))
                for stage in FUNNEL_CHART_STAGES:
                    totals[stage] += stages.get(stage, 0)
        return {
            "from": first.isoformat(),
            "to": today.isoformat(),
            "stages": list(FUNNEL_CHART_STAGES),
            "days": [
                {"day": d["day"], **{s: d["total"].get(s, 0) for s in FUNNEL_CHART_STAGES}} for d in days
            ],
            "sources": [{"source": k, **v} for k, v in sorted(sources.items())],
        }

    def _receipts_view(
        self,
        receipts: Sequence[Receipt],
        expected: Sequence[str] = (),
        prefetch: Future[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        problems, runs = self._receipt_rows(receipts)
        self._last_entries = tuple(problems)
        states = dict(prefetch.result()) if prefetch is not None else {}
        asked = set(expected)
        missing = [entry_id for entry_id in problems if entry_id not in asked]
        if missing:
            states.update(self._states.states(missing))
        rejected = [
            {**row, "state": states[entry_id]}
            for entry_id, row in problems.items()
            if states.get(entry_id) == OutboxState.REJECTED.value
        ]
        return {"rejected": rejected, "runs": runs}

    def _receipt_rows(
        self, receipts: Sequence[Receipt]
    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """The problems by entry (the newest reason of an entry wins) and the newest runs, kept
        while the receipts read are the same objects (a receipt never changes once saved and
        the adapter hands out the one it parsed); the caller must not change them."""
        kept = self._receipts_kept
        if kept is not None and len(kept[0]) == len(receipts) and all(map(operator.is_, kept[0], receipts)):
            return kept[1], kept[2]
        problems: dict[str, dict[str, Any]] = {}
        for receipt in receipts:  # newest first
            if receipt.kind == "import":
                continue
            for group in receipt.groups:
                for problem in group.problems:
                    if problem.entry_id and problem.entry_id not in problems:
                        problems[problem.entry_id] = {
                            "entry_id": problem.entry_id,
                            "reason": mask_text(problem.reason),
                            "queue_id": group.queue_id,
                            "file": group.file_name or None,
                            "line": problem.line,
                            "run_id": receipt.run_id,
                            "at": receipt.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        }
        runs = [
            {
                "run_id": r.run_id,
                "kind": r.kind,
                "job": r.job,
                "started_at": r.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "stopped": mask_text(r.stopped) if r.stopped else None,
                "totals": r.totals(),
            }
            for r in receipts[:10]
        ]
        self._receipts_kept = (tuple(receipts), problems, runs)
        return problems, runs

    @staticmethod
    def _health(
        receipts: Sequence[Receipt], now: datetime, depths: dict[str, int | None], degraded: int | None
    ) -> dict[str, Any]:
        uploads = [r for r in receipts if r.kind == "upload"]
        last = uploads[0] if uploads else None
        webitel: dict[str, Any]
        if last is None:
            webitel = {"state": "unknown", "detail": "no upload run yet"}
        elif last.stopped:
            webitel = {"state": "unreachable", "detail": mask_text(last.stopped)}
        else:
            webitel = {"state": "reachable", "detail": "the last upload run reached Webitel"}
        if last is not None:
            webitel["last_run_at"] = last.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            webitel["last_run_age_s"] = max(0, int((now - last.started_at).total_seconds()))
        oldest = next((r.oldest_pending_age_s for r in uploads if r.oldest_pending_age_s is not None), None)
        return {
            "webitel": webitel,
            "oldest_pending_age_s": oldest,
            "dead_letters": depths,
            # Counted per container and flushed off the answer path (services.routing_degraded):
            # best effort, so it may lag or miss a few; the RoutingDegraded metric is exact.
            "routing_degraded_today": degraded,
        }

    def redrive(self, outbox: DialerOutbox, entry_ids: Sequence[str], clock: Clock) -> dict[str, str]:
        """The same re-drive as ``ringback redrive`` (rejected entries back in line)."""
        ids = list(dict.fromkeys(entry_ids))
        if not ids or len(ids) > MAX_REDRIVE:
            raise Unprocessable(
                "choose the members to re-drive",
                fields=(FieldProblem("entry_ids", f"1 to {MAX_REDRIVE} entry ids"),),
            )
        return redrive(outbox, ids, clock)


def _service_level_chart(level: dict[str, Any]) -> str:
    hours = level["per_hour"]
    return grouped_bars(
        "Today's callback requests per hour: requested, attempted, called within the promised window",
        [f"{h['hour']:02d}" for h in hours],
        [
            ("requested", [h["requests"] for h in hours]),
            ("attempted", [h["attempted"] for h in hours]),
            ("within window", [h["within_window"] for h in hours]),
        ],
        label_every=2,
    )


def _funnel_chart(funnel: dict[str, Any]) -> str:
    days = funnel["days"]
    return grouped_bars(
        f"Widget funnel per day, {funnel['from']} to {funnel['to']}",
        [d["day"][5:] for d in days],
        [(stage, [d[stage] for d in days]) for stage in funnel["stages"]],
    )

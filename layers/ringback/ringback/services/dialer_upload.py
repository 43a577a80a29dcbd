"""The dialer uploader: outbox entries -> Webitel dialer members, each exactly once.

Webitel's bulk create is one transaction without an idempotency key. The rules that make the
upload exactly-once (see docs/dialer.md):

1. An entry is sent only by the holder of its claim (a conditional write with a lease longer
   than the function can run, so a live holder never loses it).
2. Before an entry whose previous send may have reached Webitel is sent again (a timeout or
   5xx after sending, a contract mismatch, or a claim taken over after its holder died), the
   queue is searched for ringback's tag ``variables[ringback_id]``; found = delivered.
3. A 400 rolls the whole bulk back: the batch is bisected until the bad items are isolated;
   they are marked rejected with Webitel's error, the rest is delivered.
4. An outage gives every unsettled entry back with an exponential backoff and stops the run;
   the outbox keeps everything until it is delivered, rejected, cancelled or expired.

A callback entry's request follows the outbox decision through ``CallbackStatusSink`` (the
path the event fan-out uses): delivered -> ``queued``, rejected -> ``failed`` (with Webitel's
reason), expired -> ``expired``; the terminal ones release the number's open-request pointer.
A failed status write never changes the outbox decision (warning + metric; idempotent, so a
later event or run repeats it).

A closed request is never dialled: before each send the run re-reads the state of the callback
requests in the batch (``CallbackStates``); an entry whose request is closed (cancelled,
erased, completed, handled by an inbound call) is cancelled instead of sent. One whose request
is not there yet is deferred for ``missing_request_grace_s`` (the submit writes the request and
the entry concurrently); still missing after that, it belongs to a submit that died or to an
erased number, and is cancelled. Each run first works through the queue's stop orders
(``services.member_stops``): members of requests that closed after they were sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.campaigns import entry_window
from ringback.domain.events.projections import CallbackAdvance
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import (
    CALLBACK_TAG,
    ID_TAG,
    OutboxEntry,
    OutboxState,
    callback_entry_id,
    callback_generation,
)
from ringback.domain.receipts import Problem, Receipt
from ringback.domain.webitel import (
    MAX_FILE_NAME_LENGTH,
    WebitelAuthError,
    WebitelContractError,
    WebitelError,
    WebitelRejected,
    WebitelUnavailable,
)
from ringback.observability import logger, metrics
from ringback.ports.clock import Clock
from ringback.ports.dnc import DoNotCallList
from ringback.ports.erasures import ErasureTombstones
from ringback.ports.outbox import DialerOutbox
from ringback.ports.projections import CallbackStates, CallbackStatusSink
from ringback.ports.receipts import ReceiptStore
from ringback.ports.webitel import WebitelClient
from ringback.services.erasures import run_erasures
from ringback.services.member_stops import run_stops, settle_now
from ringback.services.reservations import SlotHolds, sweep_slot_holds

UploadJob = Literal["callbacks", "campaigns"]
JOBS: tuple[UploadJob, ...] = ("callbacks", "campaigns")

OnDelivered = Callable[[OutboxEntry, str], None]


@dataclass(frozen=True)
class UploadSettings:
    batch_size: int = 100
    # Longer than the function's timeout (120 s): a live holder never loses its claim.
    lease_s: int = 300
    max_batches: int = 1000
    backoff_base_s: int = 30
    backoff_max_s: int = 1800
    # No new batch is claimed with less time than this left in the invocation.
    reserve_s: float = 30.0
    reconcile_page_size: int = 10
    # Campaign entries whose numbers are on the do-not-call list are cancelled at upload too
    # (a number may be added after the list was imported). Callback requests are the
    # customer's own request and are never suppressed.
    dnc_sources: frozenset[str] = frozenset({"campaign"})
    # An entry whose callback request is not stored yet waits this long before it is taken for
    # the leftover of a submit that died (the submit writes both at once, within seconds).
    missing_request_grace_s: int = 120

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError("batch_size must be 1..10000")
        if self.lease_s < 10:
            raise ValueError("lease_s must be >= 10")


class UploadFailed(Exception):
    """A failure people must fix (Webitel refused the token, or answered off-contract).

    Raised after the receipt is saved and every unsettled entry was given back, so the
    scheduler's retry policy and dead-letter queue apply and the error alarm fires.
    """

    def __init__(self, message: str, receipt: Receipt) -> None:
        super().__init__(message)
        self.receipt = receipt


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one entry pushed by ``deliver_now``."""

    state: OutboxState | Literal["not_claimed"]
    webitel_member_id: str | None = None
    reason: str | None = None


def queue_for(job: UploadJob, config: OperatorConfig) -> str:
    return config.callback_queue_id if job == "callbacks" else config.debtor_queue_id


def backoff_delay(attempts: int, settings: UploadSettings) -> timedelta:
    """Exponential: base * 2^(attempts-1), capped (attempts counts failed sends, from 1)."""
    exponent = max(0, min(attempts - 1, 20))
    return timedelta(seconds=min(settings.backoff_max_s, settings.backoff_base_s * 2**exponent))


def new_run_id(clock: Clock, prefix: str = "run") -> str:
    """Sortable by time (base-36 seconds) and without long digit runs, which the log
    redaction would take for phone numbers."""
    seconds = int(clock.now().timestamp())
    stamp = ""
    while seconds:
        seconds, digit = divmod(seconds, 36)
        stamp = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + stamp
    letters = "".join(chr(ord("a") + b % 26) for b in uuid.uuid4().bytes[:8])
    return f"{prefix}-{stamp}-{letters}"


def bulk_file_name(file_name: str, queue_id: str) -> str:
    """Webitel records ``file_name`` as the import id: the campaign file, or the queue."""
    name = file_name or f"ringback-callbacks-q{queue_id}"
    return name[-MAX_FILE_NAME_LENGTH:]


class _Stop(Exception):
    """Stop the run: ``failure`` is set when people must act (raised as UploadFailed)."""

    def __init__(self, reason: str, *, failure: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = failure


@dataclass
class _Batch:
    """One claimed batch: which entries are still unsettled, which are on the wire."""

    entries: dict[str, OutboxEntry]
    unsettled: set[str] = field(default_factory=set)
    in_flight: set[str] = field(default_factory=set)


class _Uploader:
    def __init__(
        self,
        outbox: DialerOutbox,
        webitel: WebitelClient,
        clock: Clock,
        owner: str,
        settings: UploadSettings,
        receipt: Receipt,
        dnc: DoNotCallList | None,
        on_delivered: OnDelivered | None,
        callback_status: CallbackStatusSink | None = None,
        *,
        record_outcomes: bool = False,
        callback_states: CallbackStates | None = None,
    ) -> None:
        self.outbox = outbox
        self.webitel = webitel
        self.clock = clock
        self.owner = owner
        self.settings = settings
        self.receipt = receipt
        self.dnc = dnc
        self.on_delivered = on_delivered
        self.callback_status = callback_status
        self.callback_states = callback_states
        # Per-entry outcomes are kept only for ``deliver_now`` (a few entries): a scheduled run
        # may settle 100k members, and its memory must stay flat (the receipt has the counts).
        self.outcomes: dict[str, DeliveryOutcome] | None = {} if record_outcomes else None

    # -- one batch ------------------------------------------------------------------------

    def process(self, entries: Sequence[OutboxEntry]) -> None:
        batch = _Batch(entries={e.entry_id: e for e in entries}, unsettled={e.entry_id for e in entries})
        try:
            ready = self._prepare(batch)
            by_group: dict[tuple[str, str], list[OutboxEntry]] = {}
            for entry in ready:
                by_group.setdefault((entry.queue_id, entry.file_name), []).append(entry)
            for (queue_id, file_name), group in by_group.items():
                self._send(batch, queue_id, file_name, group)
        except WebitelUnavailable as error:
            self._give_back(batch, error, unknown_if_in_flight=error.may_have_committed)
            raise _Stop(f"Webitel unavailable: {error}") from error
        except WebitelContractError as error:
            # Webitel answered, but not as agreed: a bulk may have committed. Never guess.
            self._give_back(batch, error, unknown_if_in_flight=True)
            raise _Stop(f"Webitel answer off-contract: {error}", failure=True) from error
        except WebitelAuthError as error:
            self._give_back(batch, error, unknown_if_in_flight=False)
            raise _Stop(f"Webitel refused ringback's token: {error}", failure=True) from error

    def _prepare(self, batch: _Batch) -> list[OutboxEntry]:
        """Settle what needs no bulk (reconciled, expired, do-not-call, outside window)."""
        now = self.clock.now()
        entries = list(batch.entries.values())
        for entry in entries:
            if entry.outcome_unknown and self._reconcile(batch, entry):
                continue
        remaining = [e for e in entries if e.entry_id in batch.unsettled]

        for entry in remaining:
            if entry.expires_at is not None and entry.expires_at <= now:
                self.outbox.mark_expired(entry.entry_id, owner=self.owner)
                self._settle(batch, entry, "expired", OutboxState.EXPIRED)
                self._advance_callback(
                    entry, CallbackStatus.EXPIRED, "not delivered to Webitel before it expired"
                )
        remaining = [e for e in remaining if e.entry_id in batch.unsettled]

        if self.callback_states is not None:
            self._skip_closed(batch, remaining, now)
            remaining = [e for e in remaining if e.entry_id in batch.unsettled]

        if self.dnc is not None:
            checked = [e for e in remaining if e.source in self.settings.dnc_sources]
            numbers = {c.destination for e in checked for c in e.member.communications}
            blocked = self.dnc.blocked(numbers) if numbers else set()
            for entry in checked:
                if any(c.destination in blocked for c in entry.member.communications):
                    # Whole member: with one number on the list the person asked not to be called.
                    self.outbox.cancel(entry.entry_id, reason="do-not-call", owner=self.owner)
                    self._settle(batch, entry, "dnc_suppressed", OutboxState.CANCELLED, reason="do-not-call")
            remaining = [e for e in remaining if e.entry_id in batch.unsettled]

        ready: list[OutboxEntry] = []
        for entry in remaining:
            window = entry_window(entry)
            if window is not None and not window[0].is_open(now, window[1]):
                opening = window[0].next_opening(now, window[1])
                until = opening if opening is not None else now + timedelta(days=1)
                self.outbox.defer(
                    entry.entry_id, owner=self.owner, until=until, reason="outside calling window"
                )
                self._settle(
                    batch, entry, "outside_window", OutboxState.PENDING, reason="outside calling window"
                )
            else:
                ready.append(entry)
        return ready

    def _skip_closed(self, batch: _Batch, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Cancel the entries whose callback request closed (or is gone); defer the ones whose
        request is not stored yet (see the module docstring)."""
        assert self.callback_states is not None
        wanted = {e.source_id for e in entries if e.source == "callback" and e.source_id}
        if not wanted:
            return
        states = self.callback_states.open_states(sorted(wanted))
        grace = timedelta(seconds=self.settings.missing_request_grace_s)
        for entry in entries:
            if entry.source != "callback" or not entry.source_id:
                continue
            found = states.get(entry.source_id)
            current = found is not None and found.entry_id in (None, entry.entry_id)
            if found is not None and found.state == "open" and current:
                self._retire_older(entry)
                continue
            # Not stored yet, or a reschedule that wrote its new entry but has not switched yet:
            # wait for the grace, then it belongs to a submit or a move that died.
            newer = (
                found is not None
                and found.entry_id is not None
                and callback_generation(entry.entry_id) > callback_generation(found.entry_id)
            )
            if (found is None or (newer and found.state == "open")) and now - _created_at(entry, now) < grace:
                self.outbox.defer(
                    entry.entry_id, owner=self.owner, until=now + grace, reason="request not stored yet"
                )
                self._settle(batch, entry, "deferred", OutboxState.PENDING, reason="request not stored yet")
                continue
            if found is None:
                reason = "request gone (erased or never stored)"
            elif found.state == "closed":
                reason = "request closed"
            else:
                reason = "not the request's current entry (rescheduled)"
            # This run holds the claim and has not sent it: no stop needed unless an earlier
            # send's outcome is unknown (then the cancel arms a stop order that searches first).
            self.outbox.cancel(entry.entry_id, reason=reason, owner=self.owner)
            self._settle(batch, entry, "closed_before_send", OutboxState.CANCELLED, reason=reason)
            logger.info("not sent: its callback request closed", extra={"entry_id": entry.entry_id})

    def _retire_older(self, entry: OutboxEntry) -> None:
        """Before a rescheduled request's current entry is sent, its older generations are
        cancelled (a stop order for one already in Webitel): a reschedule that died after its
        switch never leaves the old member to ring as well."""
        for generation in range(callback_generation(entry.entry_id)):
            self.outbox.cancel(callback_entry_id(entry.source_id, generation), reason="rescheduled")

    def _reconcile(self, batch: _Batch, entry: OutboxEntry) -> bool:
        """Search Webitel for the entry's tag; True when it was found (and marked delivered)."""
        page = self.webitel.search_members(
            entry.queue_id, {ID_TAG: entry.entry_id}, page=1, size=self.settings.reconcile_page_size
        )
        found = [m for m in page.items if m.variables.get(ID_TAG) == entry.entry_id]
        if len(found) != len(page.items):
            # The filter was not applied: guessing from other members would be wrong.
            raise WebitelContractError("search_members returned members without the searched ringback_id tag")
        if not found:
            logger.info("reconcile: not in Webitel, will send", extra={"entry_id": entry.entry_id})
            return False
        if len(found) > 1 or page.next:
            logger.error(
                "reconcile: member exists more than once in Webitel",
                extra={"entry_id": entry.entry_id, "member_ids": [m.id for m in found]},
            )
            self.receipt.group(entry.queue_id, entry.file_name).add("duplicates_in_webitel")
        member_id = min(found, key=lambda m: int(m.id)).id
        self._delivered(batch, entry, member_id, count="reconciled")
        return True

    def _send(self, batch: _Batch, queue_id: str, file_name: str, chunk: list[OutboxEntry]) -> None:
        """Send ``chunk`` as one bulk; on a 400, bisect to isolate the bad items."""
        if not chunk:
            return
        batch.in_flight = {e.entry_id for e in chunk}
        try:
            ids = self.webitel.create_members_bulk(
                queue_id, [e.member for e in chunk], bulk_file_name(file_name, queue_id)
            )
        except WebitelRejected as error:
            # Nothing of this bulk was committed.
            batch.in_flight = set()
            if len(chunk) == 1:
                self._rejected(batch, chunk[0], error)
                return
            middle = len(chunk) // 2
            self._send(batch, queue_id, file_name, chunk[:middle])
            self._send(batch, queue_id, file_name, chunk[middle:])
            return
        batch.in_flight = set()
        for entry, member_id in zip(chunk, ids, strict=True):
            self._delivered(batch, entry, member_id, count="delivered")

    # -- settling ---------------------------------------------------------------------------

    def _delivered(self, batch: _Batch, entry: OutboxEntry, member_id: str, *, count: str) -> None:
        group = self.receipt.group(entry.queue_id, entry.file_name)
        before = self.outbox.mark_delivered(entry.entry_id, member_id, owner=self.owner)
        if before == OutboxState.CANCELLED:
            # Cancelled while it was on the wire: ``mark_delivered`` armed its stop order; try it
            # now, and the stop orders of the next runs finish it if Webitel does not confirm.
            group.add("cancelled_after_send")
            if not settle_now(self.outbox, self.webitel, entry.entry_id):
                logger.error(
                    "could not stop a member cancelled during upload; its stop order stays",
                    extra={"entry_id": entry.entry_id, "member_id": member_id},
                )
            self._settle(batch, entry, None, OutboxState.CANCELLED, member_id=member_id)
            return
        if before == OutboxState.DELIVERED:
            logger.error(
                "entry was already delivered: Webitel now holds it twice",
                extra={"entry_id": entry.entry_id, "member_id": member_id},
            )
            group.add("duplicates_in_webitel")
        group.add(count)
        self._settle(batch, entry, None, OutboxState.DELIVERED, member_id=member_id)
        self._advance_callback(entry, CallbackStatus.QUEUED, f"member {member_id} in Webitel")
        if self.on_delivered is not None:
            try:
                self.on_delivered(entry, member_id)
            except Exception:
                logger.exception("on_delivered hook failed", extra={"entry_id": entry.entry_id})

    def _rejected(self, batch: _Batch, entry: OutboxEntry, error: WebitelRejected) -> None:
        reason = f"{error.error_id or 'rejected'}: {error.detail or error.message}"
        if error.request_id:
            reason += f" (request_id={error.request_id})"
        self.outbox.mark_rejected(entry.entry_id, reason, owner=self.owner)
        logger.warning(
            "member rejected by Webitel",
            extra={"entry_id": entry.entry_id, "request_id": error.request_id, "error_id": error.error_id},
        )
        self.receipt.group(entry.queue_id, entry.file_name).problem(
            Problem(reason=reason, line=entry.line, entry_id=entry.entry_id, source_id=entry.source_id)
        )
        self._settle(batch, entry, "rejected", OutboxState.REJECTED, reason=reason)
        self._advance_callback(entry, CallbackStatus.FAILED, f"rejected by Webitel: {reason}")

    def _advance_callback(self, entry: OutboxEntry, status: CallbackStatus, reason: str) -> None:
        """Move a callback entry's request with the outbox decision, at the time of the decision.

        Only forward (``may_advance``), so repeating it is harmless; a failure is logged and
        counted and never undoes or fails the upload (the outbox decision stands)."""
        if self.callback_status is None or entry.source != "callback":
            return
        callback_id = entry.source_id or entry.member.variables.get(CALLBACK_TAG, "")
        if not callback_id:
            return
        at_ms = int(self.clock.now().timestamp() * 1000)
        try:
            self.callback_status.advance(
                CallbackAdvance(
                    callback_id=callback_id,
                    status=status,
                    at=at_ms,
                    reason=reason[:500],
                    event_id=f"dialer:{entry.entry_id}",
                )
            )
        except Exception as error:
            logger.warning(
                "callback status not updated; the outbox decision stands",
                extra={
                    "entry_id": entry.entry_id,
                    "callback_id": callback_id,
                    "status": status.value,
                    "error_type": type(error).__name__,
                },
            )
            metrics.add_metric(name="DialerCallbackStatusFailed", unit="Count", value=1)

    def _settle(
        self,
        batch: _Batch,
        entry: OutboxEntry,
        count: str | None,
        state: OutboxState,
        *,
        member_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        if count is not None:
            self.receipt.group(entry.queue_id, entry.file_name).add(count)
        batch.unsettled.discard(entry.entry_id)
        if self.outcomes is not None:
            self.outcomes[entry.entry_id] = DeliveryOutcome(state, member_id, reason)

    def _give_back(self, batch: _Batch, error: WebitelError, *, unknown_if_in_flight: bool) -> None:
        """Outage: every unsettled entry goes back with a backoff; the outbox keeps it."""
        now = self.clock.now()
        for entry_id in sorted(batch.unsettled):
            entry = batch.entries[entry_id]
            unknown = entry.outcome_unknown or (unknown_if_in_flight and entry_id in batch.in_flight)
            retry_at = now + backoff_delay(entry.attempts + 1, self.settings)
            self.outbox.release(
                entry_id, owner=self.owner, error=str(error)[:500], retry_at=retry_at, outcome_unknown=unknown
            )
            self.receipt.group(entry.queue_id, entry.file_name).add("deferred")
            if self.outcomes is not None:
                self.outcomes[entry_id] = DeliveryOutcome(OutboxState.PENDING, None, str(error)[:200])
        batch.unsettled.clear()
        batch.in_flight = set()


def _created_at(entry: OutboxEntry, default: datetime) -> datetime:
    """When the callback request behind the entry was made (its member carries it)."""
    text = entry.member.variables.get("callback_created_at")
    try:
        return datetime.fromisoformat(text) if text else default
    except ValueError:
        return default


def run_upload(
    job: UploadJob,
    outbox: DialerOutbox,
    webitel: WebitelClient,
    clock: Clock,
    config: OperatorConfig,
    owner: str,
    *,
    settings: UploadSettings | None = None,
    dnc: DoNotCallList | None = None,
    receipts: ReceiptStore | None = None,
    on_delivered: OnDelivered | None = None,
    time_left_s: Callable[[], float] | None = None,
    run_id: str | None = None,
    callback_status: CallbackStatusSink | None = None,
    callback_states: CallbackStates | None = None,
    erasures: ErasureTombstones | None = None,
    slot_holds: SlotHolds | None = None,
) -> Receipt:
    """Deliver the due entries of the job's queue, batch by batch, until none is due, the
    time budget is used up or Webitel is unavailable. Returns (and stores) the receipt.

    With ``callback_status``, callback requests follow their entries (queued / failed /
    expired) through the same conditional update the event fan-out uses."""
    settings = settings or UploadSettings()
    queue_id = queue_for(job, config)
    receipt = Receipt(
        run_id=run_id or new_run_id(clock, job), kind="upload", job=job, owner=owner, started_at=clock.now()
    )
    uploader = _Uploader(
        outbox,
        webitel,
        clock,
        owner,
        settings,
        receipt,
        dnc,
        on_delivered,
        callback_status,
        callback_states=callback_states,
    )
    stops = run_stops(
        outbox, webitel, clock, queue_id, owner, lease_s=settings.lease_s, callback_states=callback_states
    )
    if stops.stopped:
        receipt.group(queue_id).add("members_stopped", stops.stopped)
    if stops.deferred:
        receipt.group(queue_id).add("stops_deferred", stops.deferred)
    if slot_holds is not None:
        sweep_slot_holds(slot_holds, clock, config)
    if erasures is not None:
        # Erasures whose Webitel part failed: retried until Webitel confirms (services.erasures).
        completed = run_erasures(erasures, outbox, webitel, clock, lease_s=settings.lease_s)
        if completed:
            receipt.group(queue_id).add("erasures_completed", completed)
    failure: str | None = None
    for _ in range(settings.max_batches):
        if time_left_s is not None and time_left_s() < settings.reserve_s:
            receipt.stopped = "time budget used up; the next run continues"
            break
        entries = outbox.claim_due(
            queue_id, clock.now(), limit=settings.batch_size, lease_s=settings.lease_s, owner=owner
        )
        if not entries:
            break
        try:
            uploader.process(entries)
        except _Stop as stop:
            receipt.stopped = stop.reason
            failure = stop.reason if stop.failure else None
            break
    finished = clock.now()
    oldest = outbox.oldest_due(queue_id, finished)
    receipt.oldest_pending_age_s = (
        max(0, int((finished - oldest).total_seconds())) if oldest is not None else 0
    )
    receipt.finished_at = finished
    if receipts is not None and receipt.touched_anything:
        receipts.save(receipt)
    logger.info("dialer upload run", extra={"receipt": receipt.summary()})
    if failure is not None:
        raise UploadFailed(failure, receipt)
    return receipt


def deliver_now(
    outbox: DialerOutbox,
    webitel: WebitelClient,
    entry_ids: Sequence[str],
    clock: Clock,
    owner: str,
    *,
    settings: UploadSettings | None = None,
    on_delivered: OnDelivered | None = None,
    callback_status: CallbackStatusSink | None = None,
) -> dict[str, DeliveryOutcome]:
    """Push these entries at once (a ``now`` callback), on the same exactly-once path as the
    scheduled run. Never raises for Webitel trouble: what cannot be delivered now stays in
    the outbox (pending, with a backoff) and the scheduled run delivers it."""
    settings = settings or UploadSettings()
    receipt = Receipt(
        run_id=new_run_id(clock, "now"), kind="upload", job="now", owner=owner, started_at=clock.now()
    )
    uploader = _Uploader(
        outbox,
        webitel,
        clock,
        owner,
        settings,
        receipt,
        None,
        on_delivered,
        callback_status,
        record_outcomes=True,
    )
    claimed = outbox.claim(list(entry_ids), clock.now(), lease_s=settings.lease_s, owner=owner)
    if claimed:
        try:
            uploader.process(claimed)
        except _Stop as stop:
            logger.warning("deliver_now: left for the scheduled upload", extra={"reason": stop.reason})
    outcomes = {entry_id: DeliveryOutcome("not_claimed") for entry_id in entry_ids}
    outcomes.update(uploader.outcomes or {})
    return outcomes


def redrive(
    outbox: DialerOutbox,
    entry_ids: Sequence[str],
    clock: Clock,
    *,
    member_fixes: dict[str, dict[str, object]] | None = None,
) -> dict[str, str]:
    """Put rejected entries back in line (after the cause was fixed), optionally changing
    member fields first (e.g. ``{"name": "...", "bucket": {"id": "3"}}``; the fixed member is
    validated against the Webitel contract). Returns entry id -> what happened."""
    results: dict[str, str] = {}
    fixes = member_fixes or {}
    to_requeue: list[str] = []
    for entry_id in entry_ids:
        entry = outbox.get(entry_id)
        if entry is None:
            results[entry_id] = "not found"
            continue
        if entry.state != OutboxState.REJECTED:
            results[entry_id] = f"not rejected (state {entry.state})"
            continue
        if entry_id in fixes:
            wire = {**entry.member.to_wire(), **fixes[entry_id]}
            variables = dict(wire.get("variables") or {})
            variables[ID_TAG] = entry.entry_id  # the tag is what makes the upload exactly-once
            wire["variables"] = variables
            member = type(entry.member).model_validate(wire)
            if not outbox.replace(entry.model_copy(update={"member": member}), expected=OutboxState.REJECTED):
                results[entry_id] = "changed meanwhile; not re-driven"
                continue
        to_requeue.append(entry_id)
    if to_requeue:
        outbox.requeue(to_requeue, clock.now())
        for entry_id in to_requeue:
            stored = outbox.get(entry_id)
            results[entry_id] = (
                "re-driven" if stored is not None and stored.state == OutboxState.PENDING else "not re-driven"
            )
    return results

"""Stop orders: members whose request closed after they reached Webitel are stopped there
(deleted, when the number was erased), exactly once and retried until Webitel confirms.

An order lives on the outbox entry (``domain.outbox.cancelled`` arms it; ``mark_delivered``
arms it again for a send that committed after the cancel). A *tentative* order on a delivered
entry is armed before a customer's cancel writes the request (``arm_stop``): the schedule
carries it out only once the request is closed, and voids it if the request stayed open. The callbacks API tries it at once
(``settle_now``); the dialer schedule works through what is left (``run_stops``), each order
under a lease so two runs never work on the same one.

What Webitel does, read from its source (docs/webitel-contract.md lists them):

- Stop: ``PATCH /call_center/queues/{queue_id}/members/{id}`` with
  ``{"fields": ["stop_cause"], "stop_cause": "cancel"}`` (webitel/protos ``engine/member.proto``
  rpc PatchMember, ``stop_cause = 12``, ``fields = 13``; webitel/engine ``grpc_api/cc_member.go``
  PatchMember applies only the names in ``fields``). ``store/sqlstore/cc_member_store.go``
  Update sets ``stop_at = now()`` only when it is still null, so a repeated stop changes
  nothing; ``app/cc_member.go`` PatchMember also cancels the member's active attempt when the
  cause is ``cancel``.
- A member that no longer exists answers 404 (``store/sqlstore/cc_member_store.go`` Get and
  ``store/sqlstore/pg_dialect.go`` extractCodeFromErr: no row -> 404): nothing is left to dial,
  so the order is settled.
- Delete by tag: ``DELETE /call_center/queues/{queue_id}/members`` with ``{"variables": {...}}``
  deletes the members whose variables contain the map (``engine/member.proto``
  DeleteMembersRequest ``variables = 15``; ``store/sqlstore/cc_member_store.go`` MultiDelete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ringback.domain.outbox import ID_TAG, OutboxEntry, OutboxState, stop_backoff
from ringback.domain.webitel import WebitelError, WebitelRejected
from ringback.observability import logger, metrics
from ringback.ports.clock import Clock
from ringback.ports.outbox import DialerOutbox
from ringback.ports.webitel import WebitelClient

if TYPE_CHECKING:  # the event models behind it cost the callbacks function's cold start
    from ringback.ports.projections import CallbackStates

STOP_CAUSE = "cancel"
_SEARCH_PAGE = 20


@dataclass
class StopRun:
    """What one pass over the stop orders did."""

    stopped: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def settle_order(entry: OutboxEntry, webitel: WebitelClient) -> int:
    """Carry out one order in Webitel; the number of members stopped or deleted. Raises
    ``WebitelError`` when Webitel could not confirm it (the order stays pending)."""
    if entry.erased:
        # Every member carrying the entry's tag, whatever ringback knows of it.
        webitel.delete_members(entry.queue_id, variables={ID_TAG: entry.entry_id})
        return 1
    member_ids: set[str] = set()
    if entry.webitel_member_id is not None:
        member_ids.add(entry.webitel_member_id)
    if entry.webitel_member_id is None or entry.outcome_unknown:
        page = webitel.search_members(entry.queue_id, {ID_TAG: entry.entry_id}, page=1, size=_SEARCH_PAGE)
        member_ids |= {m.id for m in page.items if m.variables.get(ID_TAG) == entry.entry_id}
    stopped = 0
    for member_id in sorted(member_ids):
        try:
            webitel.stop_member(entry.queue_id, member_id, STOP_CAUSE)
        except WebitelRejected as error:
            if error.status != 404:
                raise
            continue  # gone from Webitel: nothing left to dial
        stopped += 1
    return stopped


def _closed(entry: OutboxEntry, states: CallbackStates | None) -> bool:
    """Whether the request behind a tentative order was closed (no state store: keep it)."""
    if states is None or entry.source != "callback":
        return states is None
    found = states.open_states([entry.source_id]).get(entry.source_id)
    return found is None or found.state == "closed"


def settle_now(outbox: DialerOutbox, webitel: WebitelClient, entry_id: str) -> bool:
    """One immediate attempt at the entry's pending order; True when none is left pending.
    Never raises: what fails stays for the dialer schedule."""
    try:
        entry = outbox.get(entry_id)
        if entry is None or entry.member_stop != "pending":
            return True
        settle_order(entry, webitel)
        outbox.stop_done(entry)
    except Exception as error:
        logger.warning(
            "member stop not confirmed; the dialer schedule retries it",
            extra={"entry_id": entry_id, "error_type": type(error).__name__},
        )
        return False
    return True


def run_stops(
    outbox: DialerOutbox,
    webitel: WebitelClient,
    clock: Clock,
    queue_id: str,
    owner: str,
    *,
    limit: int = 100,
    lease_s: int = 300,
    max_rounds: int = 10,
    callback_states: CallbackStates | None = None,
) -> StopRun:
    """Work through the queue's due stop orders. Webitel trouble defers the order with a backoff
    (and, for an outage, ends the pass: the next schedule tries again)."""
    run = StopRun()
    for _ in range(max_rounds):
        orders = outbox.claim_stops(queue_id, clock.now(), limit=limit, lease_s=lease_s, owner=owner)
        if not orders:
            break
        for index, entry in enumerate(orders):
            if entry.state != OutboxState.CANCELLED and not _closed(entry, callback_states):
                # A tentative order (armed before a cancel) whose request stayed open: void.
                outbox.stop_void(entry)
                continue
            try:
                if entry.state != OutboxState.CANCELLED:
                    outbox.cancel(entry.entry_id, reason="cancelled by the customer")
                settle_order(entry, webitel)
            except WebitelError as error:
                retry_at = clock.now() + stop_backoff(entry.stop_attempts + 1)
                outbox.stop_failed(entry, error=str(error)[:500], retry_at=retry_at)
                run.deferred += 1
                run.errors.append(type(error).__name__)
                logger.warning(
                    "member stop deferred",
                    extra={"entry_id": entry.entry_id, "error_type": type(error).__name__},
                )
                if not isinstance(error, WebitelRejected):
                    # Unreachable: give the rest of this batch back at once, due again soon.
                    for rest in orders[index + 1 :]:
                        outbox.stop_failed(rest, error="not tried: Webitel unavailable", retry_at=retry_at)
                        run.deferred += 1
                    metrics.add_metric(name="DialerStopsDeferred", unit="Count", value=run.deferred)
                    return run
                continue
            outbox.stop_done(entry)
            run.stopped += 1
        if len(orders) < limit:
            break
    if run.deferred:
        metrics.add_metric(name="DialerStopsDeferred", unit="Count", value=run.deferred)
    return run

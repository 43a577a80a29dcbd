"""The Webitel part of an erasure, shared by the erasure use case and the dialer schedule.

An erasure first writes a tombstone (``ports.erasures``: a keyed hash of the number and its
targets, no number), then scrubs the number from the outbox entries, deletes the local records
and deletes the members in Webitel. A target Webitel does not confirm stays in the tombstone,
and the dialer schedule (``run_erasures``) retries it with a backoff until Webitel does; the
tombstone goes when nothing is left. Webitel's delete by variables: webitel/protos
``engine/member.proto`` DeleteMembersRequest ``variables``; webitel/engine
``store/sqlstore/cc_member_store.go`` MultiDelete (see ``services.member_stops``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ringback.domain.outbox import CALLBACK_TAG, OutboxState, stop_backoff
from ringback.observability import logger, metrics
from ringback.ports.clock import Clock
from ringback.ports.erasures import ErasureTombstones
from ringback.ports.outbox import DialerOutbox
from ringback.ports.webitel import WebitelClient
from ringback.services.member_stops import settle_now

# A tombstone whose local part failed waits for people to run the erasure again (the number
# is needed to find the local records); the schedule looks at it again this often.
_LOCAL_PENDING_RECHECK = timedelta(hours=1)


def entry_target(entry_id: str) -> str:
    return f"entry:{entry_id}"


def request_target(queue_id: str, callback_id: str) -> str:
    return f"request:{queue_id}:{callback_id}"


@dataclass
class Progress:
    cancelled: int = 0
    deleted: int = 0  # requests whose tagged members Webitel confirmed deleted
    pending: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def finish_targets(outbox: DialerOutbox, webitel: WebitelClient, targets: Sequence[str]) -> Progress:
    """Scrub and delete what each target names; what fails is reported pending. Never raises."""
    progress = Progress()
    for target in targets:
        kind, _, rest = target.partition(":")
        try:
            if kind == "entry":
                _finish_entry(outbox, webitel, rest, progress, target)
            elif kind == "request":
                queue_id, _, callback_id = rest.partition(":")
                webitel.delete_members(queue_id, variables={CALLBACK_TAG: callback_id})
                progress.deleted += 1
        except Exception as error:
            progress.pending.append(target)
            progress.problems.append(f"{target}: {type(error).__name__}")
    return progress


def _finish_entry(
    outbox: DialerOutbox, webitel: WebitelClient, entry_id: str, progress: Progress, target: str
) -> None:
    before = outbox.cancel(entry_id, reason="erased", erase=True)  # scrubs the number
    if before is None:
        return  # no such entry: nothing holds the number
    if before.state not in (OutboxState.CANCELLED, OutboxState.EXPIRED):
        progress.cancelled += 1
    entry = outbox.get(entry_id)
    if entry is None or entry.member_stop != "pending":
        return
    if not settle_now(outbox, webitel, entry_id):
        progress.pending.append(target)
        progress.problems.append(f"{target}: Webitel did not confirm the delete")


def run_erasures(
    tombstones: ErasureTombstones,
    outbox: DialerOutbox,
    webitel: WebitelClient,
    clock: Clock,
    *,
    limit: int = 50,
    lease_s: int = 300,
) -> int:
    """Retry the due tombstones; the number of erasures this pass completed."""
    completed = 0
    for tombstone in tombstones.claim_due(clock.now(), limit=limit, lease_s=lease_s):
        progress = finish_targets(outbox, webitel, tombstone.targets)
        now = clock.now()
        wait = stop_backoff(tombstone.attempts + 1) if progress.pending else _LOCAL_PENDING_RECHECK
        due = now + wait
        tombstones.settle(
            tombstone.key,
            pending=progress.pending,
            local_done=tombstone.local_done,
            due_at=due,
            failed=bool(progress.pending),
        )
        if progress.pending:
            logger.warning(
                "erasure still pending in Webitel",
                extra={"phone": tombstone.phone_masked, "pending": len(progress.pending)},
            )
            metrics.add_metric(name="ErasurePending", unit="Count", value=1)
        elif tombstone.local_done:
            completed += 1
            logger.info("erasure completed by the schedule", extra={"phone": tombstone.phone_masked})
        else:
            logger.warning(
                "erasure: the local part must be run again by people", extra={"phone": tombstone.phone_masked}
            )
            metrics.add_metric(name="ErasureLocalPending", unit="Count", value=1)
    return completed

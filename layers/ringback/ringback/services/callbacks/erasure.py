"""Erase everything held for a number (``POST /v1/callbacks/erasure``): it completes, or stays
pending and is finished by the dialer schedule.

1. A tombstone first (``ports.erasures``: a keyed hash of the number, the masked number and what
   is left to delete; never the number): a crash after it loses nothing.
2. Every outbox entry of the number's requests is cancelled with its member scrubbed of the
   number (``domain.outbox.cancelled``); one whose member may be in Webitel gets a delete order.
3. The local records (requests, repeats, consent evidence, the lock) are deleted.
4. The members are deleted in Webitel (by ``ringback_id`` per entry, by
   ``ringback_callback_id`` per request). What Webitel does not confirm stays in the tombstone:
   the dialer schedule retries it (``services.erasures.run_erasures``) and running the erasure
   again reports it (``pending``) and retries it at once.
"""

from __future__ import annotations

from ringback.domain.callbacks import ErasureReport
from ringback.domain.consent import keyed_hash
from ringback.domain.errors import FieldProblem, Unavailable, Unprocessable
from ringback.domain.phones import InvalidPhone, parse_phone
from ringback.observability import logger
from ringback.ports.erasures import Tombstone
from ringback.services.callbacks.core import CallbackCore, entry_id_for
from ringback.services.erasures import entry_target, finish_targets, request_target

_PURPOSE = "erasure"


def erase_phone(core: CallbackCore, phone: str, country: str | None) -> ErasureReport:
    try:
        number = parse_phone(phone, country or core.default_region)
    except InvalidPhone as error:
        raise Unprocessable("not a phone number", fields=(FieldProblem("phone", error.message),)) from None
    if core.erasures is None:
        raise Unavailable("erasure is not configured (no tombstone store)")
    now = core.clock.now()
    keys = core.keys()
    key = keyed_hash(keys.current, number.e164, purpose=_PURPOSE)
    for accepted in keys.accepted:  # a tombstone written before a key rotation
        earlier = keyed_hash(accepted, number.e164, purpose=_PURPOSE)
        if earlier != key and core.erasures.get(earlier) is not None:
            key = earlier
            break

    ids = core.repo.ids_for_phone(number.e164)
    targets: list[str] = []
    for callback_id in ids:
        record = core.repo.get(callback_id)
        if record is None:
            continue
        targets += [entry_target(entry_id_for(callback_id, g)) for g in range(record.reschedule_count + 1)]
        targets.append(request_target(record.queue_id, callback_id))
    tombstone: Tombstone = core.erasures.open(key, phone_masked=number.masked, targets=targets, now=now)

    progress = finish_targets(core.outbox, core.webitel(), tombstone.targets)
    items = core.repo.erase(ids, number.e164)  # raises: 503, the tombstone says local_done=False
    core.erasures.settle(key, pending=progress.pending, local_done=True, due_at=now, failed=False)
    logger.info(
        "erased a number's callback data",
        extra={
            "phone": number.masked,
            "requests": len(ids),
            "items": items,
            "pending": len(progress.pending),
        },
    )
    return ErasureReport(
        phone_masked=number.masked,
        requests=len(ids),
        items_deleted=items,
        webitel_members_deleted=progress.deleted,
        outbox_entries_cancelled=progress.cancelled,
        problems=progress.problems,
        pending=progress.pending,
        complete=not progress.pending,
    )

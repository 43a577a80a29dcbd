"""Erase everything held for a number (``POST /v1/callbacks/erasure``)."""

from __future__ import annotations

from ringback.domain.callbacks import ErasureReport
from ringback.domain.errors import FieldProblem, Unprocessable
from ringback.domain.outbox import CALLBACK_TAG
from ringback.domain.phones import InvalidPhone, parse_phone
from ringback.observability import logger
from ringback.services.callbacks.core import CallbackCore, entry_id_for


def erase_phone(core: CallbackCore, phone: str, country: str | None) -> ErasureReport:
    """Erase everything held for a number: requests, repeats, consent evidence, its lock,
    its outbox entries (cancelled) and its Webitel members (deleted by ringback's tag)."""
    try:
        number = parse_phone(phone, country or core.default_region)
    except InvalidPhone as error:
        raise Unprocessable("not a phone number", fields=(FieldProblem("phone", error.message),)) from None
    ids = core.repo.ids_for_phone(number.e164)
    problems: list[str] = []
    cancelled = deleted_members = 0
    for callback_id in ids:
        record = core.repo.get(callback_id)
        if record is None:
            continue
        for generation in range(record.reschedule_count + 1):
            try:
                if core.outbox.cancel(entry_id_for(callback_id, generation), reason="erased") is not None:
                    cancelled += 1
            except Exception as error:
                problems.append(f"outbox entry of {callback_id}: {type(error).__name__}")
        try:
            core.webitel().delete_members(record.queue_id, variables={CALLBACK_TAG: callback_id})
            deleted_members += 1
        except Exception as error:
            problems.append(f"Webitel members of {callback_id}: {type(error).__name__}")
    items = core.repo.erase(ids, number.e164)
    logger.info(
        "erased a number's callback data",
        extra={"phone": number.masked, "requests": len(ids), "items": items, "problems": len(problems)},
    )
    return ErasureReport(
        phone_masked=number.masked,
        requests=len(ids),
        items_deleted=items,
        webitel_members_deleted=deleted_members,
        outbox_entries_cancelled=cancelled,
        problems=problems,
    )

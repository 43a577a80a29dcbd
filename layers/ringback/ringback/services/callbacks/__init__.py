"""Website callback requests: one module per use case, sharing a narrow core (``core``).

- ``submit``: validate, reserve (counters, lock, slot), store the request with its outbox entry,
  push ``now`` requests at once;
- ``repeat``: a submit for a number that already has an open request;
- ``direct_call``: a ``now`` request placed as a click-to-call, its queue entry the safety net;
- ``cancel``: read, authorise (self-service token) and cancel, stopping a member in Webitel;
- ``reschedule``: move a request to a slot;
- ``erasure``: erase everything held for a number.

``CallbackService`` binds the ports once (``adapters.callbacks_factory``); the handler calls one
of its methods per route.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ringback.domain.callbacks import (
    CallbackAccepted,
    CallbackRequest,
    CallbackView,
    CancelResult,
    ErasureReport,
    RescheduleRequest,
)
from ringback.domain.selfservice import KeyRing
from ringback.ports.callbacks import CallbackRepository
from ringback.ports.captcha import CaptchaVerifier
from ringback.ports.clock import Clock
from ringback.ports.erasures import ErasureTombstones
from ringback.ports.operator_config import OperatorConfigSource
from ringback.ports.outbox import DialerOutbox
from ringback.ports.webitel import WebitelClient
from ringback.services.callbacks import cancel as _cancel
from ringback.services.callbacks import erasure as _erasure
from ringback.services.callbacks import reschedule as _reschedule
from ringback.services.callbacks import submit as _submit
from ringback.services.callbacks.core import (
    CallbackCore,
    Caller,
    DeliverNow,
    entry_id_for,
    new_callback_id,
    view_of,
)

__all__ = [
    "CallbackCore",
    "CallbackService",
    "Caller",
    "DeliverNow",
    "entry_id_for",
    "new_callback_id",
    "view_of",
]


class CallbackService:
    """The callbacks use cases over one set of ports."""

    def __init__(
        self,
        *,
        repo: CallbackRepository,
        outbox: DialerOutbox,
        config: OperatorConfigSource,
        clock: Clock,
        keys: Callable[[], KeyRing],
        captcha: Callable[[], CaptchaVerifier],
        webitel: Callable[[], WebitelClient],
        deliver: DeliverNow | None,
        default_region: str,
        allowed_origins: Sequence[str] = (),
        owner: str = "callbacks",
        erasures: ErasureTombstones | None = None,
    ) -> None:
        self.core = CallbackCore(
            repo=repo,
            outbox=outbox,
            config=config,
            clock=clock,
            keys=keys,
            captcha=captcha,
            webitel=webitel,
            deliver=deliver,
            default_region=default_region,
            allowed_origins=list(allowed_origins),
            owner=owner,
            erasures=erasures,
        )

    def submit(self, request: CallbackRequest, caller: Caller) -> CallbackAccepted:
        return _submit.submit(self.core, request, caller)

    def get(self, callback_id: str) -> CallbackView:
        return _cancel.get(self.core, callback_id)

    def authorize(self, callback_id: str, token: str | None) -> None:
        _cancel.authorize(self.core, callback_id, token)

    def cancel(self, callback_id: str) -> CancelResult:
        return _cancel.cancel(self.core, callback_id)

    def reschedule(self, callback_id: str, request: RescheduleRequest, caller: Caller) -> CallbackAccepted:
        return _reschedule.reschedule(self.core, callback_id, request, caller)

    def erase_phone(self, phone: str, country: str | None) -> ErasureReport:
        return _erasure.erase_phone(self.core, phone, country)

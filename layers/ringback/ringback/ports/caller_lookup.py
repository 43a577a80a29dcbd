"""Reading what the routing lookup needs about a caller in one round trip: the directory entry
of the number and whether it has an open website callback request (so the flow can greet the
caller and ringback can close that request once the inbound call is answered)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ringback.domain.routing import CallerRecord


class CallerLookup(Protocol):
    def read(self, e164: str, *, callbacks: bool, remaining: Callable[[], float]) -> CallerRecord:
        """The number's directory entry (None: not a customer) and, when ``callbacks``, its open
        callback request (``callback_read`` False when that part could not be read in time).

        ``remaining()`` is the time left (seconds) of the request's budget: retries stop there.
        Raises when the directory itself cannot be read.
        """
        ...

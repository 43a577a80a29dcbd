"""Finding a caller's open website callback request (so the flow can greet them and ringback
can close the request once the inbound call is answered)."""

from __future__ import annotations

from typing import Protocol

from ringback.domain.routing import OpenCallback


class CallbackLookup(Protocol):
    def find_open(self, e164: str) -> OpenCallback | None:
        """The newest request for this number whose status is not terminal, or None."""
        ...

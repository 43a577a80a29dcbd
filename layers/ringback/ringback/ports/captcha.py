"""Server-side CAPTCHA verification (Cloudflare Turnstile style), as a port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CaptchaOutcome:
    success: bool
    error_codes: tuple[str, ...] = field(default_factory=tuple)


class CaptchaVerifier(Protocol):
    def verify(self, token: str, remote_ip: str | None) -> CaptchaOutcome:
        """Ask the provider whether ``token`` is a fresh, valid challenge answer."""
        ...

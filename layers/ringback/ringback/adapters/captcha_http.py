"""CAPTCHA verification: Cloudflare Turnstile's siteverify over httpx, and a local sandbox.

Which one runs is deployment configuration (``RINGBACK_CAPTCHA_BACKEND``: ``turnstile`` with
the secret key in ``RINGBACK_CAPTCHA_SECRET``'s ``secret``; ``sandbox`` locally). Whether a
CAPTCHA is required at all is the operator's ``callbacks.captcha_required``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from ringback.ports.captcha import CaptchaOutcome

if TYPE_CHECKING:  # httpx loads with the Turnstile verifier, not with the sandbox's
    import httpx

TURNSTILE_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
# Cloudflare's documented dummy token (what its test site keys produce); the sandbox accepts
# exactly this and rejects everything else.
SANDBOX_PASS_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"  # noqa: S105 - a public test value, not a secret


class SandboxCaptcha:
    """Implements ``ports.captcha.CaptchaVerifier`` offline for the local stack and tests."""

    def verify(self, token: str, remote_ip: str | None) -> CaptchaOutcome:
        if hmac.compare_digest(token.encode(), SANDBOX_PASS_TOKEN.encode()):
            return CaptchaOutcome(True)
        return CaptchaOutcome(False, ("invalid-input-response",))


class TurnstileCaptcha:
    """Implements ``ports.captcha.CaptchaVerifier`` with Turnstile's siteverify API."""

    def __init__(
        self,
        secret: str,
        *,
        url: str = TURNSTILE_VERIFY_URL,
        timeout_s: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        if not secret:
            raise ValueError("a Turnstile secret key is required")
        self._secret = secret
        self._url = url
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 1.5)), transport=transport
        )

    def __repr__(self) -> str:
        return f"TurnstileCaptcha(url={self._url!r})"

    def verify(self, token: str, remote_ip: str | None) -> CaptchaOutcome:
        form: dict[str, Any] = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        response = self._client.post(self._url, data=form)
        if response.status_code >= 500:
            import httpx

            raise httpx.HTTPStatusError("siteverify unavailable", request=response.request, response=response)
        try:
            body = response.json()
        except ValueError:
            return CaptchaOutcome(False, ("bad-response",))
        codes = tuple(str(code) for code in body.get("error-codes", []) if isinstance(code, str))
        return CaptchaOutcome(body.get("success") is True, codes)

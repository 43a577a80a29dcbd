"""Builds what ``GET /v1/status`` needs, and nothing more, once per container.

The availability status answers every page view of the customer's website, so a container
that serves only page views must start fast: no form validation, idempotency, phone-number or
HTTP-client machinery at import, no pydantic-settings (``adapters.lean_settings``), no boto3.
The Webitel client (httpx) is built only when the shared cache is stale and this container
won the refresh (``services.availability``). A container whose first request finds a valid
shared answer (``adapters.status_snapshot``) does not even build these.
The callbacks function's full wiring (``callbacks_factory``) reuses these instances.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ringback.adapters.clock import SystemClock
from ringback.adapters.lean_settings import get_lean_settings
from ringback.adapters.operator_config import SharedOperatorConfig, shared_source
from ringback.adapters.status_snapshot import answers, dynamodb, shared_cache
from ringback.services.availability import AvailabilityService

if TYPE_CHECKING:
    from ringback.ports.webitel import WebitelClient

__all__ = ["availability", "config_source", "dynamodb", "infrastructure_errors", "webitel"]


@lru_cache(maxsize=1)
def config_source() -> SharedOperatorConfig:
    """The operator configuration through the containers' shared snapshot."""
    settings = get_lean_settings()
    return shared_source(settings.config_parameter, settings.operator_config_max_age_s, shared_cache())


@lru_cache(maxsize=1)
def webitel() -> WebitelClient:
    from ringback.adapters.webitel_http import client_with_secret_token

    settings = get_lean_settings()
    return client_with_secret_token(
        settings.webitel_base_url, settings.webitel_token_secret, settings.secrets_max_age_s
    )


@lru_cache(maxsize=1)
def availability() -> AvailabilityService:
    config = config_source()
    return AvailabilityService(
        config=config,
        clock=SystemClock(),
        webitel=webitel,
        cache=shared_cache(),
        answers=answers(),
        config_valid_until=config.valid_until,
    )


def infrastructure_errors() -> tuple[type[Exception], ...]:
    """Failures below the service that mean "retry" (503). httpx's and Powertools Parameters'
    only if they are loaded already: neither can raise before it is imported."""
    import sys

    from ringback.adapters.aws import loaded_errors

    errors: list[type[Exception]] = list(loaded_errors())
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        errors.append(httpx.HTTPError)
    return tuple(errors)

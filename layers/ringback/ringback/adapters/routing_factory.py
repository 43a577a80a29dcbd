"""Builds the routing lookup's service and token gate once per container, on first use.

Kept apart from the other factories: the routing path must not import boto3, pydantic-settings
or Powertools Parameters (cold start; the caller is on the line).
"""

from __future__ import annotations

from functools import lru_cache

from ringback.adapters.routing_dynamo import DynamoCallerLookup, routing_client
from ringback.adapters.routing_settings import get_routing_settings
from ringback.adapters.routing_tokens import SecretsManagerTokens
from ringback.services.routing import RoutingPolicy, RoutingService, TokenGate


@lru_cache(maxsize=1)
def service() -> RoutingService:
    settings = get_routing_settings()
    policy = RoutingPolicy(
        budget_ms=settings.routing_budget_ms,
        default_region=settings.default_region,
        cache_ttl_s=settings.routing_cache_ttl_s,
        stale_if_error_s=settings.routing_stale_if_error_s,
        cache_size=settings.routing_cache_size,
        fallback_found=settings.routing_fallback_found,
        fallback_debt=settings.routing_fallback_debt,
        callback_lookup=settings.routing_callback_lookup,
    )
    client = routing_client("dynamodb", settings.routing_budget_ms)
    lookup = DynamoCallerLookup(
        settings.customers_table, settings.callbacks_table, client, guard_table=settings.guard_table
    )
    return RoutingService(lookup, policy=policy)


@lru_cache(maxsize=1)
def gate() -> TokenGate:
    settings = get_routing_settings()
    # Caching is the gate's (it keeps the last tokens when the secret cannot be read).
    source = SecretsManagerTokens(
        settings.routing_tokens_secret, routing_client("secretsmanager", settings.routing_budget_ms)
    )
    return TokenGate(
        source, refresh_s=settings.secrets_max_age_s, stale_max_s=settings.routing_tokens_stale_max_s
    )

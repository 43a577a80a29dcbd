"""The queue's agent counts as Webitel reports them, and the base of ringback's Webitel read models.

Its own module (not the whole Webitel wire vocabulary of ``domain.webitel``), so the page-view
path (``GET /v1/status``, which reads cached counts) loads lean. Facts: see ``domain.webitel``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _ReadModel(BaseModel):
    """Something ringback reads: newer servers add fields, which must not break us."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_mean_unset(cls, data: Any) -> Any:
        # grpc-gateway may emit unpopulated fields as null; treat them like absent ones so the
        # field defaults ("" / {} / []) apply instead of failing validation.
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class QueueAgentCounts(_ReadModel):
    """Agents of one queue by state. ``free`` = online and waiting for a call.

    Zero counts may be omitted by the server, hence the defaults.
    """

    online: int = Field(default=0, ge=0)
    pause: int = Field(default=0, ge=0)
    offline: int = Field(default=0, ge=0)
    free: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)
    busy: int = Field(default=0, ge=0)

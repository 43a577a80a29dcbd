"""The part of the Webitel engine API ringback uses, as a port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ringback.domain.webitel import (
    Agent,
    CreateCallRequest,
    MemberItem,
    MemberPage,
    QueueAgentCounts,
)


class WebitelClient(Protocol):
    def create_members_bulk(self, queue_id: str, items: Sequence[MemberItem], file_name: str) -> list[str]:
        """Create members in one transaction; ids in the order of ``items``."""
        ...

    def create_member(self, queue_id: str, item: MemberItem) -> str: ...

    def search_members(
        self, queue_id: str, variables: Mapping[str, str], page: int = 1, size: int = 100
    ) -> MemberPage: ...

    def stop_member(self, queue_id: str, member_id: str, cause: str = "cancel") -> None: ...

    def delete_members(
        self, queue_id: str, *, ids: Sequence[str] = (), variables: Mapping[str, str] | None = None
    ) -> None: ...

    def create_call(self, request: CreateCallRequest) -> str: ...

    def list_agents(self, queue_id: str | None = None) -> list[Agent]: ...

    def queue_agent_counts(self, queue_id: str) -> QueueAgentCounts: ...


class QueueWaits(Protocol):
    def queue_waits(self, queue_ids: Sequence[str]) -> dict[str, tuple[int, float]]:
        """``{queue_id: (waiting, avg_asa_sec)}`` of the queues Webitel reports."""
        ...

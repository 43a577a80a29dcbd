"""The Webitel engine REST API over httpx: implements ``ringback.ports.WebitelClient``.

No retries here on purpose: member creation has no idempotency key, so only the caller knows
whether repeating a request is safe (it must reconcile by searching its tag variable first).

Never log the token, request bodies or query strings (they carry phone numbers and tags).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from ringback.domain.webitel import (
    Agent,
    AgentPage,
    BulkMembersRequest,
    BulkMembersResponse,
    CreateCallRequest,
    CreateCallResponse,
    MemberInQueue,
    MemberItem,
    MemberPage,
    QueueAgentCounts,
    QueueReportPage,
    WebitelAuthError,
    WebitelContractError,
    WebitelError,
    WebitelErrorBody,
    WebitelQueueNotVisible,
    WebitelRejected,
    WebitelUnavailable,
)

__all__ = ["ACCESS_HEADER", "HttpWebitelClient"]

ACCESS_HEADER: Final = "X-Webitel-Access"
_REQUEST_ID_HEADER: Final = "X-Request-Id"
_AGENT_PAGE_SIZE: Final = 100
# Guards against a server that always answers next=true; 100 pages of 100 is far above any
# real contact centre.
_MAX_AGENT_PAGES: Final = 100
# The general report aggregates attempts joined in a window; agent_status does not depend on
# it, but the server wants a window, so ask for the last day.
_REPORT_WINDOW_MS: Final = 24 * 60 * 60 * 1000

_log = logging.getLogger(__name__)

_ModelT = TypeVar("_ModelT", bound=BaseModel)


def _segment(value: str) -> str:
    """An id as one URL path segment: ids come from config and data, never trust them raw."""
    if not value:
        raise ValueError("Webitel ids must not be empty")
    return quote(value, safe="")


class _AccessToken(httpx.Auth):
    """Sets ``X-Webitel-Access`` from the token source on every request."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[ACCESS_HEADER] = self._token()
        yield request


class HttpWebitelClient:
    """Webitel engine client with one reused connection pool.

    ``base_url`` includes the API base path, e.g. ``https://pbx.example.com/api``. ``timeout``
    bounds connect and read separately so callers can fit their own time budget.
    """

    def __init__(
        self,
        base_url: str,
        token: str | Callable[[], str],
        *,
        timeout: httpx.Timeout,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Webitel access token is required")
        # A callable is asked on every request (it caches the secret itself), so a token put
        # into the secret after deploy, or rotated, is used without recycling the container.
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Accept": "application/json"},
            auth=_AccessToken(token if callable(token) else (lambda: token)),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        # Deliberately without headers: they hold the token.
        return f"HttpWebitelClient(base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- members --------------------------------------------------------------------------

    def create_members_bulk(self, queue_id: str, items: Sequence[MemberItem], file_name: str) -> list[str]:
        """Create members in one transaction; returns their ids in the order of ``items``."""
        if not items:
            return []
        body = BulkMembersRequest(items=list(items), file_name=file_name).to_wire()
        path = f"call_center/queues/{_segment(queue_id)}/members/bulk"
        answer = self._send("POST", path, "create_members_bulk", body=body)
        ids = self._parse(answer, BulkMembersResponse).ids
        if len(ids) != len(items):
            raise self._contract_error(
                answer, f"create_members_bulk: sent {len(items)} items, got {len(ids)} ids"
            )
        return ids

    def create_member(self, queue_id: str, item: MemberItem) -> str:
        path = f"call_center/queues/{_segment(queue_id)}/members"
        answer = self._send("POST", path, "create_member", body=item.to_wire())
        return self._parse(answer, MemberInQueue).id

    def search_members(
        self, queue_id: str, variables: Mapping[str, str], page: int = 1, size: int = 100
    ) -> MemberPage:
        """Members whose variables contain all of ``variables`` (grpc-gateway map syntax)."""
        if page < 1 or size < 1:
            raise ValueError("page and size start at 1")
        params: list[tuple[str, str]] = [(f"variables[{key}]", value) for key, value in variables.items()]
        params += [("page", str(page)), ("size", str(size))]
        path = f"call_center/queues/{_segment(queue_id)}/members"
        answer = self._send("GET", path, "search_members", params=params)
        return self._parse(answer, MemberPage)

    def stop_member(self, queue_id: str, member_id: str, cause: str = "cancel") -> None:
        """Stop dialling a member (it stays in the queue with ``stop_cause``)."""
        if not cause:
            raise ValueError("a stop cause is required")
        path = f"call_center/queues/{_segment(queue_id)}/members/{_segment(member_id)}"
        body = {"fields": ["stop_cause"], "stop_cause": cause}
        answer = self._send("PATCH", path, "stop_member", body=body)
        self._parse(answer, MemberInQueue)

    def delete_members(
        self,
        queue_id: str,
        *,
        ids: Sequence[str] = (),
        variables: Mapping[str, str] | None = None,
    ) -> None:
        """Delete members matching ``ids`` and/or containing ``variables``.

        Webitel deletes the WHOLE queue when no filter is given, so an empty filter is refused
        here rather than sent.
        """
        body: dict[str, Any] = {}
        if ids:
            # ``id``: protos engine/member.proto DeleteMembersRequest (``ids`` is deprecated).
            body["id"] = [str(member_id) for member_id in ids]
        if variables:
            body["variables"] = dict(variables)
        if not body:
            raise ValueError("delete_members needs ids or variables (no filter = whole queue)")
        path = f"call_center/queues/{_segment(queue_id)}/members"
        answer = self._send("DELETE", path, "delete_members", body=body)
        self._parse(answer, MemberPage)

    # -- calls and agents -----------------------------------------------------------------

    def create_call(self, request: CreateCallRequest) -> str:
        """Click-to-call: rings the agent's phone, then the destination. Returns the call id."""
        answer = self._send("POST", "calls", "create_call", body=request.to_wire())
        return self._parse(answer, CreateCallResponse).id

    def list_agents(self, queue_id: str | None = None) -> list[Agent]:
        agents: list[Agent] = []
        for page in range(1, _MAX_AGENT_PAGES + 1):
            params = [("page", str(page)), ("size", str(_AGENT_PAGE_SIZE))]
            if queue_id is not None:
                params.append(("queue_id", queue_id))
            answer = self._send("GET", "call_center/agents", "list_agents", params=params)
            result = self._parse(answer, AgentPage)
            agents.extend(result.items)
            if not result.next:
                return agents
        raise self._contract_error(answer, f"list_agents: more than {_MAX_AGENT_PAGES} pages")

    def queue_agent_counts(self, queue_id: str) -> QueueAgentCounts:
        """Agents of one queue by state, from the queues' general report."""
        now_ms = int(time.time() * 1000)
        params = [
            ("queue_id", queue_id),
            ("joined_at.from", str(now_ms - _REPORT_WINDOW_MS)),
            ("joined_at.to", str(now_ms)),
            ("page", "1"),
            ("size", "100"),
        ]
        answer = self._send("GET", "call_center/queues/reports/general", "queue_agent_counts", params=params)
        rows = [row for row in self._parse(answer, QueueReportPage).items if row.queue.id == queue_id]
        if not rows:
            # The report only has rows for queues the token's user may see (engine
            # store/sqlstore/cc_queue_store.go QueueReportGeneral): say so, do not guess.
            _log.warning("webitel queue_agent_counts: no report row for queue %s", queue_id)
            raise WebitelQueueNotVisible(
                queue_id, status=answer.status_code, request_id=answer.headers.get(_REQUEST_ID_HEADER)
            )
        if len(rows) != 1:
            # No row can mean an unknown queue or a changed report; several rows would need a
            # rule we do not know. Either way: do not invent availability.
            raise self._contract_error(
                answer, f"queue_agent_counts: expected 1 report row for the queue, got {len(rows)}"
            )
        return rows[0].agent_status

    def queue_waits(self, queue_ids: Sequence[str]) -> dict[str, tuple[int, float]]:
        """``{queue_id: (waiting, avg_asa_sec)}`` from one general report of these queues (rows
        only for the queues the token's user may see)."""
        now_ms = int(time.time() * 1000)
        params = [("queue_id", queue_id) for queue_id in dict.fromkeys(queue_ids)]
        params += [
            ("joined_at.from", str(now_ms - _REPORT_WINDOW_MS)),
            ("joined_at.to", str(now_ms)),
            ("page", "1"),
            ("size", "100"),
        ]
        answer = self._send("GET", "call_center/queues/reports/general", "queue_waits", params=params)
        return {
            row.queue.id: (row.waiting, row.avg_asa_sec)
            for row in self._parse(answer, QueueReportPage).items
            if row.queue.id in queue_ids
        }

    # -- plumbing -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: list[tuple[str, str]] | None = None,
    ) -> httpx.Response:
        """One request; returns a 2xx response or raises the matching WebitelError."""
        started = time.monotonic()
        try:
            # A tuple: httpx wants a covariant container of pairs.
            query = tuple(params) if params else None
            response = self._client.request(method, path, json=body, params=query)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left this process: nothing can have been committed.
            _log.warning("webitel %s: no connection (%s)", operation, type(exc).__name__)
            raise WebitelUnavailable(
                f"{operation}: Webitel unreachable ({type(exc).__name__})",
                may_have_committed=False,
            ) from exc
        except httpx.TransportError as exc:
            # Sent (or partly sent) and no answer: the server may well have committed it.
            _log.warning("webitel %s: no answer (%s)", operation, type(exc).__name__)
            raise WebitelUnavailable(
                f"{operation}: no answer from Webitel ({type(exc).__name__}), outcome unknown"
            ) from exc
        elapsed_ms = int((time.monotonic() - started) * 1000)
        request_id = response.headers.get(_REQUEST_ID_HEADER)
        _log.debug(
            "webitel %s -> %s in %d ms request_id=%s",
            operation,
            response.status_code,
            elapsed_ms,
            request_id,
        )
        if response.is_success:
            return response
        raise self._error_for(response, operation)

    @staticmethod
    def _error_for(response: httpx.Response, operation: str) -> WebitelError:
        body = _error_body(response)
        status = response.status_code
        request_id = body.request_id or response.headers.get(_REQUEST_ID_HEADER) or None
        error_id = body.id or None
        detail = body.detail or None
        _log.warning(
            "webitel %s failed: status=%s error_id=%s request_id=%s",
            operation,
            status,
            error_id,
            request_id,
        )
        kwargs: dict[str, Any] = {
            "status": status,
            "request_id": request_id,
            "detail": detail,
            "error_id": error_id,
        }
        message = f"{operation}: {detail or f'HTTP {status}'}"
        if status in (401, 403):
            return WebitelAuthError(message, **kwargs)
        if status >= 500 or status in (408, 429):
            return WebitelUnavailable(message, **kwargs)
        if 400 <= status < 500:
            return WebitelRejected(message, **kwargs)
        # 1xx/3xx: not something the engine API answers.
        return WebitelContractError(message, **kwargs)

    @staticmethod
    def _parse(response: httpx.Response, model: type[_ModelT]) -> _ModelT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            # Report the failing locations only: the values may be personal data.
            where = "; ".join(
                ".".join(str(part) for part in error["loc"]) or "<body>" for error in exc.errors()
            )
            raise HttpWebitelClient._contract_error(
                response, f"unexpected {model.__name__} from Webitel at: {where}"
            ) from exc

    @staticmethod
    def _contract_error(response: httpx.Response, message: str) -> WebitelContractError:
        request_id = response.headers.get(_REQUEST_ID_HEADER)
        _log.error("webitel contract mismatch: %s request_id=%s", message, request_id)
        return WebitelContractError(message, status=response.status_code, request_id=request_id)


def _error_body(response: httpx.Response) -> WebitelErrorBody:
    """The Webitel error body, or an empty one when a proxy answered with something else."""
    try:
        return WebitelErrorBody.model_validate_json(response.content)
    except ValidationError:
        return WebitelErrorBody()


def client_with_secret_token(base_url: str, token_secret: str, secrets_max_age_s: int) -> HttpWebitelClient:
    """A client whose token is read from ``token_secret`` (kept ``secrets_max_age_s``), for a
    route someone waits on: connect fast, give up early (the scheduled upload retries)."""
    from ringback.adapters.secrets import secret_value

    def token() -> str:
        return secret_value(token_secret, "token", max_age_s=secrets_max_age_s)

    return HttpWebitelClient(base_url, token, timeout=httpx.Timeout(2.5, connect=1.0))

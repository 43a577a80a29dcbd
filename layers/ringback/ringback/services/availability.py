"""``GET /v1/status``: may the website offer "call me now"? online / busy / offline.

Business hours and holidays decide first (closed = offline, code 0, with the next opening).
When open, the callback queue's live agents decide: a free agent = online (1); agents logged
in but all busy = busy (2) with an estimated wait; nobody logged in = offline (0, ``later``
and ``scheduled`` are still accepted). The Webitel answer is cached twice: in the container
and in a shared item every container reads, refreshed by one container at a time, so Webitel
sees at most one request per ``status_cache_seconds`` whatever the web traffic. When Webitel
cannot answer, the status follows business hours alone and says ``degraded``; when it answers
without the callback queue (its report lists only queues the token's user may see), ``health``
says which right is missing.

An answer stays true until its counts expire or business hours open or close
(``schedule.next_change``): its ``cache_seconds`` (the Cache-Control max-age) never reaches past
either. Given ``answers``, the service also publishes each answer it computes, with that
validity, as a snapshot every container may serve as it is (``domain.status_answer``), no
longer than the configuration it came from is valid (``config_valid_until``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ringback.domain import schedule
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.status_answer import StatusSnapshot, seconds_left
from ringback.domain.webitel_counts import QueueAgentCounts
from ringback.observability import logger, metrics
from ringback.ports.clock import Clock
from ringback.ports.operator_config import OperatorConfigSource
from ringback.ports.rate_limits import SharedCache
from ringback.ports.status_answers import StatusAnswers

if TYPE_CHECKING:  # the Webitel wire models load only where a client is built
    from ringback.ports.webitel import WebitelClient

StatusName = Literal["online", "busy", "offline"]
# mluvii's button codes.
CODES: dict[str, int] = {"offline": 0, "online": 1, "busy": 2}


class Availability(BaseModel):
    status: StatusName
    code: Literal[0, 1, 2] = Field(description="mluvii button code: 1 online, 2 busy, 0 offline")
    open: bool = Field(description="Inside business hours now")
    reason: Literal["agents_free", "agents_busy", "no_agents", "closed", "holiday", "business_hours"]
    estimated_wait_s: int | None = Field(description="Expected wait for a 'now' call; null when unknown")
    next_opening_at: datetime | None = None
    modes: dict[str, bool] = Field(description="Which request modes make sense right now")
    degraded: bool = Field(description="Webitel did not answer: business hours alone decided")
    health: str | None = Field(
        default=None,
        description="Why Webitel could not decide (a missing right, an outage); null when it did",
    )
    checked_at: datetime
    cache_seconds: int = Field(description="Seconds this answer stays fresh (its Cache-Control max-age)")


@dataclass(frozen=True)
class _Counts:
    fetched_at: datetime
    counts: QueueAgentCounts | None  # None: Webitel did not answer
    problem: str | None = None  # why counts is None, for the operator
    settled: bool = True  # False: made up while another container asks Webitel (never shared)


UNREACHABLE = "Webitel did not answer the queue report"
# How far ahead a closed answer's end is looked for (the schedule searches as far for an opening).
_CLOSED_HORIZON = timedelta(days=400)


class AvailabilityService:
    def __init__(
        self,
        *,
        config: OperatorConfigSource,
        clock: Clock,
        webitel: Callable[[], WebitelClient],
        cache: SharedCache | None,
        answers: StatusAnswers | None = None,
        config_valid_until: Callable[[], datetime | None] | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._webitel = webitel
        self._cache = cache
        self._answers = answers
        # When the configuration ``config.load()`` last returned stops being valid (None: unknown,
        # so nothing is published).
        self._config_valid_until = config_valid_until
        self._published: StatusSnapshot | None = None
        self._local: dict[str, _Counts] = {}
        self.webitel_requests = 0

    def status(self) -> Availability:
        config = self._config.load()
        now = self._clock.now()
        cap = config.status_cache_seconds
        if not schedule.is_open(config, now):
            reason: Literal["closed", "holiday"] = "holiday" if schedule.is_holiday(config, now) else "closed"
            # Closed (or holiday) until the next opening or the day's change: never kept past it.
            far = now + _CLOSED_HORIZON
            until = schedule.next_change(config, now, far) or far
            closed = self._answer(
                "offline",
                config,
                now,
                reason=reason,
                wait=None,
                degraded=False,
                open_=False,
                fresh=seconds_left(until, now, cap),
            )
            self._publish(closed, until, cap, now)
            return closed
        entry = self._counts(config, now)
        # The answer is as fresh as the counts behind it: a browser or CDN may keep it for what
        # is left of their cache lifetime, so no visitor sees counts older than one lifetime;
        # nor past the close, when the answer turns offline.
        until = entry.fetched_at + timedelta(seconds=cap)
        change = schedule.next_change(config, now, max(now, until))
        if change is not None:
            until = change
        answer = self._from_counts(entry, config, now, fresh=seconds_left(until, now, cap))
        if entry.settled:
            self._publish(answer, until, cap, now)
        return answer

    def _publish(self, answer: Availability, fresh_until: datetime, cap: int, now: datetime) -> None:
        """Share the answer with every container, until it or its configuration expires."""
        if self._answers is None or self._config_valid_until is None:
            return
        config_until = self._config_valid_until()
        if config_until is None:
            return
        snapshot = StatusSnapshot(
            answer=answer.model_dump(mode="json"),
            fresh_until=fresh_until,
            serve_until=min(fresh_until, config_until),
            cap_s=cap,
        )
        if not now < snapshot.serve_until:
            return
        last = self._published
        if last is not None and now < last.serve_until and last.same_answer(snapshot):
            return  # already shared, and still valid
        try:
            self._answers.publish(snapshot, now=now)
        except Exception as error:
            logger.warning("status answer write failed", extra={"error_type": type(error).__name__})
            return
        self._published = snapshot

    def _from_counts(
        self, entry: _Counts, config: OperatorConfig, now: datetime, *, fresh: int
    ) -> Availability:
        counts = entry.counts
        if counts is None:
            return self._answer(
                "online",
                config,
                now,
                reason="business_hours",
                wait=None,
                degraded=True,
                health=entry.problem or UNREACHABLE,
                fresh=fresh,
            )
        if counts.free > 0:
            return self._answer(
                "online", config, now, reason="agents_free", wait=0, degraded=False, fresh=fresh
            )
        working = counts.busy + counts.online + counts.pause
        if working > 0:
            per_agent = config.callbacks.avg_handle_seconds / max(counts.busy + counts.online, 1)
            wait = int(math.ceil(per_agent / 30.0) * 30)
            return self._answer(
                "busy", config, now, reason="agents_busy", wait=wait, degraded=False, fresh=fresh
            )
        return self._answer(
            "offline", config, now, reason="no_agents", wait=None, degraded=False, fresh=fresh
        )

    def _answer(
        self,
        status: StatusName,
        config: OperatorConfig,
        now: datetime,
        *,
        reason: Any,
        wait: int | None,
        degraded: bool,
        open_: bool = True,
        health: str | None = None,
        fresh: int | None = None,
    ) -> Availability:
        opening = None if open_ else schedule.next_opening(config, now)
        return Availability(
            status=status,
            code=CODES[status],
            open=open_,
            reason=reason,
            estimated_wait_s=wait,
            next_opening_at=opening,
            modes={"now": open_ and status != "offline", "later": True, "scheduled": True},
            degraded=degraded,
            health=health,
            checked_at=now,
            cache_seconds=config.status_cache_seconds if fresh is None else fresh,
        )

    def _counts(self, config: OperatorConfig, now: datetime) -> _Counts:
        ttl = timedelta(seconds=config.status_cache_seconds)
        key = f"STATUS#{config.callback_queue_id}"
        local = self._local.get(key)
        if local is not None and now - local.fetched_at < ttl:
            return local
        if self._cache is not None:
            shared = self._read_shared(key)
            if shared is not None and now - shared.fetched_at < ttl:
                self._local[key] = shared
                return shared
            if not self._claim(key, now, config.status_cache_seconds):
                # Another container is asking Webitel right now: use what we have.
                fallback = shared or _Counts(now, None)
                self._local[key] = _Counts(now, fallback.counts, fallback.problem, settled=False)
                return self._local[key]
        counts, problem = self._fetch(config.callback_queue_id)
        fresh = _Counts(now, counts, problem)
        self._local[key] = fresh
        if self._cache is not None:
            value = {
                "ok": fresh.counts is not None,
                "counts": fresh.counts.model_dump() if fresh.counts is not None else None,
                "problem": fresh.problem,
            }
            try:
                self._cache.write(key, value, now=now, ttl_s=max(config.status_cache_seconds * 6, 60))
            except Exception as error:
                logger.warning("status cache write failed", extra={"error_type": type(error).__name__})
        return fresh

    def _read_shared(self, key: str) -> _Counts | None:
        assert self._cache is not None
        try:
            cached = self._cache.read(key)
        except Exception as error:
            logger.warning("status cache read failed", extra={"error_type": type(error).__name__})
            return None
        if cached is None:
            return None
        raw = cached.value.get("counts")
        counts = (
            QueueAgentCounts.model_validate(raw) if cached.value.get("ok") and isinstance(raw, dict) else None
        )
        problem = cached.value.get("problem")
        return _Counts(cached.fetched_at, counts, problem if isinstance(problem, str) else None)

    def _claim(self, key: str, now: datetime, lease_s: int) -> bool:
        assert self._cache is not None
        try:
            return self._cache.claim_refresh(key, now=now, lease_s=lease_s)
        except Exception as error:
            # The shared cache is down: the container cache still bounds Webitel traffic.
            logger.warning("status cache claim failed", extra={"error_type": type(error).__name__})
            return True

    def _fetch(self, queue_id: str) -> tuple[QueueAgentCounts | None, str | None]:
        self.webitel_requests += 1
        try:
            return self._webitel().queue_agent_counts(queue_id), None
        except Exception as error:
            # Loaded here, not at import: the page-view path stays lean, and by now the Webitel
            # client (which loads these models anyway) has been built.
            from ringback.domain.webitel import WebitelQueueNotVisible

            metrics.add_metric(name="StatusDegraded", unit="Count", value=1)
            if isinstance(error, WebitelQueueNotVisible):
                # Webitel answered, but hides the queue from this token: an operator must act.
                logger.warning(
                    "Webitel queue report has no row for the callback queue", extra={"queue_id": queue_id}
                )
                return None, error.health_reason
            logger.warning(
                "Webitel availability unavailable; using business hours",
                extra={"error_type": type(error).__name__},
            )
            return None, f"{UNREACHABLE} ({type(error).__name__})"

"""Dialer upload throughput: ringback's uploader vs a bare httpx loop, against the sandbox.

Both post the same member payloads in bulks of the same size to a Webitel sandbox running in
its own process (so its member store is not counted in this process's memory). The uploader
runs the real path: claims from an outbox, the exactly-once bookkeeping, the pydantic wire
models, the httpx client with its error mapping. Its outbox here streams entries from a
generator and forgets settled ones (the DynamoDB outbox's cost is DynamoDB's, measured by
the integration tests, not here): what is measured is the uploader's own overhead, and that
its memory stays flat as the list grows.

    python bench/dialer.py            # 100k members
    python bench/dialer.py --quick    # 10k members

Ends with one JSON line: throughput_ratio (uploader members/s / baseline members/s, target
>= 0.7), rss_growth_mb (peak RSS growth from 10 % to 100 % of the upload, target ~0).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "ringback"), str(ROOT)]

import httpx  # noqa: E402

from bench.benchlib import arguments, finish, peak_rss_mb, server_process, table  # noqa: E402
from ringback.adapters.webitel_http import HttpWebitelClient  # noqa: E402
from ringback.domain.operator_config import OperatorConfig  # noqa: E402
from ringback.domain.outbox import ID_TAG, OutboxEntry, OutboxState  # noqa: E402
from ringback.domain.webitel import Lookup, MemberCommunication, MemberItem, epoch_ms  # noqa: E402
from ringback.services.dialer_upload import UploadSettings, run_upload  # noqa: E402

TOKEN = "bench-token"
QUEUE = "2"
BATCH = 100
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def member(n: int) -> MemberItem:
    entry_id = f"bench-{n:08d}"
    return MemberItem(
        name=f"Debtor {n}",
        priority=n % 10,
        expire_at=epoch_ms(NOW + timedelta(days=30)),
        variables={
            ID_TAG: entry_id,
            "debt_amount": f"{n % 5000}.00",
            "debt_currency": "CZK",
            "contract": f"K-{n}",
        },
        communications=[
            MemberCommunication(
                destination=f"+42060{n % 10_000_000:07d}",
                type=Lookup(id="1"),
                priority=1,
                description="primary",
            )
        ],
    )


def entries(count: int) -> Iterator[OutboxEntry]:
    for n in range(count):
        yield OutboxEntry(
            entry_id=f"bench-{n:08d}",
            source="campaign",
            source_id=str(n),
            queue_id=QUEUE,
            member=member(n),
            due_at=NOW,
            file_name="bench.csv",
        )


class StreamingOutbox:
    """``DialerOutbox`` over a generator: holds only the claimed batch; counts the rest."""

    def __init__(self, source: Iterator[OutboxEntry], on_progress: Callable[[int], None]) -> None:
        self._source = source
        self._claimed: dict[str, OutboxEntry] = {}
        self.delivered = 0
        self._on_progress = on_progress

    def claim_due(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        batch = []
        for entry in self._source:
            claimed = entry.model_copy(
                update={
                    "state": OutboxState.CLAIMED,
                    "claim_owner": owner,
                    "claim_until": now + timedelta(seconds=lease_s),
                }
            )
            self._claimed[entry.entry_id] = claimed
            batch.append(claimed)
            if len(batch) >= limit:
                break
        return batch

    def mark_delivered(self, entry_id: str, webitel_member_id: str, *, owner: str) -> OutboxState:
        self._claimed.pop(entry_id)
        self.delivered += 1
        self._on_progress(self.delivered)
        return OutboxState.CLAIMED

    def mark_rejected(self, entry_id: str, reason: str, *, owner: str) -> None:
        raise AssertionError(f"unexpected rejection: {reason}")

    def release(
        self, entry_id: str, *, owner: str, error: str, retry_at: datetime, outcome_unknown: bool = False
    ) -> None:
        raise AssertionError(f"unexpected outage: {error}")

    def oldest_due(self, queue_id: str, now: datetime) -> datetime | None:
        return None

    def claim_stops(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        return []  # no request of the bench is closed: no member to stop

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the bench outbox does not expect {name}")


def sandbox() -> AbstractContextManager[str]:
    """The Webitel sandbox in a process of its own; yields its root URL."""
    return server_process(
        "the Webitel sandbox",
        lambda port: [
            sys.executable,
            "-m",
            "devstack.webitel_sandbox",
            "--port",
            str(port),
            "--token",
            TOKEN,
        ],
        "/_sandbox/state",
    )


def reset(root: str) -> None:
    request = urllib.request.Request(
        f"{root}/_sandbox/reset",
        data=json.dumps({"seed": True}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def member_count(root: str) -> int:
    with urllib.request.urlopen(f"{root}/_sandbox/state", timeout=30) as answer:
        return len(json.loads(answer.read())["members"])


def baseline(root: str, count: int) -> float:
    """The same payloads posted by a bare httpx loop, same batch size. Returns seconds."""
    started = time.perf_counter()
    with httpx.Client(
        base_url=f"{root}/api/", headers={"X-Webitel-Access": TOKEN}, timeout=httpx.Timeout(30.0)
    ) as client:
        batch: list[dict[str, object]] = []
        for n in range(count):
            batch.append(member(n).to_wire())
            if len(batch) == BATCH or n == count - 1:
                answer = client.post(
                    f"call_center/queues/{QUEUE}/members/bulk",
                    json={"items": batch, "file_name": "bench.csv"},
                )
                answer.raise_for_status()
                assert len(answer.json()["ids"]) == len(batch)
                batch = []
    return time.perf_counter() - started


def uploader(root: str, count: int) -> tuple[float, float, float]:
    """ringback's uploader. Returns (seconds, peak RSS at 10 %, peak RSS at the end)."""
    marks: dict[str, float] = {}

    def progress(done: int) -> None:
        if done == max(1, count // 10):
            marks["tenth"] = peak_rss_mb()

    outbox = StreamingOutbox(entries(count), progress)
    client = HttpWebitelClient(f"{root}/api", TOKEN, timeout=httpx.Timeout(30.0))

    class Clock:
        def now(self) -> datetime:
            return NOW

    started = time.perf_counter()
    receipt = run_upload(
        "campaigns",
        outbox,
        client,
        Clock(),
        OperatorConfig(debtor_queue_id=QUEUE),  # type: ignore[arg-type]
        "bench",
        settings=UploadSettings(batch_size=BATCH, max_batches=count),
    )
    elapsed = time.perf_counter() - started
    client.close()
    assert receipt.total("delivered") == count == outbox.delivered, receipt.summary()
    return elapsed, marks.get("tenth", peak_rss_mb()), peak_rss_mb()


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(__doc__ or "", members=100_000)
    count = 10_000 if args.quick else args.members
    logging.getLogger("ringback").setLevel(logging.WARNING)
    with sandbox() as root:
        # Warm both paths (imports, connections) before measuring.
        baseline(root, 200)
        uploader(root, 200)
        rounds = []
        half = count // 2
        for _ in range(2):  # interleaved, so drift of the machine affects both alike
            reset(root)
            base_s = baseline(root, half)
            reset(root)
            up_s, rss_tenth, rss_end = uploader(root, half)
            assert member_count(root) == half
            rounds.append((base_s, up_s, rss_tenth, rss_end))
    base_total = sum(r[0] for r in rounds)
    up_total = sum(r[1] for r in rounds)
    base_rate, up_rate = 2 * half / base_total, 2 * half / up_total
    growth = max(r[3] - r[2] for r in rounds)
    table(
        f"dialer upload, {2 * half} members in bulks of {BATCH}",
        ["path", "seconds", "members/s"],
        [["bare httpx loop", base_total, base_rate], ["ringback uploader", up_total, up_rate]],
    )
    print(f"  peak RSS growth from 10 % to 100 % of an upload: {growth:.1f} MB")
    finish(
        {
            "members": 2 * half,
            "baseline_members_per_s": base_rate,
            "uploader_members_per_s": up_rate,
            "throughput_ratio": up_rate / base_rate,
            "rss_growth_mb": growth,
            "target_ratio": 0.7,
        }
    )


if __name__ == "__main__":
    main()

"""`make fire SCHEDULE=...` / `ringback fire NAME`: fire one schedule of the running local stack
and say in words what it did, and when nothing was sent, why (what is pending, when the next
member is due and what holds it back: business hours, a booked time, a calling window)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.aws import aws_client
from devstack.template import load
from ringback.adapters.outbox_dynamo import due_pks
from ringback.domain import schedule as hours
from ringback.domain.operator_config import OperatorConfig

# How many outbox index items are read to describe what is pending (a description, not a count
# of a 100k campaign: past this the count is shown as "at least").
_MAX_READ = 5000

_SENT = ("delivered", "reconciled")
_WORDS = {
    "delivered": "delivered to Webitel",
    "reconciled": "found already in Webitel",
    "rejected": "rejected by Webitel",
    "expired": "expired",
    "deferred": "deferred by a Webitel outage",
    "outside_window": "outside their calling window",
    "dnc_suppressed": "suppressed by the do-not-call list",
    "duplicates_in_webitel": "found more than once in Webitel",
    "cancelled_after_send": "cancelled while being sent",
}


@dataclass(frozen=True)
class Pending:
    count: int
    more: bool
    next_due: datetime | None


def job_of(schedule_name: str) -> str | None:
    for sched in load().schedules:
        if sched.name == schedule_name and sched.input:
            job = json.loads(sched.input).get("job")
            return str(job) if job else None
    return None


def operator_config(stack_json: dict[str, Any]) -> OperatorConfig:
    ssm = aws_client("ssm", stack_json["urls"]["moto"])
    value = ssm.get_parameter(Name=stack_json["names"]["OperatorConfigParameter"])["Parameter"]["Value"]
    return OperatorConfig.model_validate_json(value)


def pending(stack_json: dict[str, Any], queue_id: str) -> Pending:
    """Pending entries of ``queue_id`` in the dialer outbox and the earliest due time (every
    shard of the queue's due index, as the dialer reads it)."""
    ddb = aws_client("dynamodb", stack_json["urls"]["moto"])
    count, read, first, more = 0, 0, None, False
    for partition in due_pks(queue_id):
        query: dict[str, Any] = {
            "TableName": stack_json["names"]["DialerOutboxTable"],
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ProjectionExpression": "#s, due_at",
            "ExpressionAttributeNames": {"#s": "state"},
        }
        while read < _MAX_READ:
            answer = ddb.query(**query)
            for item in answer.get("Items", []):
                read += 1
                if item.get("state", {}).get("S") != "pending":
                    continue
                count += 1
                due = datetime.fromisoformat(item["due_at"]["S"].replace("Z", "+00:00"))
                first = due if first is None or due < first else first
            query["ExclusiveStartKey"] = answer.get("LastEvaluatedKey")
            if not query["ExclusiveStartKey"]:
                break
        else:
            more = True
    return Pending(count, more, first)


def _when(moment: datetime, config: OperatorConfig, now: datetime) -> str:
    local, today = moment.astimezone(config.zone), now.astimezone(config.zone).date()
    day = "" if local.date() == today else f"{local:%a} {local.day} {local:%b} "
    return f"{day}{local:%H:%M} {config.timezone}"


def explain(
    schedule_name: str, result: Any, stack_json: dict[str, Any], now: datetime | None = None
) -> list[str]:
    """Lines for people: what the run did, and why nothing was sent when nothing was."""
    now = now or datetime.now(UTC)
    job = job_of(schedule_name)
    if job not in ("callbacks", "campaigns") or not isinstance(result, dict):
        return [f"{schedule_name} ran."]
    config = operator_config(stack_json)
    queue_id = config.callback_queue_id if job == "callbacks" else config.debtor_queue_id
    totals: dict[str, int] = dict(result.get("totals") or {})
    did = [f"{n} {_WORDS.get(k, k.replace('_', ' '))}" for k, n in totals.items() if n]
    lines = [f"{schedule_name} ({job} -> Webitel queue {queue_id}): " + (", ".join(did) or "nothing sent")]
    if result.get("stopped"):
        lines.append(f"  stopped early: {result['stopped']}")
    problems = int(result.get("problems") or 0)
    if problems:
        lines.append(f"  {problems} problem(s) listed in the run's receipt (run {result.get('run_id')})")
    left = pending(stack_json, queue_id)
    count = f"{'at least ' if left.more else ''}{left.count}"
    if left.count == 0:
        if not any(totals.get(k) for k in _SENT):
            lines.append(f"  nothing was due: no {job} pending for queue {queue_id}")
        return lines
    if left.next_due is None or left.next_due <= now:
        lines.append(f"  {count} still pending and due (the next run continues)")
        return lines
    when = _when(left.next_due, config, now)
    if job == "callbacks":
        why = (
            "outside business hours"
            if not hours.is_open(config, now)
            else "booked or expected for later (no earlier request is due)"
        )
    else:
        why = "outside the members' calling windows" if totals.get("outside_window") else "due later"
    lead = "nothing was due" if not any(totals.get(k) for k in _SENT) else "the rest is not due yet"
    lines.append(f"  {lead}: {count} pending, next due {when}: {why}")
    return lines

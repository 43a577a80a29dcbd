"""A webhook's event-log write that timed out is tried once more, and counts once.

The webhook path's DynamoDB client makes one attempt with a short read timeout
(``adapters.aws``). When it times out, DynamoDB may still have written the item (it answered
after the client gave up) or not; the second attempt must tell its own first write (accepted)
from an earlier delivery of the same event (a duplicate), and must not be made when it cannot
end within Webitel's budget. Against the moto server: the condition and
``ReturnValuesOnConditionCheckFailure`` are DynamoDB's behaviour, not a fake's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from devstack import aws
from ringback.adapters import aws as ringback_aws
from ringback.adapters.event_log_dynamo import DynamoEventLog
from ringback.domain.events.envelope import EventSource, LoggedEvent
from tests.support.tables import new_table

pytestmark = pytest.mark.integration


@dataclass
class LateClient:
    """A DynamoDB client whose first ``put_item`` times out: after writing (``lands``), or
    before it reaches DynamoDB. Later calls go through."""

    real: Any
    lands: bool
    error: type[Exception] = ReadTimeoutError
    calls: list[dict[str, Any]] = field(default_factory=list)

    def put_item(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if len(self.calls) == 1:
            if self.lands:
                self.real.put_item(**kwargs)
            raise self.error(endpoint_url="http://dynamodb")
        return self.real.put_item(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        return self.real.get_item(**kwargs)


@pytest.fixture
def table(moto_stack: aws.ProvisionedStack) -> tuple[Any, str]:
    client = aws.aws_client("dynamodb", moto_stack.endpoint)
    return client, new_table(client, "retry-log")


def event(event_id: str = "webitel:call-1:bridged", received_at: int = 1_796_180_000_000) -> LoggedEvent:
    return LoggedEvent(
        source=EventSource.WEBITEL,
        event_type="bridged",
        event_id=event_id,
        known=True,
        occurred_at=received_at - 50,
        received_at=received_at,
        payload={"event": "bridged", "uuid": "call-1"},
    )


@pytest.mark.parametrize("lands", [True, False])
@pytest.mark.parametrize("error", [ReadTimeoutError, ConnectTimeoutError])
def test_a_timed_out_write_is_tried_again_and_accepted_once(
    table: tuple[Any, str], lands: bool, error: type[Exception]
) -> None:
    client, name = table
    late = LateClient(client, lands=lands, error=error)
    log = DynamoEventLog(name, retention_days=1, client=late, retry_after_timeout=lambda: True)
    assert log.append(event()) is True  # accepted, whether the first attempt landed or not
    assert len(late.calls) == 2
    assert log.get(event().event_id) == event()
    # A later redelivery of the same event is a duplicate, as ever.
    assert (
        DynamoEventLog(name, retention_days=1, client=client).append(event(received_at=1_796_181_000_000))
        is False
    )


def test_a_retry_that_finds_an_earlier_delivery_is_a_duplicate(table: tuple[Any, str]) -> None:
    client, name = table
    DynamoEventLog(name, retention_days=1, client=client).append(event(received_at=1_796_179_000_000))
    late = LateClient(client, lands=False)
    log = DynamoEventLog(name, retention_days=1, client=late, retry_after_timeout=lambda: True)
    assert log.append(event()) is False
    assert len(late.calls) == 2
    assert log.get(event().event_id) == event(received_at=1_796_179_000_000)  # the first one kept


def test_no_second_attempt_when_it_would_not_fit_the_budget(table: tuple[Any, str]) -> None:
    client, name = table
    late = LateClient(client, lands=False)
    log = DynamoEventLog(name, retention_days=1, client=late, retry_after_timeout=lambda: False)
    with pytest.raises(ReadTimeoutError):
        log.append(event())
    assert len(late.calls) == 1
    assert log.get(event().event_id) is None  # nothing stored: the sender's 503 makes it resend


def test_the_budget_allows_a_second_attempt_only_while_a_whole_one_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(ringback_aws.time, "monotonic", lambda: now[0])
    ringback_aws.mark_request_start()
    read = ringback_aws.WEBHOOK_READ_TIMEOUT_S
    whole = ringback_aws.WEBHOOK_CONNECT_TIMEOUT_S + read
    assert ringback_aws.another_attempt_fits(read)
    now[0] += ringback_aws.WEBHOOK_BUDGET_S - whole  # exactly one whole attempt left
    assert ringback_aws.another_attempt_fits(read)
    now[0] += 0.001
    assert not ringback_aws.another_attempt_fits(read)
    # The production timeouts: a read timeout on the first attempt leaves room for a second.
    now[0] = 100.0 + read
    assert ringback_aws.another_attempt_fits(read)
    # Outside a marked request (another path reusing the adapter) nothing is retried.
    token = ringback_aws._request_started.set(None)
    try:
        assert not ringback_aws.another_attempt_fits(read)
    finally:
        ringback_aws._request_started.reset(token)

"""`ringback rebuild-projections`: rebuild every projection from the event log of the running
local stack, and the console's request rows from the stored requests (on AWS:
`python -m ringback.adapters.events_factory rebuild`, see docs/events.md)."""

from __future__ import annotations

import json
import sys
from typing import Any
from zoneinfo import ZoneInfo

from devstack.aws import aws_client
from ringback.adapters.event_log_dynamo import DynamoEventLog
from ringback.adapters.projections_dynamo import DynamoCallbackStatus, DynamoProjections, request_items
from ringback.config import Settings
from ringback.services.projector import Projector, rebuild


def run(stack_json: dict[str, Any], *, clean: bool = True) -> int:
    """Rebuild from the stack described by ``stack_json`` (the state file); prints a summary."""
    endpoint = stack_json["urls"]["moto"]
    names = stack_json["names"]
    client = aws_client("dynamodb", endpoint)
    defaults = Settings()
    projections = DynamoProjections(names["ProjectionsTable"], client=client)
    projector = Projector(
        projections,
        DynamoCallbackStatus(names["CallbacksTable"], client=client),
        zone=ZoneInfo(defaults.report_timezone),
        default_region=defaults.default_region,
    )
    log = DynamoEventLog(
        names["EventLogTable"],
        retention_days=defaults.event_retention_days,
        client=client,
    )
    summary = rebuild(
        log.scan(),
        projector,
        projections,
        clean=clean,
        requests=request_items(client, names["CallbacksTable"]),
    )
    print(json.dumps({"rebuilt": summary}), file=sys.stdout, flush=True)
    return 0

"""`ringback redrive ENTRY_ID...`: put rejected dialer members back in line after their cause was
fixed (on AWS: invoke DialerFunction with {"action": "redrive", "entry_ids": [...]}).

Without ids that exist, lists the rejected members with their reasons. The next upload run
(`make fire SCHEDULE=CampaignsSchedule` or the callbacks schedule) sends them again.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any


def _invoke(stack_json: dict[str, Any], payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{stack_json['urls']['api']}/_local/invoke/DialerFunction",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as answer:
        return json.loads(answer.read() or b"null")


def run(entry_ids: list[str], stack_json: dict[str, Any]) -> int:
    try:
        if not entry_ids or entry_ids == ["list"]:
            print(json.dumps(_invoke(stack_json, {"action": "rejected", "limit": 200}), indent=2))
            return 0
        answer = _invoke(stack_json, {"action": "redrive", "entry_ids": entry_ids})
    except urllib.error.HTTPError as error:
        print(f"re-drive failed: {error.code} {error.read().decode()}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    results = answer.get("results", {})
    return 0 if results and all(value == "re-driven" for value in results.values()) else 1

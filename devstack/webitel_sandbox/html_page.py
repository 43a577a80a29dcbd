"""The read-only page at ``/``: what ringback pushed, refreshed every few seconds.

Self-contained (no scripts or third-party assets). Destinations are masked: the page is meant
to be shown on screens and in screenshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

REFRESH_SECONDS = 3

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } code { font-size: 12px; } .muted { color: #888; }
.faults { background: #fff4e5; padding: .4rem .6rem; border-radius: 4px; }
"""


def mask_destination(destination: str) -> str:
    """Keep the last three characters: enough to tell test numbers apart."""
    if len(destination) <= 3:
        return "•" * len(destination)
    return "•" * (len(destination) - 3) + destination[-3:]


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """``rows`` cells are already-escaped HTML."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _variables(variables: dict[str, str]) -> str:
    return "<br>".join(f"<code>{escape(key)}={escape(value)}</code>" for key, value in variables.items())


def _destinations(member: dict[str, Any]) -> str:
    return "<br>".join(
        escape(f"{mask_destination(c['destination'])} (type {c['type']['id']})")
        for c in member["communications"]
    )


def render(state: dict[str, Any], faults: dict[str, Any]) -> str:
    """The whole page for a ``Store.dump()`` and a ``Faults.snapshot()``."""
    queues = _table(
        ["id", "name", "type", "members", "waiting"],
        (
            [escape(q["id"]), escape(q["name"]), str(q["type"]), str(q["count"]), str(q["waiting"])]
            for q in state["queues"]
        ),
    )
    agents = _table(
        ["id", "name", "extension", "status", "queues", "on call"],
        (
            [
                escape(a["id"]),
                escape(a["name"]),
                escape(a["extension"]),
                escape(a["status"]),
                escape(", ".join(a["queue_ids"])),
                "yes" if a["active_call_id"] else "",
            ]
            for a in state["agents"]
        ),
    )
    members = _table(
        ["id", "queue", "name", "priority", "destinations", "variables", "stop cause", "import"],
        (
            [
                escape(m["id"]),
                escape(m["queue"]["id"]),
                escape(m["name"]),
                str(m["priority"]),
                _destinations(m),
                _variables(m["variables"]),
                escape(m["stop_cause"]),
                escape(m["import_id"] or ""),
            ]
            for m in reversed(state["members"])
        ),
    )
    calls = _table(
        ["id", "from (user / ext)", "destination", "variables", "ended"],
        (
            [
                f"<code>{escape(c['id'])}</code>",
                escape(f"{c['from']['id']} / {c['from']['extension']}"),
                escape(mask_destination(c["destination"])),
                _variables(c["params"].get("variables") or {}),
                "yes" if c["ended_at"] else "",
            ]
            for c in reversed(state["calls"])
        ),
    )
    active_faults = {
        name: value for name, value in faults.items() if value and name not in ("fail_status", "hang_ms")
    }
    fault_line = escape(", ".join(f"{k}={v}" for k, v in active_faults.items())) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>Webitel sandbox</title><style>{_STYLE}</style></head>
<body>
<h1>Webitel sandbox</h1>
<p class="faults">Active faults: {fault_line}</p>
<h2>Queues</h2>{queues}
<h2>Agents</h2>{agents}
<h2>Members (newest first)</h2>{members}
<h2>Calls (newest first)</h2>{calls}
<p class="muted">Read-only; refreshes every {REFRESH_SECONDS} s.
Full state: <a href="/_sandbox/state">/_sandbox/state</a></p>
</body></html>
"""

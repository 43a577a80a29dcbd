"""Server-drawn SVG bar charts for the console (no chart library, no build step).

Each chart is a self-contained ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that
states the numbers in words, so a screen reader gets what the bars show; the page also shows
the same numbers as a table. Every text is escaped; colours come from CSS classes
(``s0``..``s3``) so the page's stylesheet decides them (and high-contrast modes can).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any, Final

WIDTH: Final = 720
HEIGHT: Final = 220
PAD_LEFT: Final = 40
PAD_BOTTOM: Final = 28
PAD_TOP: Final = 24


def _nice_max(value: int) -> int:
    """The y axis' top: four equal whole-number steps of 1, 2 or 5 times a power of ten."""
    unit = max(1, -(-value // 4))
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= unit:
                return 4 * step * power
        power *= 10


def grouped_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    label_every: int = 1,
) -> str:
    """Bars of each series side by side per label, with a legend and a y axis from 0."""
    if not labels or not series:
        raise ValueError("a chart needs labels and at least one series")
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
    top = _nice_max(max((max(values, default=0) for _, values in series), default=0))
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    group_w = plot_w / len(labels)
    bar_w = max(1.0, (group_w * 0.8) / len(series))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-label="{escape(title, quote=True)}">'
    ]
    desc = "; ".join(
        f"{name}: "
        + ", ".join(f"{label} {value}" for label, value in zip(labels, values, strict=True) if value)
        or f"{name}: none"
        for name, values in series
    )
    parts.append(f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>")
    for tick in range(0, 5):
        value = top * tick // 4
        y = PAD_TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    for index, label in enumerate(labels):
        x0 = PAD_LEFT + index * group_w + group_w * 0.1
        for number, (name, values) in enumerate(series):
            value = values[index]
            height = plot_h * value / top if top else 0
            x = x0 + number * bar_w
            y = PAD_TOP + plot_h - height
            parts.append(
                f'<rect class="s{number % 4}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}"><title>{escape(f"{label}, {name}: {value}")}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x0 + group_w * 0.4:.1f}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    legend_x = PAD_LEFT
    for number, (name, _) in enumerate(series):
        parts.append(
            f'<rect class="s{number % 4}" x="{legend_x}" y="6" width="10" height="10"/>'
            f'<text class="legend" x="{legend_x + 14}" y="15">{escape(name)}</text>'
        )
        legend_x += 24 + 8 * len(name)
    parts.append("</svg>")
    return "".join(parts)


# The agent statuses the timeline colours (CSS classes ``a-<status>``); any other is ``a-other``.
AGENT_STATUS_CLASSES: Final = ("online", "ready", "waiting", "busy", "pause", "not_ready", "offline")
_ROW_H: Final = 18
_NAME_W: Final = 140


def agent_timeline(title: str, lines: Sequence[Mapping[str, Any]], start: datetime, now: datetime) -> str:
    """One row per agent from ``start`` (the operator's midnight) to ``now``, a bar per status
    segment (``{"status", "from", "to"}`` in epoch ms), hour ticks, and a ``<desc>`` stating each
    agent's segments in words (the page shows the same as a table)."""
    start_ms, now_ms = int(start.timestamp() * 1000), int(now.timestamp() * 1000)
    span = max(1, now_ms - start_ms)
    height = PAD_TOP + _ROW_H * max(1, len(lines)) + PAD_BOTTOM
    plot_w = WIDTH - _NAME_W - 8

    def x_of(ms: int) -> float:
        return _NAME_W + plot_w * (min(max(ms, start_ms), now_ms) - start_ms) / span

    minutes: dict[int, str] = {}

    def clock(ms: int) -> str:  # by the minute, memoised (a busy day has thousands of segments)
        minute = ms // 60_000
        if minute not in minutes:
            minutes[minute] = datetime.fromtimestamp(minute * 60, start.tzinfo).strftime("%H:%M")
        return minutes[minute]

    described = []
    for line in lines:
        name = str(line.get("name") or line.get("agent_id"))
        parts_text = ", ".join(
            f"{s['status']} {clock(int(s['from']))}-{clock(int(s['to']))}" for s in line["segments"]
        )
        described.append(f"{name}: {parts_text or 'no status change'}")
    desc = "; ".join(described) or "no agent status change today"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'class="chart timeline" aria-label="{escape(title, quote=True)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]
    hours = max(1, span // 3_600_000)
    every = 1 if hours <= 8 else 2 if hours <= 16 else 3
    tick = start_ms
    index = 0
    while tick <= now_ms:
        if index % every == 0:
            x = x_of(tick)
            parts.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP - 4}" y2="{height - PAD_BOTTOM}"/>'
                f'<text class="axis" x="{x:.1f}" y="{height - 10}" text-anchor="middle">{clock(tick)}</text>'
            )
        tick += 3_600_000
        index += 1
    for row, line in enumerate(lines):
        y = PAD_TOP + row * _ROW_H
        name = str(line.get("name") or line.get("agent_id"))
        parts.append(f'<text class="legend" x="4" y="{y + 13}">{escape(name[:20])}</text>')
        for segment in line["segments"]:
            status = str(segment["status"])
            css = status if status in AGENT_STATUS_CLASSES else "other"
            x0, x1 = x_of(int(segment["from"])), x_of(int(segment["to"]))
            label = f"{name}: {status} {clock(int(segment['from']))}-{clock(int(segment['to']))}"
            parts.append(
                f'<rect class="a-{css}" x="{x0:.1f}" y="{y + 2}" width="{max(1.0, x1 - x0):.1f}" '
                f'height="{_ROW_H - 4}"><title>{escape(label)}</title></rect>'
            )
    legend_x = _NAME_W
    present = sorted({str(seg["status"]) for line in lines for seg in line["segments"]})
    for status in present:  # the colours' meaning (the statuses are also in each bar's title)
        css = status if status in AGENT_STATUS_CLASSES else "other"
        parts.append(
            f'<rect class="a-{css}" x="{legend_x}" y="6" width="10" height="10"/>'
            f'<text class="legend" x="{legend_x + 14}" y="15">{escape(status)}</text>'
        )
        legend_x += 24 + 7 * len(status)
    parts.append("</svg>")
    return "".join(parts)

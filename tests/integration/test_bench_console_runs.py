"""``bench/console.py`` still runs against the console it measures.

The benchmark seeds the console's items as the adapters write them, from the projector's own
code through the in-memory fakes; when an item's stored form changed (the board's open requests
became row items) and the seeding was not told, the endpoint answered 500 and nothing else
noticed until someone measured. A small run, end to end; the figures are the benchmark's, not
asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devstack.template import ROOT

pytestmark = pytest.mark.integration


def test_the_console_benchmark_reads_the_seeded_board_and_day() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "console.py"),
            "--requests",
            "200",
            "--events",
            "1000",
            "--reads",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["requests"] == 200
    assert figures["open"] > 0
    # The board shows every open request it was seeded with (all fit on the page here).
    assert figures["board_total"] == figures["open"]
    assert figures["today_requests_seen"] == figures["today"]
    assert figures["p50_ms"] > 0 and figures["bare_query_p50_ms"] > 0

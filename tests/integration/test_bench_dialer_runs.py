"""``bench/dialer.py`` still runs against the ringback code it measures.

A benchmark's fakes implement ringback's ports by hand; when a port grows (the uploader began
to claim stop orders), a fake that was not told breaks the benchmark, and nothing else would
notice until someone measured. A few hundred members through the real uploader and the Webitel
sandbox, end to end; the figures themselves are the benchmark's, not asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devstack.template import ROOT

pytestmark = pytest.mark.integration


def test_the_dialer_benchmark_uploads_every_member() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dialer.py"), "--members", "300"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["members"] == 300
    assert figures["uploader_members_per_s"] > 0 and figures["baseline_members_per_s"] > 0

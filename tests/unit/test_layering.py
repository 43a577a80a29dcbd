"""The layering rule (only adapters and config touch boto3, httpx or the environment) is
enforced by ruff; prove the rule fires where it must and stays quiet where it may not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.template import ROOT

pytestmark = pytest.mark.unit

OFFENDING = "import os\n\nimport boto3\nimport httpx\n\nTABLE = os.environ['X']\nCLIENT = boto3.client('s3')\nhttpx.get('x')\n"


def _ruff() -> str:
    candidate = Path(sys.executable).with_name("ruff")
    found = str(candidate) if candidate.exists() else shutil.which("ruff")
    if not found:
        pytest.skip("ruff is not installed in this environment")
    return found


@pytest.mark.parametrize(
    ("folder", "must_fail"),
    [
        ("layers/ringback/ringback/services", True),
        ("layers/ringback/ringback/domain", True),
        ("functions/routing", True),
        ("layers/ringback/ringback/adapters", False),
    ],
)
def test_boto3_httpx_and_environment_only_in_adapters(folder: str, must_fail: bool) -> None:
    target = ROOT / folder / "_layering_probe.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(OFFENDING)
    try:
        result = subprocess.run(
            [_ruff(), "check", "--select", "TID251", "--no-cache", str(target)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    finally:
        target.unlink()
    if must_fail:
        assert result.returncode == 1, result.stdout
        for banned in ("boto3", "httpx", "os.environ"):
            assert banned in result.stdout
    else:
        assert result.returncode == 0, result.stdout

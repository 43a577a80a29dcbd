"""The shared layer ships no boto3/botocore: the Lambda runtime provides them, and a layer copy
would add tens of MB (aws-xray-sdk, Powertools' ``tracer`` extra, pulls botocore in)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

LAYER_REQUIREMENTS = Path(__file__).resolve().parents[2] / "layers" / "ringback" / "requirements.txt"
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _layer_requirements() -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in LAYER_REQUIREMENTS.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def _closure(roots: list[Requirement], *, missing_ok: bool = False) -> dict[str, str]:
    """Every distribution the layer installs (name -> who pulled it in), from installed metadata."""
    seen: dict[str, str] = {}
    todo = [(req, "layers/ringback/requirements.txt") for req in roots]
    while todo:
        req, parent = todo.pop()
        name = _name(req.name)
        if name in seen:
            continue
        seen[name] = parent
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            if missing_ok:
                continue
            raise
        for text in requires:
            dep = Requirement(text)
            wanted = list(req.extras) or [""]
            if dep.marker is not None and not any(
                dep.marker.evaluate({"extra": extra, "python_version": "3.13"}) for extra in wanted
            ):
                continue
            todo.append((dep, req.name))
    return seen


def test_every_layer_requirement_is_pinned_exactly() -> None:
    for req in _layer_requirements():
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", str(req)


def test_the_layer_pulls_in_no_boto3_or_botocore() -> None:
    closure = _closure(_layer_requirements())
    assert "pydantic-core" in closure  # the walk follows dependencies of dependencies
    shipped = {name: parent for name, parent in closure.items() if name in RUNTIME_PROVIDED}
    assert shipped == {}, f"the layer would ship what the runtime provides: {shipped}"


def test_the_walk_follows_extras() -> None:
    # What the check above guards against: Powertools' tracer extra brings aws-xray-sdk (which
    # requires botocore); the walk must see extras to catch it.
    assert "aws-xray-sdk" not in _closure([Requirement("aws-lambda-powertools")], missing_ok=True)
    assert "aws-xray-sdk" in _closure([Requirement("aws-lambda-powertools[tracer]")], missing_ok=True)

"""docs/routing.md stays true to the code: every answer field documented, and the Webitel flow
snippet is valid JSON whose exportVariables read real answer fields and whose branches compare
Webitel's string values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ringback.domain.customers import COLUMNS
from ringback.domain.routing import ANSWER_FIELDS, AnswerSource, NotFoundReason

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text(encoding="utf-8")


def json_blocks() -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, flags=re.S)]


def test_every_answer_field_reason_and_source_is_documented() -> None:
    table_fields = re.findall(r"^\| `(\w+)` \|", DOC, flags=re.M)
    for name in ANSWER_FIELDS:
        assert name in table_fields, name
    for value in [*NotFoundReason, *AnswerSource]:
        assert f"`{value.value}`" in DOC


def test_every_csv_column_is_documented() -> None:
    for column in COLUMNS:
        assert f"| `{column}` |" in DOC, column


def test_example_answer_has_exactly_the_answer_fields() -> None:
    example = next(b for b in json_blocks() if isinstance(b, dict))
    assert tuple(example) == ANSWER_FIELDS


def test_flow_schema_snippet() -> None:
    flow = next(b for b in json_blocks() if isinstance(b, list))
    request = flow[0]["httpRequest"]
    assert request["url"].endswith("/v1/routing")
    assert request["headers"]["Authorization"].startswith("Bearer ")
    assert request["data"] == {"cid": "${caller_id_number}"}
    assert request["timeout"] <= 1000
    exported = request["exportVariables"]
    assert exported["found"] == "found" and exported["debt"] == "debt"
    # gjson paths into the flat answer: each one a field of it.
    assert set(exported.values()) <= set(ANSWER_FIELDS)
    condition = flow[1]["if"]
    assert '${found} == "true"' in condition["expression"]
    assert '${debt} == "true"' in condition["expression"]
    assert condition["then"] and condition["else"]

from __future__ import annotations

import io
import json
import logging

import pytest
from aws_lambda_powertools import Logger

from ringback.observability import RedactingFormatter, mask_text, redact

pytestmark = pytest.mark.unit


def test_phone_numbers_in_free_text_are_masked() -> None:
    text = mask_text("caller +420 777 666 555 asked, also 00420777666555 and 777666555")
    assert "777 666 555" not in text
    assert "777666555" not in text
    assert text.count("***55") == 3


def test_short_numbers_and_emails() -> None:
    assert mask_text("attempt 12345 of queue 7") == "attempt 12345 of queue 7"
    assert mask_text("write to jan.novak@example.com") == "write to ***@***"


def test_secret_named_keys_are_blanked_recursively() -> None:
    cleaned = redact(
        {
            "headers": {"authorization": "Bearer abc"},
            "token": "t",
            "nested": [{"api_key": "k"}],
            "cid": "+420777666555",
        }
    )
    assert cleaned["headers"]["authorization"] == "***"
    assert cleaned["token"] == "***"
    assert cleaned["nested"][0]["api_key"] == "***"
    assert cleaned["cid"] == "***55"


def test_the_logger_never_writes_a_raw_number_or_token() -> None:
    stream = io.StringIO()
    log = Logger(
        service="test-redaction",
        logger_formatter=RedactingFormatter(),
        logger_handler=logging.StreamHandler(stream),
    )
    log.info(
        "lookup for +420777666555", extra={"authorization": "Bearer s3cr3t-token", "cid": "420777666555"}
    )
    line = stream.getvalue()
    record = json.loads(line)
    assert "777666555" not in line
    assert "s3cr3t" not in line
    assert record["authorization"] == "***"
    assert record["level"] == "INFO"


def test_url_encoded_and_glued_numbers_and_url_tokens_are_masked() -> None:
    text = mask_text("GET /v1/routing?cid=%2B420602123456 x_420602123456 /v1/callbacks/1?token=abc.DEF-1&x=2")
    assert "602123456" not in text
    assert "abc.DEF-1" not in text
    assert "token=***" in text
    assert "&x=2" in text


def test_iso_dates_stay_readable() -> None:
    assert mask_text("slot 2026-11-23 booked") == "slot 2026-11-23 booked"
    assert "666555" not in mask_text("call 777-666-555 on 2026-11-23")

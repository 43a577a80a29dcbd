"""The one Logger, Metrics and Tracer of ringback.

Logs never carry a raw phone number or a secret: every record goes through
:class:`RedactingFormatter`, which masks phone-like digit runs and blanks secret-named keys,
whatever the caller passed. The tracer is created on first use because the X-Ray SDK costs
cold-start time the routing path cannot spare.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import PowertoolsLogRecord

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "ringback"

# Seven or more digits, optionally with a leading + or 00 and spaces/dashes/dots/parentheses
# between them: long enough to be a phone number, short runs (ids, counts) stay readable.
# ISO dates (2026-11-23) are not numbers to hide.
_PHONE_LIKE = re.compile(r"(?<![A-Za-z0-9])(?!\d{4}-\d{2}-\d{2})(?:\+|%2[Bb])?(?:[\s\-.()]*\d){7,}")
# ``token=...`` / ``signature=...`` inside a URL or free text, whatever key holds the string.
_SECRET_PARAM = re.compile(r"((?:token|signature|secret|password|api[_-]?key)=)[^&\s\"']+", re.I)
_SECRET_KEYS = re.compile(r"(authorization|token|secret|password|api[_-]?key|signature|cookie)", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def mask_text(text: str) -> str:
    """Mask phone-like runs (keep the last two digits) and e-mail addresses in free text."""

    def _mask_phone(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return f"***{digits[-2:]}"

    masked = _SECRET_PARAM.sub(r"\1***", text)
    return _EMAIL.sub("***@***", _PHONE_LIKE.sub(_mask_phone, masked))


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets blanked and phone numbers masked, recursively."""
    if key and _SECRET_KEYS.search(key):
        return "***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with :func:`redact` applied to every record."""

    # Keys Powertools and Lambda add that are safe and must stay intact.
    _KEEP = frozenset(
        {
            "timestamp",
            "level",
            "location",
            "service",
            "function_arn",
            "function_request_id",
            "xray_trace_id",
            "cold_start",
            "function_name",
            "function_memory_size",
            "sampling_rate",
        }
    )

    def serialize(self, log: dict[str, Any] | PowertoolsLogRecord) -> str:
        record = dict(log)
        cleaned = {k: (v if k in self._KEEP else redact(v, k)) for k, v in record.items()}
        return super().serialize(cleaned)


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(service=SERVICE)


def flush_metrics_safely(route: str) -> None:
    """Like ``metrics.log_metrics``, except that a metrics problem never fails the answer: for
    the call path's handlers, whose caller must get an answer whatever happens."""
    try:
        if metrics.metric_set:
            metrics.flush_metrics()
    except Exception as error:
        metrics.clear_metrics()
        logger.warning(f"{route}: metrics not flushed", extra={"error_type": type(error).__name__})


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """The shared tracer, created on first use (importing the X-Ray SDK is slow).

    The layer does not ship the X-Ray SDK (aws-xray-sdk pulls botocore into the layer, which the
    runtime already has): Lambda's own traces (``Tracing: Active``) cover each invocation; a
    function that wants subsegments adds ``aws-xray-sdk`` to its own requirements first."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)

"""Holding a function's lean entry to its resolver: both get the same events, their answers and
what they asked of the use case must be equal (``tests/unit/test_*_entry.py``)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack.lambda_context import LambdaContext


def outcome(handler: Callable[[Any, Any], Any], event: Any, context: Any) -> Any:
    """The handler's answer to a copy of ``event``, or the error it raised (an event of no HTTP
    shape makes the resolver raise; the lean entry must raise the same)."""
    try:
        return handler(json.loads(json.dumps(event)), context)
    except Exception as error:
        return {"raised": type(error).__name__, "message": str(error)}


def fresh_function(
    monkeypatch: pytest.MonkeyPatch, code: Path, siblings: tuple[str, ...], **env: str
) -> None:
    """A new container of the function in ``code``: no ``RINGBACK_*`` variable but ``env``, its
    folder on the import path, its modules (``siblings``) and the lean settings forgotten."""
    for key in [k for k in os.environ if k.startswith("RINGBACK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(code))
    forget(siblings)


def forget(siblings: tuple[str, ...]) -> None:
    """The function's modules and the lean settings forgotten (the next import is a new one)."""
    from ringback.adapters import lean_settings

    for name in siblings:
        sys.modules.pop(name, None)
    lean_settings.get_lean_settings.cache_clear()


def count_resolves(monkeypatch: pytest.MonkeyPatch, resolver_module: ModuleType) -> list[int]:
    """A list that grows by one each time the module's resolver answers an event."""
    resolved: list[int] = []
    resolve = resolver_module.app.resolve

    def counting(event: Any, context: Any) -> Any:
        resolved.append(1)
        return resolve(event, context)

    monkeypatch.setattr(resolver_module.app, "resolve", counting)
    return resolved


def both(
    lean: ModuleType, full: ModuleType, calls: list[Any], resolved: list[int], event: Any
) -> tuple[Any, Any, bool]:
    """(lean answer and the calls it made, resolver answer and its calls, whether the lean
    entry handed the event to the resolver)."""
    context = LambdaContext("ringback-test-function")
    calls.clear()
    resolved.clear()
    lean_answer = outcome(lean.lambda_handler, event, context)
    lean_calls = list(calls)
    handed_on = bool(resolved)
    calls.clear()
    resolved.clear()
    full_answer = outcome(full.lambda_handler, event, context)
    return (lean_answer, lean_calls), (full_answer, list(calls)), handed_on

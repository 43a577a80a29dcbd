from __future__ import annotations

import pytest

from ringback.domain.tokens import bearer_token, token_matches, tokens_from_secret

pytestmark = pytest.mark.unit


def test_any_of_several_rotating_tokens_is_accepted() -> None:
    valid = tokens_from_secret('{"current": "new-token", "previous": "old-token", "note": 3}')
    assert sorted(valid) == ["new-token", "old-token"]
    assert token_matches("old-token", valid)
    assert token_matches("new-token", valid)
    assert not token_matches("other", valid)
    assert not token_matches("", valid)
    assert not token_matches(None, valid)
    assert not token_matches("x", [""])


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
        ("", None),
    ],
)
def test_bearer_header_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_plain_and_list_secret_values() -> None:
    assert tokens_from_secret("plain-token") == ["plain-token"]
    assert tokens_from_secret('["a", "", "b"]') == ["a", "b"]
    assert tokens_from_secret("   ") == []

"""Function settings: required variables, and when a handler warms up during Lambda's init."""
from __future__ import annotations

import pytest

from common.settings import SettingsError, eager_init, require, warm_up_during_init


def test_require_names_the_missing_variable():
    assert require("X", {"X": " v "}) == "v"
    with pytest.raises(SettingsError, match="environment variable Y is required"):
        require("Y", {"Y": "  "})


@pytest.mark.parametrize(
    ("env", "eager"),
    [
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, True),  # the default inside Lambda
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "INIT_MODE": "eager"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "INIT_MODE": " Lazy "}, False),
        ({}, False),  # tests and tools import handlers without building clients
        ({"INIT_MODE": "eager"}, False),
    ],
)
def test_eager_init_only_inside_lambda_unless_lazy(env, eager):
    assert eager_init(env) is eager


class _Logger:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def exception(self, message: str) -> None:
        self.errors.append(message)


def test_warm_up_failures_are_logged_for_the_first_request_to_retry(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.delenv("INIT_MODE", raising=False)
    logger, calls = _Logger(), []

    def broken() -> None:
        calls.append(1)
        raise SettingsError("environment variable STATE_TABLE is required")

    warm_up_during_init(broken, logger)
    assert calls == [1] and logger.errors == ["warm-up during init failed; the first request will retry it"]
    monkeypatch.setenv("INIT_MODE", "lazy")
    warm_up_during_init(broken, logger)
    assert calls == [1]  # lazy: not called at all

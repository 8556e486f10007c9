"""The scaling settings of docs/SCALING.md: read from the environment, validated, wired into the stack."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from stack_helpers import Stack

from lib.config import ConfigError, StackConfig

SCALED_ENV = {
    "STREAM_BATCH_SIZE": "2000",
    "STREAM_BATCHING_WINDOW_S": "2",
    "STREAM_PARALLELIZATION_FACTOR": "4",
    "RESERVED_CONCURRENCY": "200",
    "API_RATE_LIMIT_RPS": "5000",
    "API_BURST_LIMIT": "5000",
}


def test_scaling_settings_come_from_the_environment() -> None:
    config = StackConfig.from_env(SCALED_ENV)
    assert (config.stream_batch_size, config.stream_batching_window_s, config.stream_parallelization_factor) == (2000, 2, 4)
    assert (config.reserved_concurrency, config.api_rate_limit_rps, config.api_burst_limit) == (200, 5000, 5000)


def test_unset_scaling_settings_keep_the_spec_defaults() -> None:
    config = StackConfig.from_env({})
    assert (config.stream_batching_window_s, config.api_rate_limit_rps, config.api_burst_limit) == (1, 1000, 2000)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAM_BATCHING_WINDOW_S": "301"}, "STREAM_BATCHING_WINDOW_S"),
        ({"STREAM_BATCHING_WINDOW_S": "soon"}, "STREAM_BATCHING_WINDOW_S"),
        ({"API_RATE_LIMIT_RPS": "0"}, "API_RATE_LIMIT_RPS"),
        ({"API_RATE_LIMIT_RPS": "100001"}, "API_RATE_LIMIT_RPS"),
        ({"API_BURST_LIMIT": "-5"}, "API_BURST_LIMIT"),
        ({"STREAM_PARALLELIZATION_FACTOR": "8", "RESERVED_CONCURRENCY": "4"}, "RESERVED_CONCURRENCY"),
    ],
)
def test_bad_scaling_settings_are_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StackConfig.from_env(env)


def test_unreserved_or_disabled_functions_need_no_concurrency_for_the_shards() -> None:
    for reserved in (-1, 0):
        assert dataclasses.replace(StackConfig(), stream_parallelization_factor=10, reserved_concurrency=reserved)


def _stream_mapping(stack: Stack) -> dict[str, Any]:
    (mapping,) = [m for m in stack.of_type("aws_lambda_event_source_mapping").values() if m.get("starting_position")]
    return mapping


def test_scaled_stack_carries_the_stream_settings(alt_stack: Stack, alt_config: StackConfig) -> None:
    mapping = _stream_mapping(alt_stack)
    assert mapping["batch_size"] == alt_config.stream_batch_size == 2000
    assert mapping["maximum_batching_window_in_seconds"] == alt_config.stream_batching_window_s == 2
    assert mapping["parallelization_factor"] == alt_config.stream_parallelization_factor == 4


def test_scaled_stack_carries_the_api_throttle(alt_stack: Stack) -> None:
    (plan,) = alt_stack.of_type("aws_api_gateway_usage_plan").values()
    assert plan["throttle_settings"] == {"rate_limit": 5000, "burst_limit": 5000}
    (settings,) = alt_stack.of_type("aws_api_gateway_method_settings").values()
    assert (settings["settings"]["throttling_rate_limit"], settings["settings"]["throttling_burst_limit"]) == (5000, 5000)

"""Fixtures for the stack tests; `synth_json` itself comes from tests/unit/conftest.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stack_helpers import Stack

from lib.config import StackConfig


@pytest.fixture(scope="session")
def stack(synth_json: dict[str, Any]) -> Stack:
    return Stack(synth_json)


@pytest.fixture(scope="session")
def alt_config() -> StackConfig:
    """A second environment exercising the optional settings."""
    return StackConfig(
        environment_suffix="alt",
        region="eu-west-1",
        state_bucket="example-tf-state",
        alert_email="fraud-team@example.com",
        reserved_concurrency=-1,
        # The scaling knobs of docs/SCALING.md, so their wiring is asserted on a synthesized stack.
        stream_batch_size=2000,
        stream_batching_window_s=2,
        stream_parallelization_factor=4,
        api_rate_limit_rps=5000,
        api_burst_limit=5000,
    )


@pytest.fixture(scope="session")
def alt_stack(
    synth_json: dict[str, Any], alt_config: StackConfig, tmp_path_factory: pytest.TempPathFactory
) -> Stack:
    # Depends on synth_json so the expensive first synth is shared; this one reuses the runtime.
    from tap import synth

    path: Path = synth(alt_config, tmp_path_factory.mktemp("cdktf-alt"))
    return Stack(json.loads(path.read_text()))

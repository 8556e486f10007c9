"""Session fixtures for the unit tests: the stack is synthesized once per test session.

`synth_json` is the parsed cdk.tf.json of `StackConfig(environment_suffix="unittest")`; the stack
tests assert on it and the handler tests read the table key schemas from it. Importing the
provider bindings takes ~15 s, so nothing here imports cdktf until a test asks for the stack.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

UNIT_TEST_SUFFIX = "unittest"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the synthesized stack (cdk.tf.json plus its assets/)."""
    from lib.config import StackConfig
    from tap import synth

    outdir = tmp_path_factory.mktemp("cdktf.out")
    return synth(StackConfig(environment_suffix=UNIT_TEST_SUFFIX), outdir).parent


@pytest.fixture(scope="session")
def synth_json(synth_dir: Path) -> dict[str, Any]:
    return json.loads((synth_dir / "cdk.tf.json").read_text())

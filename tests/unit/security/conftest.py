"""The handler tests' moto fixtures (tests/unit/lambda/conftest.py), shared with the security tests.

Loaded by path under its own module name and re-exported, so both directories use one
definition of the mocked AWS account (tables from the synthesized stack, queues, topic, key).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "lambda" / "conftest.py"
_SPEC = importlib.util.spec_from_file_location("_lambda_fixtures", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
_lambda_fixtures = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = _lambda_fixtures  # dataclasses look their module up while it loads
_SPEC.loader.exec_module(_lambda_fixtures)

Aws = _lambda_fixtures.Aws
FakeContext = _lambda_fixtures.FakeContext
stream_record = _lambda_fixtures.stream_record
table_specs = _lambda_fixtures.table_specs
aws = _lambda_fixtures.aws
context = _lambda_fixtures.context
api_event = _lambda_fixtures.api_event
sqs_event = _lambda_fixtures.sqs_event
make_stream_record = _lambda_fixtures.make_stream_record
log_buffer = _lambda_fixtures.log_buffer
output = _lambda_fixtures.output
submit = _lambda_fixtures.submit
scripted = _lambda_fixtures.scripted

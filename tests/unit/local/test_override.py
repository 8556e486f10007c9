"""The override files: every service local, test credentials, a local backend, an API key value."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lib.local.override import (
    API_KEY_FILE,
    ENDPOINT_SERVICES,
    PROVIDER_FILE,
    api_key_override,
    api_keys,
    provider_override,
    service_of,
    uncovered_types,
    write_overrides,
)

ENDPOINT = "http://127.0.0.1:45999"


def _stack(**extra: Any) -> dict[str, Any]:
    stack: dict[str, Any] = {
        "provider": {"aws": [{"region": "us-east-1", "default_tags": [{"tags": {"a": "b"}}]}]},
        "terraform": {"backend": {"s3": {"bucket": "real-state", "key": "k"}}},
        "resource": {
            "aws_sqs_queue": {"q": {"name": "x"}},
            "aws_api_gateway_api_key": {"api_api-key_1": {"name": "k"}},
        },
    }
    stack.update(extra)
    return stack


def test_every_endpoint_is_the_emulator_and_credentials_are_fake(tmp_path: Path) -> None:
    override = provider_override(_stack(), ENDPOINT, tmp_path / "s.tfstate")
    (provider,) = override["provider"]["aws"]
    (endpoints,) = provider["endpoints"]
    assert set(endpoints) == set(ENDPOINT_SERVICES)
    assert set(endpoints.values()) == {ENDPOINT}
    assert provider["access_key"] == provider["secret_key"] == "test"
    for flag in ("skip_credentials_validation", "skip_requesting_account_id", "skip_metadata_api_check",
                 "skip_region_validation", "s3_use_path_style"):
        assert provider[flag] is True, flag


def test_backend_is_forced_local(tmp_path: Path) -> None:
    state = tmp_path / "s.tfstate"
    override = provider_override(_stack(), ENDPOINT, state)
    assert override["terraform"]["backend"] == {"local": {"path": str(state)}}


def test_aliased_providers_are_each_overridden(tmp_path: Path) -> None:
    stack = _stack(provider={"aws": [{"region": "us-east-1"},
                                     {"region": "eu-west-1", "alias": "eu", "assume_role": [{"role_arn": "r"}]}]})
    providers = provider_override(stack, ENDPOINT, tmp_path / "s")["provider"]["aws"]
    assert [p.get("alias") for p in providers] == [None, "eu"]
    assert providers[1]["assume_role"] == []  # never assume a real role against the emulator


def test_api_key_gets_the_generated_value() -> None:
    stack = _stack()
    assert api_keys(stack) == ["api_api-key_1"]
    override = api_key_override(api_keys(stack), "generated-value-123456789")
    assert override == {"resource": {"aws_api_gateway_api_key": {"api_api-key_1": {"value": "generated-value-123456789"}}}}
    assert api_key_override([], "v") == {}


def test_files_are_terraform_override_files(tmp_path: Path) -> None:
    written = write_overrides(tmp_path, _stack(), ENDPOINT, tmp_path / "s", "secret-value-abcdefghij")
    assert [p.name for p in written] == [PROVIDER_FILE, API_KEY_FILE]
    assert all(p.name.endswith("_override.tf.json") for p in written)
    assert (tmp_path / API_KEY_FILE).stat().st_mode & 0o077 == 0  # the key file is private
    json.loads((tmp_path / PROVIDER_FILE).read_text())


def test_no_key_file_without_an_api_key(tmp_path: Path) -> None:
    stack = _stack(resource={"aws_sqs_queue": {"q": {}}})
    written = write_overrides(tmp_path, stack, ENDPOINT, tmp_path / "s", "v" * 30)
    assert [p.name for p in written] == [PROVIDER_FILE]


@pytest.mark.parametrize(
    ("type_name", "service"),
    [("aws_cloudwatch_log_group", "logs"), ("aws_cloudwatch_metric_alarm", "cloudwatch"),
     ("aws_vpc_endpoint", "ec2"), ("aws_default_security_group", "ec2"), ("aws_sqs_queue_policy", "sqs"),
     ("aws_caller_identity", "sts"), ("aws_glue_job", None)],
)
def test_service_of(type_name: str, service: str | None) -> None:
    assert service_of(type_name) == service


def test_unknown_types_are_reported() -> None:
    stack = _stack(data={"aws_partition": {"p": {}}, "aws_glue_catalog_table": {"t": {}}})
    assert uncovered_types(stack) == ["aws_glue_catalog_table"]


def test_the_synthesized_stack_is_fully_covered(synth_json: dict[str, Any]) -> None:
    """Every resource and data source of the real stack has a local endpoint."""
    assert uncovered_types(synth_json) == []
    assert "aws_api_gateway_api_key" in synth_json["resource"]
    assert "value" not in next(iter(synth_json["resource"]["aws_api_gateway_api_key"].values())), (
        "the stack itself must not fix an API key value"
    )

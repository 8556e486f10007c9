"""StackConfig: defaults, the environment variables it reads, and the limits it refuses."""
from __future__ import annotations

import dataclasses

import pytest

from lib.config import ConfigError, FunctionSpec, StackConfig


def test_defaults_match_the_spec() -> None:
    config = StackConfig.from_env({})
    assert config.environment_suffix == "dev"
    assert config.region == "us-east-1"
    assert config.state_bucket is None and config.alert_email is None
    assert config.reserved_concurrency == 100
    assert (config.api_rate_limit_rps, config.api_burst_limit) == (1000, 2000)
    assert config.log_retention_days == 7
    assert config.dlq_retention_seconds == 14 * 24 * 3600
    assert config.queue_visibility_timeout_s == 360
    assert config.api_function == FunctionSpec(256, 30)
    assert config.detection_function == FunctionSpec(512, 60)
    assert config.notification_function == FunctionSpec(256, 30)
    assert config.stack_name == "tap-stack-dev"
    assert config.api_stage_name == "prod"
    assert config.zones == ("us-east-1a", "us-east-1b")


def test_reads_the_environment() -> None:
    config = StackConfig.from_env(
        {
            "ENVIRONMENT_SUFFIX": "pr42",
            "AWS_REGION": "eu-west-1",
            "TERRAFORM_STATE_BUCKET": "state-bucket",
            "TERRAFORM_STATE_BUCKET_REGION": "us-east-1",
            "ALERT_EMAIL": "alerts@example.com",
            "RESERVED_CONCURRENCY": "-1",
            "STREAM_BATCH_SIZE": "50",
            "STREAM_PARALLELIZATION_FACTOR": "4",
            "LOG_LEVEL": "debug",
            "FUNCTION_INIT": "Lazy",
            "AVAILABILITY_ZONES": "eu-west-1b, eu-west-1c",
        }
    )
    assert config.name("transactions") == "transactions-pr42"
    assert config.region == "eu-west-1"
    assert (config.state_bucket, config.state_bucket_region) == ("state-bucket", "us-east-1")
    assert config.state_key == "tap-stack-pr42/terraform.tfstate"
    assert config.alert_email == "alerts@example.com"
    assert config.reserved_concurrency == -1
    assert (config.stream_batch_size, config.stream_parallelization_factor) == (50, 4)
    assert config.log_level == "DEBUG"
    assert config.function_init == "lazy"
    assert config.zones == ("eu-west-1b", "eu-west-1c")


def test_blank_values_mean_unset() -> None:
    config = StackConfig.from_env({"TERRAFORM_STATE_BUCKET": "  ", "ALERT_EMAIL": ""})
    assert config.state_bucket is None and config.alert_email is None


def test_tags() -> None:
    assert StackConfig(environment_suffix="qa").tags == {
        "Environment": "qa",
        "Project": "fraud-detection",
        "ManagedBy": "cdktf",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENVIRONMENT_SUFFIX": "Prod"}, "ENVIRONMENT_SUFFIX"),
        ({"ENVIRONMENT_SUFFIX": "a" * 21}, "ENVIRONMENT_SUFFIX"),
        ({"ALERT_EMAIL": "not-an-address"}, "ALERT_EMAIL"),
        ({"RESERVED_CONCURRENCY": "lots"}, "RESERVED_CONCURRENCY"),
        ({"RESERVED_CONCURRENCY": "-2"}, "RESERVED_CONCURRENCY"),
        ({"STREAM_BATCH_SIZE": "0"}, "STREAM_BATCH_SIZE"),
        ({"STREAM_PARALLELIZATION_FACTOR": "11"}, "STREAM_PARALLELIZATION_FACTOR"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"FUNCTION_INIT": "sometimes"}, "FUNCTION_INIT"),
        ({"AVAILABILITY_ZONES": "us-east-1a"}, "two availability zones"),
        ({"AVAILABILITY_ZONES": "us-east-1a,eu-west-1a"}, "AVAILABILITY_ZONES"),
    ],
)
def test_bad_environment_is_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StackConfig.from_env(env)


@pytest.mark.parametrize(
    "changes",
    [
        {"queue_visibility_timeout_s": 179},  # < 6 x notification timeout
        {"stream_max_retry_attempts": 10_001},
        {"stream_max_record_age_s": 30},
        {"stream_batching_window_s": 301},
        {"queue_batch_size": 11},
        {"availability_zone_count": 1},
        {"vpc_cidr": "10.0.0.0/8"},
        {"vpc_cidr": "not-a-cidr"},
        {"kms_deletion_window_days": 6},
    ],
)
def test_limits_are_enforced(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        dataclasses.replace(StackConfig(), **changes)


def test_unlimited_record_age_and_retries_are_allowed() -> None:
    config = dataclasses.replace(StackConfig(), stream_max_record_age_s=-1, stream_max_retry_attempts=-1)
    assert config.stream_max_record_age_s == -1


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        StackConfig().environment_suffix = "other"  # type: ignore[misc]

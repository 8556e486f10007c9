"""One typed, frozen configuration object for the whole stack.

Everything a deployment can tune lives here; constructs read it and never
re-derive defaults of their own. `StackConfig.from_env` is the only place that
reads the environment, and it fails with a message naming the variable.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

PROJECT = "fraud-detection"
API_STAGE_NAME = "prod"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FUNCTION_INIT_MODES = ("eager", "lazy")
_SUFFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A setting from the environment is missing or malformed."""


@dataclass(frozen=True)
class FunctionSpec:
    """Size and limits of one Lambda function (the spec fixes these)."""

    memory_mb: int
    timeout_s: int


@dataclass(frozen=True)
class StackConfig:
    environment_suffix: str = "dev"
    region: str = "us-east-1"
    # Remote state: S3 backend when set, local backend otherwise.
    state_bucket: Optional[str] = None
    state_bucket_region: Optional[str] = None
    alert_email: Optional[str] = None
    log_level: str = "INFO"
    # "eager": handlers build clients and layers while Lambda initialises them, so the first request
    # finds them ready; "lazy": on the first request. docs/BENCHMARKS.md "Cold start".
    function_init: str = "eager"

    # Spec constraints.
    reserved_concurrency: int = 100  # new AWS accounts may not reserve 3 x 100
    api_rate_limit_rps: int = 1000
    api_burst_limit: int = 2000
    log_retention_days: int = 7
    dlq_retention_seconds: int = 14 * 24 * 3600
    queue_visibility_timeout_s: int = 360
    queue_max_receive_count: int = 3

    # Event sources.
    # Full batches amortise BatchGetItem/TransactWriteItems (docs/BENCHMARKS.md: 80 → 47 calls per 1k);
    # below ~1,000 records a second the 1 s batching window, not this cap, sets the batch size.
    stream_batch_size: int = 1000
    stream_batching_window_s: int = 1
    stream_parallelization_factor: int = 1
    stream_max_retry_attempts: int = 3
    stream_max_record_age_s: int = 3600
    stream_bisect_on_error: bool = True
    queue_batch_size: int = 10

    # Encryption: a short window keeps `destroy` + re-deploy of an environment cheap.
    kms_deletion_window_days: int = 7

    # Network.
    vpc_cidr: str = "10.20.0.0/16"
    availability_zone_count: int = 2
    # Explicit zone names; empty means the region's first `availability_zone_count` zones (a, b, ...).
    availability_zones: tuple[str, ...] = ()
    # Interface endpoints for every AWS API the VPC-bound detection code calls besides
    # DynamoDB (which gets a free gateway endpoint). See CONTRACTS.md "AWS calls".
    interface_endpoint_services: tuple[str, ...] = ("sqs",)

    # Functions (spec: api 256/30, detection 512/60, notification 256/30).
    api_function: FunctionSpec = field(default_factory=lambda: FunctionSpec(256, 30))
    detection_function: FunctionSpec = field(default_factory=lambda: FunctionSpec(512, 60))
    notification_function: FunctionSpec = field(default_factory=lambda: FunctionSpec(256, 30))

    # Alarm thresholds.
    alarm_period_s: int = 300
    api_latency_alarm_ms: int = 1000
    stream_iterator_age_alarm_ms: int = 60_000

    def __post_init__(self) -> None:
        if not _SUFFIX_RE.match(self.environment_suffix):
            raise ConfigError(
                "ENVIRONMENT_SUFFIX must be 1-20 chars of lowercase letters, digits and '-', "
                f"starting with a letter or digit; got {self.environment_suffix!r}"
            )
        if self.alert_email is not None and not _EMAIL_RE.match(self.alert_email):
            raise ConfigError(f"ALERT_EMAIL is not an e-mail address: {self.alert_email!r}")
        if self.reserved_concurrency < -1:
            raise ConfigError("RESERVED_CONCURRENCY must be -1 (unreserved) or >= 0")
        if not 1 <= self.stream_parallelization_factor <= 10:
            raise ConfigError("STREAM_PARALLELIZATION_FACTOR must be between 1 and 10")
        if not 1 <= self.stream_batch_size <= 10_000:
            raise ConfigError("STREAM_BATCH_SIZE must be between 1 and 10000")
        if self.queue_visibility_timeout_s < 6 * self.notification_function.timeout_s:
            # AWS guidance: visibility >= 6 x function timeout for SQS sources.
            raise ConfigError("queue visibility timeout must be at least 6x the notification timeout")
        if self.function_init not in FUNCTION_INIT_MODES:
            raise ConfigError(f"FUNCTION_INIT must be one of {', '.join(FUNCTION_INIT_MODES)}; got {self.function_init!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {self.log_level!r}")
        # Event-source-mapping limits enforced by the Lambda API; failing here beats failing in apply.
        if not -1 <= self.stream_max_retry_attempts <= 10_000:
            raise ConfigError("stream max retry attempts must be between -1 and 10000")
        if self.stream_max_record_age_s != -1 and not 60 <= self.stream_max_record_age_s <= 604_800:
            raise ConfigError("stream max record age must be -1 or between 60 and 604800 seconds")
        if not 0 <= self.stream_batching_window_s <= 300:
            raise ConfigError("STREAM_BATCHING_WINDOW_S must be between 0 and 300 seconds")
        # API Gateway's default account quota is 10,000 rps (burst 5,000); above it needs a quota increase.
        if not 1 <= self.api_rate_limit_rps <= 100_000:
            raise ConfigError("API_RATE_LIMIT_RPS must be between 1 and 100000")
        if not 1 <= self.api_burst_limit <= 100_000:
            raise ConfigError("API_BURST_LIMIT must be between 1 and 100000")
        if 0 < self.reserved_concurrency < self.stream_parallelization_factor:
            # Each shard runs up to parallelization-factor concurrent detection batches.
            raise ConfigError("RESERVED_CONCURRENCY must be at least STREAM_PARALLELIZATION_FACTOR (or -1 / 0)")
        if not 1 <= self.queue_batch_size <= 10:
            # Larger SQS batches need a batching window; 10 keeps the mapping simple.
            raise ConfigError("queue batch size must be between 1 and 10")
        if self.availability_zone_count < 2 or (0 < len(self.availability_zones) < 2):
            raise ConfigError("the VPC needs private subnets in at least two availability zones")
        if self.availability_zone_count > 6:
            raise ConfigError("at most 6 availability zones are supported")
        for zone in self.availability_zones:
            if not zone.startswith(self.region):
                raise ConfigError(f"AVAILABILITY_ZONES: {zone!r} is not a zone of {self.region}")
        try:
            network = ipaddress.ip_network(self.vpc_cidr)
        except ValueError:
            raise ConfigError(f"vpc_cidr is not a CIDR block: {self.vpc_cidr!r}") from None
        if not 16 <= network.prefixlen <= 24:
            raise ConfigError("vpc_cidr must be between a /16 and a /24")
        if not 7 <= self.kms_deletion_window_days <= 30:
            raise ConfigError("KMS deletion window must be between 7 and 30 days")

    @property
    def stack_name(self) -> str:
        return f"tap-stack-{self.environment_suffix}"

    @property
    def zones(self) -> tuple[str, ...]:
        if self.availability_zones:
            return self.availability_zones
        return tuple(f"{self.region}{letter}" for letter in "abcdef"[: self.availability_zone_count])

    @property
    def api_stage_name(self) -> str:
        return API_STAGE_NAME

    @property
    def state_key(self) -> str:
        """Object key of this environment's state in TERRAFORM_STATE_BUCKET."""
        return f"{self.stack_name}/terraform.tfstate"

    def name(self, base: str) -> str:
        """`{base}-{environment_suffix}`: every resource name goes through here."""
        return f"{base}-{self.environment_suffix}"

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Environment": self.environment_suffix,
            "Project": PROJECT,
            "ManagedBy": "cdktf",
        }

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "StackConfig":
        env = os.environ if environ is None else environ

        def opt(name: str) -> Optional[str]:
            value = env.get(name, "").strip()
            return value or None

        def integer(name: str, default: int) -> int:
            raw = opt(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer, got {raw!r}") from None

        defaults = cls()
        return cls(
            environment_suffix=opt("ENVIRONMENT_SUFFIX") or defaults.environment_suffix,
            region=opt("AWS_REGION") or defaults.region,
            state_bucket=opt("TERRAFORM_STATE_BUCKET"),
            state_bucket_region=opt("TERRAFORM_STATE_BUCKET_REGION"),
            alert_email=opt("ALERT_EMAIL"),
            log_level=(opt("LOG_LEVEL") or defaults.log_level).upper(),
            function_init=(opt("FUNCTION_INIT") or defaults.function_init).lower(),
            availability_zones=tuple(
                zone.strip() for zone in (opt("AVAILABILITY_ZONES") or "").split(",") if zone.strip()
            ),
            reserved_concurrency=integer("RESERVED_CONCURRENCY", defaults.reserved_concurrency),
            stream_batch_size=integer("STREAM_BATCH_SIZE", defaults.stream_batch_size),
            stream_parallelization_factor=integer(
                "STREAM_PARALLELIZATION_FACTOR", defaults.stream_parallelization_factor
            ),
            # Scaling knobs (docs/SCALING.md says which limit each one lifts).
            stream_batching_window_s=integer("STREAM_BATCHING_WINDOW_S", defaults.stream_batching_window_s),
            api_rate_limit_rps=integer("API_RATE_LIMIT_RPS", defaults.api_rate_limit_rps),
            api_burst_limit=integer("API_BURST_LIMIT", defaults.api_burst_limit),
        )

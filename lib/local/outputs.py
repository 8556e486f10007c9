"""The deployment's outputs file, and one typed view of it for tests, the demo and benches.

The file has the CDKTF outputs-file shape, `{"tap-stack-<suffix>": {<output id>: value}}`,
so a real `cdktf deploy --outputs-file outputs.json --outputs-file-include-sensitive-outputs`
works unchanged. A local deployment adds `endpoint_url` (where to point boto3),
`api_key` and `alert_inbox_queue_url`, and its execute-api URLs are rewritten to
the form the emulator routes.

Resources are found by their contract names (docs/CONTRACTS.md: `{base}-{suffix}`)
in the output values, so the reader does not depend on output ids; what the
outputs lack is looked up by name through the AWS APIs.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUTS_FILE = REPO_ROOT / "outputs.json"
_AWS_INVOKE_RE = re.compile(
    r"^https://(?P<api_id>[a-z0-9]+)\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"/(?P<stage>[^/]+)(?P<rest>/.*)?$"
)
_STACK_RE = re.compile(r"^tap-stack-(?P<suffix>[a-z0-9][a-z0-9-]*)$")


class OutputsError(RuntimeError):
    pass


def local_invoke_url(aws_url: str, endpoint_url: str) -> str:
    """`https://<id>.execute-api.<region>.amazonaws.com/<stage>/x` -> the emulator's path form.

    MiniStack routes `<endpoint>/_aws/execute-api/<api_id>/<stage>/<path>` (app.py,
    `_resolve_execute_api`); the host-based form needs DNS for `*.execute-api.localhost`.
    """
    match = _AWS_INVOKE_RE.match(aws_url)
    if match is None:
        return aws_url
    rest = match.group("rest") or ""
    return f"{endpoint_url}/_aws/execute-api/{match.group('api_id')}/{match.group('stage')}{rest}"


def localize(outputs: Mapping[str, Any], endpoint_url: str) -> dict[str, Any]:
    """Rewrite every execute-api URL in the (nested) outputs to its local form."""
    result: dict[str, Any] = {}
    for key, value in outputs.items():
        if isinstance(value, Mapping):
            result[key] = localize(value, endpoint_url)
        elif isinstance(value, str):
            result[key] = local_invoke_url(value, endpoint_url)
        else:
            result[key] = value
    return result


def write_outputs_file(path: Path, outputs: Mapping[str, Any]) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(outputs, indent=2) + "\n")
    tmp.chmod(0o600)  # carries the API key
    tmp.replace(path)
    return path


def _leaves(node: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from _leaves(value)
        else:
            yield key, value


@dataclass(frozen=True)
class StackOutputs:
    """Everything a client of the running pipeline needs, wherever it runs."""

    suffix: str
    region: str
    api_url: str  # POST here: .../<stage>/transactions
    api_key: Optional[str]
    table_name: str
    alert_queue_url: Optional[str]
    dlq_url: Optional[str]
    failure_queue_url: Optional[str]
    topic_arn: Optional[str]
    endpoint_url: Optional[str]  # None on real AWS
    alert_inbox_queue_url: Optional[str]
    raw: Mapping[str, Any]

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def boto3_kwargs(self) -> dict[str, Any]:
        """Client kwargs: the emulator with test keys locally, the default chain on AWS."""
        if self.endpoint_url is None:
            return {"region_name": self.region}
        return {
            "region_name": self.region,
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, **self.boto3_kwargs())

    def transaction_url(self, transaction_id: str) -> str:
        return f"{self.api_url.rstrip('/')}/{transaction_id}"

    @classmethod
    def from_outputs(cls, data: Mapping[str, Any]) -> "StackOutputs":
        stacks = [k for k in data if _STACK_RE.match(k)] or list(data)
        if len(stacks) != 1:
            raise OutputsError(f"expected one stack in the outputs file, found {stacks}")
        stack_key = stacks[0]
        values = dict(_leaves(data[stack_key]))
        match = _STACK_RE.match(stack_key)
        suffix = match.group("suffix") if match else os.environ.get("ENVIRONMENT_SUFFIX", "dev")
        strings = {k: v for k, v in values.items() if isinstance(v, str)}

        def by_value(pattern: str) -> Optional[str]:
            regex = re.compile(pattern)
            hits = sorted({v for v in strings.values() if regex.search(v)})
            return hits[0] if len(hits) == 1 else None

        def queue(base: str) -> Optional[str]:
            return by_value(rf"^https?://\S+/{re.escape(base)}-{re.escape(suffix)}$")

        api_url = strings.get("api_invoke_url") or by_value(r"execute-api.*/transactions/?$")
        if not api_url:
            raise OutputsError(f"no API invoke URL (…/transactions) among outputs: {sorted(values)}")
        table = by_value(rf"^transactions-{re.escape(suffix)}$") or by_value(
            rf":table/transactions-{re.escape(suffix)}$"
        )
        if table and table.startswith("arn:"):
            table = table.rsplit("/", 1)[1]
        if not table:
            raise OutputsError(f"no transactions-{suffix} table among outputs: {sorted(values)}")
        region_hit = re.search(r"arn:aws:[a-z0-9-]+:([a-z0-9-]+):", " ".join(strings.values()))
        aws_url = _AWS_INVOKE_RE.match(api_url)
        region = (
            (aws_url.group("region") if aws_url else None)
            or (region_hit.group(1) if region_hit else None)
            or os.environ.get("AWS_REGION", "us-east-1")
        )
        api_key = strings.get("api_key") or strings.get("api_key_value") or os.environ.get("API_KEY")
        return cls(
            suffix=suffix,
            region=region,
            api_url=api_url,
            api_key=api_key,
            table_name=table,
            alert_queue_url=queue("suspicious-transactions"),
            dlq_url=queue("suspicious-transactions-dlq"),
            failure_queue_url=queue("fraud-detection-failures"),
            topic_arn=by_value(rf"^arn:aws:sns:[^:]+:[^:]*:fraud-alerts-{re.escape(suffix)}$"),
            endpoint_url=strings.get("endpoint_url"),
            alert_inbox_queue_url=strings.get("alert_inbox_queue_url"),
            raw=data,
        )

    @classmethod
    def from_file(cls, path: Path) -> "StackOutputs":
        return cls.from_outputs(json.loads(Path(path).read_text()))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Optional["StackOutputs"]:
        """The spec's variables (API_ENDPOINT, DYNAMODB_TABLE, SQS_QUEUE_URL, API_KEY), if set."""
        api = environ.get("API_ENDPOINT", "").strip()
        table = environ.get("DYNAMODB_TABLE", "").strip()
        if not api or not table:
            return None
        suffix = table[len("transactions-"):] if table.startswith("transactions-") else "dev"
        outputs: dict[str, Any] = {"api_invoke_url": api, "transactions_table_name": table}
        queue_url = environ.get("SQS_QUEUE_URL", "").strip()
        if queue_url:
            outputs["alert_queue_url"] = queue_url
        for var, key in (("API_KEY", "api_key"), ("AWS_ENDPOINT_URL", "endpoint_url")):
            if environ.get(var, "").strip():
                outputs[key] = environ[var].strip()
        return cls.from_outputs({f"tap-stack-{suffix}": outputs})

    def resolve_missing(self) -> "StackOutputs":
        """Fill queue URLs and the topic the outputs lack by their contract names (AWS APIs)."""
        sqs = self.client("sqs")
        found: dict[str, Optional[str]] = {}
        for attr, base in (
            ("alert_queue_url", "suspicious-transactions"),
            ("dlq_url", "suspicious-transactions-dlq"),
            ("failure_queue_url", "fraud-detection-failures"),
        ):
            if getattr(self, attr) is None:
                try:
                    found[attr] = sqs.get_queue_url(QueueName=self.name(base))["QueueUrl"]
                except sqs.exceptions.QueueDoesNotExist:
                    found[attr] = None
        if self.topic_arn is None:
            wanted = f":{self.name('fraud-alerts')}"
            for page in self.client("sns").get_paginator("list_topics").paginate():
                for topic in page.get("Topics", []):
                    if topic["TopicArn"].endswith(wanted):
                        found["topic_arn"] = topic["TopicArn"]
        if not found:
            return self
        return StackOutputs(**{**self.__dict__, **found})


def load(path: Optional[Path] = None, environ: Mapping[str, str] = os.environ) -> StackOutputs:
    """OUTPUTS_FILE, else the spec's variables, else ./outputs.json."""
    if path is None and environ.get("OUTPUTS_FILE"):
        path = Path(environ["OUTPUTS_FILE"])
    if path is None:
        from_env = StackOutputs.from_env(environ)
        if from_env is not None:
            return from_env
        path = OUTPUTS_FILE
    if not path.exists():
        raise OutputsError(f"{path} does not exist: run `make up` (local) or `cdktf deploy --outputs-file`")
    return StackOutputs.from_file(path)

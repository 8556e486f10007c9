"""Read-only helpers for asserting on a synthesized cdk.tf.json."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

from lib.config import StackConfig

SUFFIX = "unittest"
CONFIG = StackConfig(environment_suffix=SUFFIX)
# Attributes holding a policy document, by resource type.
POLICY_ATTRIBUTES = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_role_policy": "policy",
    "aws_kms_key": "policy",
    "aws_sqs_queue": "policy",
    "aws_sns_topic_policy": "policy",
}
_REF_RE = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}$")


@dataclass(frozen=True)
class Policy:
    where: str  # "<type>.<logical id>"
    resource_type: str
    document: dict[str, Any]

    @property
    def statements(self) -> list[dict[str, Any]]:
        return self.document["Statement"]


class Stack:
    """Read-only view over a synthesized cdk.tf.json."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.resources: dict[str, dict[str, dict[str, Any]]] = doc.get("resource", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(resource_type, {})

    def find(self, resource_type: str, **match: Any) -> tuple[str, dict[str, Any]]:
        """The one resource of `resource_type` whose attributes equal `match`."""
        found = [
            (logical, body)
            for logical, body in self.of_type(resource_type).items()
            if all(body.get(key) == value for key, value in match.items())
        ]
        assert len(found) == 1, f"expected one {resource_type} with {match}, found {len(found)}"
        return found[0]

    def body(self, resource_type: str, **match: Any) -> dict[str, Any]:
        return self.find(resource_type, **match)[1]

    def ref(self, resource_type: str, attribute: str, **match: Any) -> str:
        """Terraform reference to an attribute of the matching resource."""
        logical, _ = self.find(resource_type, **match)
        return f"${{{resource_type}.{logical}.{attribute}}}"

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for resource_type, items in self.resources.items():
            for logical, body in items.items():
                yield resource_type, logical, body

    def policies(self) -> list[Policy]:
        found = []
        for resource_type, logical, body in self.all_resources():
            attribute = POLICY_ATTRIBUTES.get(resource_type)
            if attribute and body.get(attribute):
                document = json.loads(body[attribute])
                found.append(Policy(f"{resource_type}.{logical}", resource_type, document))
        return found

    def resolve(self, reference: str) -> tuple[str, dict[str, Any], str]:
        """`${type.logical.attr}` -> (type, body, attr)."""
        matched = _REF_RE.match(reference)
        assert matched, f"not a plain reference: {reference}"
        resource_type, logical, attribute = matched.groups()
        return resource_type, self.of_type(resource_type)[logical], attribute


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

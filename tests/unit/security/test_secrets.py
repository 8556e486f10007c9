"""No secret in the repository, the synthesized stack, or a function's plaintext environment.

One scanner, three places: every tracked file (`git ls-files`), every string in the
synthesized cdk.tf.json, and every Lambda environment variable in it. It looks for AWS
access keys and secret keys, private-key blocks, token formats of common providers,
`password=`-style literals, and high-entropy strings (random base64-like runs). The
scanner is tested on samples built at run time, so no sample secret is ever committed.
"""
from __future__ import annotations

import math
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PATTERNS = {
    "aws-access-key-id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b"),
    "aws-secret-access-key": re.compile(r"(?i)aws.?secret.?access.?key[\"'\s:=]+[A-Za-z0-9/+=]{40}\b"),
    "private-key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    "provider-token": re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{30,}|\bxox[abprs]-[A-Za-z0-9-]{20,}|\bsk_live_[A-Za-z0-9]{20,}"),
    "password-literal": re.compile(r"(?i)(?<![a-z])(?:password|passwd|pwd)\s*[:=]\s*[\"']?[^\s\"',;)]{4,}"),
    "secret-literal": re.compile(r"(?i)\b(?:secret|token|api[_-]?key|private[_-]?key)\b[\"']?\s*[:=]\s*[\"'][A-Za-z0-9/+=_-]{16,}[\"']"),
}
CANDIDATE = re.compile(r"[A-Za-z0-9+/]{32,}={0,2}")  # base64 runs; identifiers break at _ . -
ENTROPY_BITS = 4.5  # random base64 scores ~5+; hex digests (sha256 in locks) stay <= 4
# Values that are high-entropy by design and public: content hashes of the Lambda zips
# (Terraform needs them to detect code changes), keyed by the attribute holding them.
HASH_ATTRIBUTES = frozenset({"source_code_hash"})
SECRETISH_NAME = re.compile(r"(?i)secret|password|passwd|token|private|credential|api_?key")


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def find_secrets(text: str) -> list[tuple[str, str]]:
    """(kind, a redacted hint) for everything secret-looking in `text`."""
    found = [(kind, match.group(0)[:12] + "…") for kind, rx in PATTERNS.items() for match in rx.finditer(text)]
    for run in CANDIDATE.findall(text):
        # Generated secrets mix all three classes; paths, words and digests do not.
        mixed = all(any(cls(c) for c in run) for cls in (str.islower, str.isupper, str.isdigit))
        if mixed and entropy(run) > ENTROPY_BITS:
            found.append(("high-entropy", run[:12] + "…"))
    return found


def tracked_text_files() -> Iterator[tuple[str, str]]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True).stdout
    for name in filter(None, names.decode().split("\0")):
        path = REPO_ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            continue  # binary
        yield name, data.decode("utf-8", "replace")


def strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(attribute name, value) for every string in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, key)
    elif isinstance(node, str):
        yield key, node


# --- the scanner itself -----------------------------------------------------------------


def _sample(kind: str) -> str:
    """A fake secret of each kind, assembled at run time (never present in the repo)."""
    upper = "QWERTYUIOPASDFGH"
    b64 = "wJalrXUtnFEMI" + "K7MDENGbPxRfiCY" + "EXAMPLEKEY0123456789"
    return {
        "aws-access-key-id": "AKIA" + upper,
        "aws-secret-access-key": "aws_secret_access_key = " + b64[:40],
        "private-key": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE...",
        "provider-token": "ghp" + "_" + "a1B2" * 9,
        "password-literal": "db_" + "password=" + "hunter22",
        "secret-literal": "api_key" + ' = "' + "Zx9" * 7 + '"',
        "high-entropy": "token: " + "q8Vf3LmZ0pR7sK2nW9xYb4TcJ6hGd1Ue5AoIiPlMvN",
    }[kind]


@pytest.mark.parametrize("kind", [*PATTERNS, "high-entropy"])
def test_the_scanner_finds_each_kind(kind: str) -> None:
    assert kind in {k for k, _ in find_secrets(_sample(kind))}


@pytest.mark.parametrize("text", [
    "sha256:" + "0123456789abcdef" * 4, "function_name = config.name('api-handler')", "api_key=outputs.api_key",
    "${aws_kms_alias.encryption_card-fingerprint-alias_B65F0B75.arn}", "test_detection_reports_failed_records_and_retry",
    "arn:aws:sqs:us-east-1:000000000000:suspicious-transactions-dlq-itest", "password: str",
])  # fmt: skip
def test_the_scanner_leaves_ordinary_text_alone(text: str) -> None:
    assert find_secrets(text) == []


# --- the three places -------------------------------------------------------------------


def test_no_secret_in_any_tracked_file() -> None:
    hits = [(name, kind, hint) for name, text in tracked_text_files() for kind, hint in find_secrets(text)]
    assert len(list(tracked_text_files())) > 50  # the walk really saw the repository
    assert not hits, "\n".join(f"{n}: {k} {h}" for n, k, h in hits)


def test_no_secret_in_the_synthesized_stack(synth_json: dict[str, Any]) -> None:
    hits = [(key, kind, hint) for key, value in strings(synth_json) if key not in HASH_ATTRIBUTES
            for kind, hint in find_secrets(value)]  # fmt: skip
    assert not hits, hits
    # The API key is generated by AWS (no `value` in the stack) and only ever referenced.
    for key in synth_json["resource"]["aws_api_gateway_api_key"].values():
        assert "value" not in key


def test_function_environments_hold_no_secret(synth_json: dict[str, Any]) -> None:
    functions = synth_json["resource"]["aws_lambda_function"]
    assert len(functions) == 3
    for body in functions.values():
        for name, value in body["environment"]["variables"].items():
            assert find_secrets(str(value)) == [], f"{body['function_name']}: {name}"
            if SECRETISH_NAME.search(name) or "KEY" in name:
                # A key may only be *named* (a resource reference), never carried.
                assert re.fullmatch(r"\$\{aws_[a-z0-9_]+\.[A-Za-z0-9_-]+\.(arn|id|name)\}", str(value)), (name, value)

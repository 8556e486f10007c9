"""The secret scanner shared by the unit tests (repo, synthesized stack) and the integration
suite (the deployed functions' environments): patterns for known credential formats plus
a high-entropy check for random base64-like runs.
"""
from __future__ import annotations

import math
import re
from collections import Counter

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

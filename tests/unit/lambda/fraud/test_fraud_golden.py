"""Scoring behaviour pinned over a simulated history: every assessment and feature value, exactly.

The fixture (digests of golden.records) was written by the scoring code before
its speed-ups; rewrite it only for an intended behaviour change
(`python tests/unit/lambda/fraud/golden.py fixture`).
"""
from __future__ import annotations

import json

import pytest

import golden
from fraud.features import FEATURE_NAMES


@pytest.fixture(scope="module")
def history() -> list:
    return golden.small_history()


@pytest.fixture(scope="module")
def expected() -> dict:
    data = json.loads(golden.FIXTURE.read_text())
    assert data["history"] == golden.SMALL and data["label_delay_ms"] == golden.LABEL_DELAY_MS
    return data


@pytest.mark.parametrize("decimal", [False, True], ids=["in-memory", "decimal-store"])
def test_assessments_match_the_golden_fixture(history: list, expected: dict, decimal: bool) -> None:
    got = list(golden.records(history, decimal=decimal))
    assert len(got) == expected["records"]
    for record, want in zip(got, expected["digests"]):
        assert record[5] == sorted(FEATURE_NAMES)
        assert golden.digest(record) == want, f"assessment changed: {record}"

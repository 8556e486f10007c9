"""scripts/simulate.py: deterministic, well-formed, labelled data with every scenario."""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from scripts import simulate


def generate(path: Path, *extra: str) -> list[dict[str, str]]:
    assert simulate.main(["--out", str(path), "--customers", "120", "--merchants", "40", "--days", "12", *extra]) == 0
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    return generate(tmp_path_factory.mktemp("sim") / "sim.csv", "--seed", "11", "--fraud-scale", "3")


def luhn(pan: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(pan)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_columns_order_and_formats(rows: list[dict[str, str]]) -> None:
    assert list(rows[0]) == simulate.COLUMNS
    times = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    assert times == sorted(times) and all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times)
    assert len({r["transaction_id"] for r in rows}) == len(rows)
    assert all(r["is_fraud"] in ("0", "1") for r in rows)
    assert all(13 <= len(r["card_number"]) <= 19 and luhn(r["card_number"]) for r in rows)
    assert all(float(r["amount"]) > 0 and len(r["amount"].split(".")[1]) == 2 for r in rows)


def test_labels_and_scenarios_are_present(rows: list[dict[str, str]]) -> None:
    fraud = [r for r in rows if r["is_fraud"] == "1"]
    assert 0 < len(fraud) < len(rows) * 0.2
    assert any(r["location"] == "" for r in rows)  # online merchants
    assert any(r["customer_id"] == "" for r in rows) and any(r["customer_id"] for r in rows)
    assert any(float(r["amount"]) <= 5 for r in fraud)  # card testing
    assert any(r["location"].endswith(("Iran", "Myanmar", "Afghanistan")) for r in fraud)  # high-risk geography
    by_merchant: dict[str, int] = {}
    for r in fraud:
        by_merchant[r["merchant"]] = by_merchant.get(r["merchant"], 0) + 1
    assert max(by_merchant.values()) >= 5  # a compromised merchant
    assert any(r["is_fraud"] == "0" and r["location"].endswith("Nigeria") for r in rows)  # legitimate there too


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = generate(tmp_path / "a.csv", "--seed", "5")
    b = generate(tmp_path / "b.csv", "--seed", "5")
    c = generate(tmp_path / "c.csv", "--seed", "6")
    assert a == b and a != c


def test_fraud_scale_zero_means_no_fraud(tmp_path: Path) -> None:
    assert all(r["is_fraud"] == "0" for r in generate(tmp_path / "z.csv", "--fraud-scale", "0"))


@pytest.mark.parametrize("bad", [["--customers", "0"], ["--days", "0"], ["--merchants", "3"], ["--fraud-scale", "-1"]])
def test_bad_arguments(tmp_path: Path, bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        simulate.main(["--out", str(tmp_path / "x.csv"), *bad])


def test_luhn_completion() -> None:
    assert simulate.luhn_complete("411111111111111") == "4111111111111111"

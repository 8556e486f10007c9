"""scripts/backtest.py: CSV loading with bad rows, metrics, and the end-to-end report."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from scripts import backtest, simulate


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "sim.csv"
    simulate.main(["--out", str(path), "--customers", "150", "--merchants", "40", "--days", "20", "--seed", "3",
                   "--fraud-scale", "3"])
    return path


def run(data: Path, tmp: Path, *extra: str) -> tuple[dict[str, Any], list[list[str]]]:
    args = ["--data", str(data), "--label-delay-days", "3", "--eval-from", "2024-01-10", "--eval-to", "2024-01-20",
            "--scores-out", str(tmp / "scores.csv"), "--report", str(tmp / "report.json"), "--quiet", *extra]
    assert backtest.main(args) == 0
    with open(tmp / "scores.csv", newline="") as handle:
        scores = list(csv.reader(handle))
    return json.loads((tmp / "report.json").read_text()), scores


def test_end_to_end_report_and_scores(data: Path, tmp_path: Path) -> None:
    report, scores = run(data, tmp_path)
    assert scores[0] == ["transaction_id", "score"]
    with open(data, newline="") as handle:
        rows = list(csv.DictReader(handle))
    window = [r["transaction_id"] for r in rows if "2024-01-10" <= r["timestamp"][:10] <= "2024-01-20"]
    assert [s[0] for s in scores[1:]] == window and all(0 <= int(s[1]) <= 100 for s in scores[1:])
    assert report["transactions"] == len(window) and report["bad_row_count"] == 0
    assert report["frauds"] > 0 and 0.5 < report["auc_roc"] <= 1 and 0 < report["average_precision"] <= 1
    assert 0 <= report["card_precision_at_100"] <= 1 and 0 <= report["alert_rate"] <= 1
    assert set(report["decision_thresholds"]) == {"review", "block", "alert"}
    assert {t["threshold"] for t in report["thresholds"]} >= {10, 40, 70, 90}
    assert "ROUND_SMALL_AMOUNT" in report["reason_hits"] and report["model_version"] == "rules-v1"
    assert report["replay_throughput_tps"] > 0


def test_bad_rows_are_reported_with_line_numbers(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = data.read_text().splitlines()
    header, body = lines[0], lines[1:]
    first_id = body[0].split(",")[0]
    bad = [
        body[0].rsplit(",", 1)[0] + ",maybe",  # line 2: is_fraud
        "X1,not-a-time,,4111111111111111,Shop,1.00,,0",  # line 3
        "X2,2024-01-12T00:00:00Z,,41111,Shop,1.00,,0",  # line 4
        "X3,2024-01-12T00:00:00Z,,4111111111111111,Shop,1.001,,0",  # line 5
        "X4,2024-01-12T00:00:00Z,,4111111111111111,,1.00,,0",  # line 6
        "X5,2024-01-12T00:00:00Z",  # line 7
        "X6,2024-01-12T00:00:00Z,,4111111111111111,Shop,1.00,,0",  # line 8: fine
        f"{first_id},2024-01-12T00:00:00Z,,4111111111111111,Shop,1.00,,0",  # line 9: takes the id of line 10 (line 2 was rejected)
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *bad, *body]) + "\n")
    report, _ = run(path, tmp_path)
    reported = {(b["line"], b["reason"].split(":")[0]) for b in report["bad_rows"]}
    assert reported == {(2, "is_fraud"), (3, "timestamp"), (4, "card_number"), (5, "amount"), (6, "merchant"),
                        (7, "expected 8 columns, got 2"), (10, "transaction_id")}
    assert report["bad_row_count"] == 7
    assert "bad.csv:3: bad row: timestamp" in capsys.readouterr().err


def test_extra_columns_ignored_and_missing_ones_fatal(data: Path, tmp_path: Path) -> None:
    with open(data, newline="") as handle:
        rows = list(csv.reader(handle))
    wide = tmp_path / "wide.csv"
    with open(wide, "w", newline="") as handle:
        csv.writer(handle).writerows([["note", *r] if i == 0 else ["x", *r] for i, r in enumerate(rows)])
    base, _ = run(data, tmp_path)
    extra, _ = run(wide, tmp_path)
    assert extra["auc_roc"] == base["auc_roc"] and extra["transactions"] == base["transactions"]
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("transaction_id,timestamp\nA,2024-01-01T00:00:00Z\n")
    with pytest.raises(SystemExit, match="missing columns"):
        run(narrow, tmp_path)


def test_scores_match_the_engine_directly(data: Path, tmp_path: Path) -> None:
    from fraud.engine import FraudEngine
    from fraud.replay import replay

    _, scores = run(data, tmp_path)
    events, _ = backtest.load(str(data))
    direct: dict[str, int] = {}
    replay(events, FraudEngine(), lambda t, a, y: direct.__setitem__(t.transaction_id, a.risk_score),
           label_delay_ms=3 * backtest.DAY_MS)
    assert all(direct[tid] == int(score) for tid, score in scores[1:])


@pytest.mark.parametrize(
    "scores, labels, auc",
    [([1, 2, 3, 4], [0, 0, 1, 1], 1.0), ([4, 3, 2, 1], [0, 0, 1, 1], 0.0), ([5, 5, 5, 5], [0, 1, 0, 1], 0.5),
     ([1, 2, 2, 3], [0, 0, 1, 1], 0.875), ([1, 2], [1, 1], None)],
)
def test_auc_roc(scores: list[int], labels: list[int], auc: Any) -> None:
    assert backtest.auc_roc(scores, [bool(y) for y in labels]) == auc


def test_average_precision() -> None:
    # Ranked: 9 (fraud), 8 (legit), 7 (fraud): AP = 1/2 * 1 + 1/2 * 2/3.
    assert backtest.average_precision([9, 8, 7, 1], [True, False, True, False]) == pytest.approx(0.5 + 1 / 3)
    assert backtest.average_precision([1, 1], [True, False]) == pytest.approx(0.5)  # a tie is one threshold
    assert backtest.average_precision([1, 2], [False, False]) is None


def test_card_precision_at_k() -> None:
    day = backtest.DAY_MS
    rows = [(0, "a", 90, True), (1, "a", 10, False), (2, "b", 80, False), (3, "c", 20, True),
            (day, "a", 50, False), (day + 1, "d", 60, True)]
    # Day 0, k=2: cards a (90, compromised) and b (80) -> 1/2. Day 1: d (60, yes), a (50, no) -> 1/2.
    assert backtest.card_precision_at_k(rows, k=2) == 0.5
    assert backtest.card_precision_at_k(rows, k=1) == 1.0
    assert backtest.card_precision_at_k([], k=1) is None


def test_at_threshold() -> None:
    result = backtest.at_threshold([10, 50, 80], [False, True, True], 50)
    assert result == {"threshold": 50, "flagged": 2, "true_positives": 2, "precision": 1.0, "recall": 1.0}
    assert backtest.at_threshold([10], [False], 50)["precision"] is None

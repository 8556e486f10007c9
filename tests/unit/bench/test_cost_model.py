"""The cost arithmetic: interpolation, sampling, Lambda duration, and the per-million total."""
from __future__ import annotations

import json
from typing import Any

import pytest

from bench.common import PRICES_FILE
from bench.cost_model import billed_ms, detection_at_fill, interpolate, per_million, sampled_traces_per_s
from bench.__main__ import HEADLINE_KEYS, headline

PRICES = json.loads(PRICES_FILE.read_text())
LATENCY = {"dynamodb.PutItem": 5, "default": 10}


def test_interpolation_is_log_linear_and_clamped() -> None:
    points = [(10, 100.0), (1000, 40.0)]
    assert interpolate(points, 100) == pytest.approx(70.0)
    assert interpolate(points, 1) == 100.0 and interpolate(points, 5000) == 40.0
    assert interpolate([(100, 5.0)], 3) == 5.0
    with pytest.raises(ValueError):
        interpolate([], 1)


def test_xray_default_rule() -> None:
    assert sampled_traces_per_s(0.5, 1, 0.05) == 0.5
    assert sampled_traces_per_s(21, 1, 0.05) == pytest.approx(2.0)


def test_billed_duration_scales_cpu_by_memory_and_adds_waiting() -> None:
    # 10 ms of own CPU at 1769 MB is 10 ms; at 442 MB it is 40 ms; plus two puts and one other call.
    assert billed_ms(10, 1769, {}, LATENCY, 1769) == 10
    assert billed_ms(10, 442, {"dynamodb.PutItem": 2, "sns.Publish": 1}, LATENCY, 1769) == 41 + 10 + 10
    assert billed_ms(0.01, 3008, {}, LATENCY, 1769) == 1  # a floor of one billed millisecond


def _calls(wru_detection: float = 10.0) -> dict[str, Any]:
    def stage(name: str, calls: dict[str, int], wru: float, invocations: int, own: float) -> dict[str, Any]:
        return {"stage": name, "transactions": 1000, "calls": calls, "wru_per_txn": wru, "rru_per_txn": 0.5,
                "own_ms_per_invocation": own, "invocations": invocations, "log_bytes_per_txn": 500.0,
                "sqs_requests_per_1k": 10.0}  # fmt: skip

    sweep = [{"batch_size": b, "transactions": 1000, "calls": {"dynamodb.BatchGetItem": 3000 // b + 10},
              "wru_per_txn": wru_detection, "rru_per_txn": 2.0, "own_ms_per_invocation": 5.0 * b,
              "sqs_requests_per_1k": 10.0, "log_bytes_per_txn": 400.0} for b in (10, 1000)]  # fmt: skip
    return {"transactions": 1000, "alerts_queued": 10, "item_bytes_avg": {"transactions": 1024, "fraud-state": 3000},
            "stages": [stage("api", {"dynamodb.PutItem": 1000}, 1.0, 1000, 3.0),
                       stage("notification", {"sns.Publish": 10}, 0.04, 10, 20.0)],
            "sweep": sweep}  # fmt: skip


FACTS = {
    "functions": {name: {"memory_mb": mem, "architecture": "x86_64"} for name, mem in
                  (("api-handler", 256), ("fraud-detection", 512), ("notification-handler", 256))},
    "stream": {"batch_size": 100, "batching_window_s": 1, "parallelization_factor": 1},
    "interface_endpoints": 1, "interface_endpoint_azs": 2, "kms_keys": 2, "alarms": 10, "dashboards": 1,
    "encrypted_queues": 3, "encrypted_tables": 3,
}  # fmt: skip


def test_per_million_adds_up_and_responds_to_its_inputs() -> None:
    result = per_million(FACTS, _calls(), PRICES, daily=2_000_000)
    breakdown = result["breakdown_usd_per_million"]
    assert result["cost_usd_per_million"] == pytest.approx(sum(breakdown.values()), abs=0.01)
    assert breakdown["apigateway_requests"] == pytest.approx(3.50)
    assert result["with_http_api_usd_per_million"] == pytest.approx(result["cost_usd_per_million"] - 2.50, abs=0.01)
    # ~23 transactions a second with a 1 s window: batches of ~23, not the configured 100.
    assert result["detection_batch_fill"] == pytest.approx(23.1, abs=0.1)
    assert breakdown["dynamodb_writes"] == pytest.approx((1.0 + 10.0 + 0.04) * 0.625, rel=1e-3)
    dearer = per_million(FACTS, _calls(wru_detection=20.0), PRICES, daily=2_000_000)
    assert dearer["cost_usd_per_million"] - result["cost_usd_per_million"] == pytest.approx(10 * 0.625, rel=1e-3)
    # Fixed monthly costs spread over 100x the volume weigh 100x less per transaction.
    big = per_million(FACTS, _calls(), PRICES, daily=200_000_000)
    assert big["breakdown_usd_per_million"]["vpc_interface_endpoints"] == pytest.approx(
        breakdown["vpc_interface_endpoints"] / 100, rel=0.01)  # the breakdown is rounded to 4 places


def test_detection_figures_follow_the_batch_fill() -> None:
    sweep = _calls()["sweep"]
    small, large = detection_at_fill(sweep, 10), detection_at_fill(sweep, 1000)
    assert small["calls_per_txn"]["dynamodb.BatchGetItem"] == pytest.approx(0.31)
    assert large["calls_per_txn"]["dynamodb.BatchGetItem"] == pytest.approx(0.013)
    assert small["own_ms_per_txn"] == pytest.approx(5.0)


def test_headline_has_exactly_the_fixed_keys_from_the_first_source() -> None:
    records = [{"bench": "scoring_cost", "scoring_us_per_txn": 12.5},
               {"bench": "pipeline_latency", "rate_per_s": 5, "api_latency_p99_ms": 10.0},
               {"bench": "pipeline", "steady_rate_per_s": 10, "api_latency_p99_ms": 40.0},
               {"bench": "cost_model", "scale": 10, "cost_usd_per_million": 1.0},
               {"bench": "cost_model", "scale": 1, "cost_usd_per_million": 4.2},
               {"bench": "cold_start_summary", "init_mode": "lazy", "cold_start_ms_max": 90.0},
               {"bench": "cold_start_summary", "init_mode": "eager", "cold_start_ms_max": 270.0}]  # fmt: skip
    line = headline(records, 61.0)
    assert line["cold_start_ms_max"] == 270.0  # the stack's default INIT_MODE, not the comparison run
    assert set(line) == {"bench", "suite_wall_s", *HEADLINE_KEYS}
    assert line["scoring_us_per_txn"] == 12.5 and line["cost_usd_per_million"] == 4.2
    assert line["api_latency_p99_ms"] == 40.0  # the steady rate's, not the first rate's
    assert line["deploy_s"] is None


def test_cold_start_cost_counts_all_init_work_in_the_deployed_mode() -> None:
    from bench.cost_model import cold_from_records

    rows = [{"bench": "cold_start", "handler": "floor", "total_ms": 1.0},
            {"bench": "cold_start", "handler": "api_handler", "init_mode": "eager", "total_ms": 260.0, "cold_ms": 261.0},
            {"bench": "cold_start", "handler": "api_handler", "init_mode": "lazy", "total_ms": 80.0, "cold_ms": 255.0}]  # fmt: skip
    assert cold_from_records(rows) == {"api_handler": 261.0}
    assert cold_from_records(rows, "lazy") == {"api_handler": 255.0}

#!/usr/bin/env python3
"""Cost per million transactions at AWS list prices, from the stack's settings and measured counts.

    python -m bench.cost_model [--from results.jsonl] [--daily 2000000]

Inputs: the synthesized stack (memory sizes, architectures, batch sizes and window, interface
endpoints, KMS keys, alarms), bench/aws_calls.py's per-stage figures (calls by operation,
DynamoDB request units, SQS requests, own compute per invocation, log bytes; the detection
batch-size sweep), bench/cold_start.py's init times, and bench/prices.json (prices and every
assumption). Without --from, it runs aws_calls (and cold_start) itself.

Detection batches hold min(batch size, rate × window) records at the stated volume (one shard
below 1,000 writes/s), so the detection figures are interpolated from the sweep at that fill.
Lambda duration per invocation = own compute × (1,769 MB / memory) + Σ calls × typical latency.
Prints cost_usd_per_million (headline) with the breakdown, and the same at 10× and 100×.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from bench.common import PRICES_FILE, emit, function_settings, load_stack, resources, stream_mapping

GB = 1024**3


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise linear in log(x) through (x, y) points; clamped to the end points."""
    ordered = sorted(points)
    if not ordered:
        raise ValueError("no points to interpolate")
    if x <= ordered[0][0]:
        return ordered[0][1]
    for (x0, y0), (x1, y1) in zip(ordered, ordered[1:]):
        if x <= x1:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return ordered[-1][1]


def sampled_traces_per_s(rate_per_s: float, reservoir: float, fixed_rate: float) -> float:
    """X-Ray's default rule: the first `reservoir` requests each second, then `fixed_rate` of the rest."""
    return min(rate_per_s, reservoir) + fixed_rate * max(0.0, rate_per_s - reservoir)


def billed_ms(own_ms: float, memory_mb: int, calls: Mapping[str, float], latency: Mapping[str, float],
              vcpu_mb: int) -> float:
    """One invocation's duration on Lambda: CPU-bound part scaled by the CPU share, plus waiting on AWS."""
    cpu = own_ms * max(1.0, vcpu_mb / memory_mb)
    waiting = sum(count * latency.get(op, latency["default"]) for op, count in calls.items())
    return max(1.0, math.ceil(cpu + waiting))


def detection_at_fill(sweep: Sequence[Mapping[str, Any]], fill: float) -> dict[str, Any]:
    """Per-transaction detection figures at batches of `fill` records, from the measured sweep."""
    def curve(get: Any) -> float:
        return interpolate([(row["batch_size"], get(row)) for row in sweep], fill)

    operations = sorted({op for row in sweep for op in row["calls"]})
    return {
        "calls_per_txn": {op: curve(lambda r, op=op: r["calls"].get(op, 0) / r["transactions"]) for op in operations},
        "wru_per_txn": curve(lambda r: r["wru_per_txn"]),
        "rru_per_txn": curve(lambda r: r["rru_per_txn"]),
        "sqs_requests_per_txn": curve(lambda r: r.get("sqs_requests_per_1k", 0) / 1000),
        "own_ms_per_txn": curve(lambda r: r["own_ms_per_invocation"] / r["batch_size"]),
        "log_bytes_per_txn": curve(lambda r: r.get("log_bytes_per_txn", 0)),
    }  # fmt: skip


def stack_facts(stack: dict[str, Any]) -> dict[str, Any]:
    endpoints = [e for e in resources(stack, "aws_vpc_endpoint") if e.get("vpc_endpoint_type") == "Interface"]
    return {
        "functions": function_settings(stack),
        "stream": stream_mapping(stack),
        "interface_endpoints": len(endpoints),
        "interface_endpoint_azs": max((len(e.get("subnet_ids") or []) for e in endpoints), default=0),
        "kms_keys": len(list(resources(stack, "aws_kms_key"))),
        "alarms": len(list(resources(stack, "aws_cloudwatch_metric_alarm"))),
        "dashboards": len(list(resources(stack, "aws_cloudwatch_dashboard"))),
        "encrypted_queues": sum(1 for q in resources(stack, "aws_sqs_queue") if q.get("kms_master_key_id")),
        "encrypted_tables": sum(1 for t in resources(stack, "aws_dynamodb_table")
                                if (t.get("server_side_encryption") or {}).get("kms_key_arn")),
    }  # fmt: skip


def per_million(facts: Mapping[str, Any], calls: Mapping[str, Any], prices_file: Mapping[str, Any],
                daily: float, cold_start_ms: Optional[Mapping[str, float]] = None) -> dict[str, Any]:
    """USD per million transactions at `daily` transactions a day, item by item."""
    p, a = prices_file["prices"], prices_file["assumptions"]
    latency, vcpu = a["aws_call_latency_ms"], a["lambda_vcpu_mb"]
    stages = {s["stage"]: s for s in calls["stages"]}
    n = 1_000_000
    monthly = daily * a["days_per_month"]
    rate = daily / 86_400
    fns = facts["functions"]
    stream = facts["stream"]
    fill = max(1.0, min(stream["batch_size"], rate * max(stream["batching_window_s"], 0.1)))
    det = detection_at_fill(calls["sweep"], fill)
    alerts_share = calls["alerts_queued"] / calls["transactions"]

    def gb_s_price(fn: str) -> float:
        arch = fns[fn]["architecture"]
        return p["lambda_gb_second_arm64" if arch == "arm64" else "lambda_gb_second_x86_64"]

    def per_txn_calls(stage: Mapping[str, Any]) -> dict[str, float]:
        return {op: c / stage["transactions"] for op, c in stage["calls"].items()}

    api, note = stages["api"], stages["notification"]
    api_inv = n
    api_ms = billed_ms(api["own_ms_per_invocation"], fns["api-handler"]["memory_mb"], per_txn_calls(api), latency, vcpu)
    det_inv = n / fill
    det_calls_batch = {op: c * fill for op, c in det["calls_per_txn"].items()}
    det_ms = billed_ms(det["own_ms_per_txn"] * fill, fns["fraud-detection"]["memory_mb"], det_calls_batch, latency, vcpu)
    alerts = n * alerts_share
    # A fraction of an alert per second: each poll finds one message, so one invocation per alert.
    note_inv = alerts
    measured_alerts = max(1, calls["alerts_queued"])
    note_ms = billed_ms(note["own_ms_per_invocation"] * note["invocations"] / measured_alerts,
                        fns["notification-handler"]["memory_mb"],
                        {op: c / measured_alerts for op, c in note["calls"].items()}, latency, vcpu)  # fmt: skip

    def lambda_usd(fn: str, invocations: float, ms: float) -> float:
        gb = fns[fn]["memory_mb"] / 1024
        return invocations * ms / 1000 * gb * gb_s_price(fn) + invocations * p["lambda_request_per_million"] / 1e6

    def init_usd(fn: str, invocations: float, ms: float, cold_ms: float) -> float:
        concurrency = max(1.0, invocations / n * rate * ms / 1000)
        inits_per_month = concurrency * 730 / a["lambda_container_lifetime_h"]
        cpu_ms = cold_ms * max(1.0, vcpu / fns[fn]["memory_mb"])
        return inits_per_month * cpu_ms / 1000 * fns[fn]["memory_mb"] / 1024 * gb_s_price(fn) * n / monthly

    cold = cold_start_ms or {}
    wru = (api["wru_per_txn"] + det["wru_per_txn"] + note["wru_per_txn"]) * n
    rru = (api["rru_per_txn"] + det["rru_per_txn"] + note["rru_per_txn"]) * n
    item = calls.get("item_bytes_avg", {})
    txn_bytes = item.get("transactions", 1000)
    state_bytes = (monthly / a.get("transactions_per_card_per_month", 30)) * (item.get("fraud-state", 3000))
    storage_gb = (txn_bytes * n * a["transaction_storage_months"]) / GB
    sqs = det["sqs_requests_per_txn"] * n + 2 * note_inv + a["sqs_event_source_idle_polls_per_month"] * n / monthly
    month_s = a["days_per_month"] * 86_400
    kms_fixed = (facts["encrypted_queues"] * a["kms_sqs_principals_per_queue"] * month_s / a["kms_sqs_data_key_reuse_s"]
                 + facts["encrypted_tables"] * a["kms_dynamodb_connections_per_table"] * month_s
                 / a["kms_dynamodb_table_key_refresh_s"])  # fmt: skip
    kms = kms_fixed * n / monthly + alerts * (a["kms_sns_requests_per_publish"] + a["kms_sns_requests_per_delivery"])
    log_bytes = (n * (api["log_bytes_per_txn"] + det["log_bytes_per_txn"] + note["log_bytes_per_txn"])
                 + (api_inv + det_inv + note_inv) * a["lambda_platform_log_bytes_per_invocation"]
                 + n * a["apigateway_access_log_bytes_per_request"])  # fmt: skip
    traces_per_s = sum(sampled_traces_per_s(r, a["xray_reservoir_per_second"], a["xray_fixed_rate"])
                       for r in (rate, rate / fill, rate * alerts_share))  # fmt: skip
    traces = traces_per_s / rate * n
    endpoint_hours = facts["interface_endpoints"] * facts["interface_endpoint_azs"] * 730
    fixed_monthly = {
        "vpc_interface_endpoints": endpoint_hours * p["vpc_interface_endpoint_az_hour"],
        "kms_keys": facts["kms_keys"] * p["kms_key_month"],
        "cloudwatch_metrics_alarms_dashboard": a["custom_metrics"] * p["cloudwatch_custom_metric_month"]
        + facts["alarms"] * p["cloudwatch_alarm_month"] + facts["dashboards"] * p["cloudwatch_dashboard_month"],
        "dynamodb_state_storage": state_bytes / GB * (p["dynamodb_storage_gb_month"] + p["dynamodb_pitr_gb_month"]),
    }
    usd = {
        "apigateway_requests": n * p["apigateway_rest_request_per_million"] / 1e6,
        "lambda_api": lambda_usd("api-handler", api_inv, api_ms),
        "lambda_detection": lambda_usd("fraud-detection", det_inv, det_ms),
        "lambda_notification": lambda_usd("notification-handler", note_inv, note_ms),
        "lambda_init": sum(init_usd(fn, inv, ms, cold.get(key, 0.0)) for fn, inv, ms, key in (
            ("api-handler", api_inv, api_ms, "api_handler"), ("fraud-detection", det_inv, det_ms, "fraud_detection"),
            ("notification-handler", note_inv, note_ms, "notification_handler"))),
        "dynamodb_writes": wru * p["dynamodb_wru_per_million"] / 1e6,
        "dynamodb_reads": rru * p["dynamodb_rru_per_million"] / 1e6,
        "dynamodb_transaction_storage": storage_gb * (p["dynamodb_storage_gb_month"] + p["dynamodb_pitr_gb_month"]),
        "sqs_requests": sqs * p["sqs_request_per_million"] / 1e6,
        "sns_publishes": alerts * p["sns_publish_per_million"] / 1e6,
        "sns_email_deliveries": alerts * p["sns_email_per_million"] / 1e6 if a["email_alerts"] else 0.0,
        "kms_requests": kms * p["kms_request_per_million"] / 1e6,
        "cloudwatch_logs": log_bytes / GB * (p["logs_ingest_gb"] + a["logs_stored_compression_ratio"]
                                             * a["log_retention_months"] * p["logs_storage_gb_month"]),
        "xray_traces": traces * p["xray_trace_recorded_per_million"] / 1e6,
        **{k: v * n / monthly for k, v in fixed_monthly.items()},
    }  # fmt: skip
    total = sum(usd.values())
    return {
        "daily_transactions": daily, "rate_per_s": round(rate, 2), "detection_batch_fill": round(fill, 1),
        "cost_usd_per_million": round(total, 3),
        # Same pipeline behind an HTTP API (no usage plans/API keys/request models): for the doc's comparison.
        "with_http_api_usd_per_million": round(total - usd["apigateway_requests"]
                                               + n * p["apigateway_http_request_per_million"] / 1e6, 3),
        "breakdown_usd_per_million": {k: round(v, 4) for k, v in sorted(usd.items(), key=lambda kv: -kv[1])},
        "fixed_usd_per_month": {k: round(v, 2) for k, v in fixed_monthly.items()},
        "billed_ms_per_invocation": {"api": api_ms, "detection": det_ms, "notification": note_ms},
        "detection_calls_per_1k_at_fill": round(sum(det["calls_per_txn"].values()) * 1000, 1),
        "wru_per_txn": round(wru / n, 2), "rru_per_txn": round(rru / n, 2),
        "log_bytes_per_txn": round(log_bytes / n, 1), "xray_traces_per_million": round(traces),
    }  # fmt: skip


def calls_from_records(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The cost model's view of aws_calls.py's JSON lines."""
    head = next(r for r in records if r.get("bench") == "aws_calls")
    stages = [r for r in records if r.get("bench") == "aws_calls_stage"]
    sweep = [{**r, "transactions": head["transactions"]} for r in records if r.get("bench") == "detection_batch_sweep"]
    return {**head, "stages": stages, "sweep": sweep}


def cold_from_records(records: Sequence[Mapping[str, Any]], init_mode: str = "eager") -> dict[str, float]:
    """Init work per new container (import + init + first use), in the mode the stack deploys."""
    return {r["handler"]: r.get("cold_ms", r["total_ms"]) for r in records
            if r.get("bench") == "cold_start" and r["handler"] != "floor" and r.get("init_mode", "eager") == init_mode}


def run(records: Sequence[Mapping[str, Any]], daily: Optional[float] = None) -> list[dict[str, Any]]:
    prices = json.loads(PRICES_FILE.read_text())
    facts = stack_facts(load_stack())
    calls, cold = calls_from_records(records), cold_from_records(records)
    base = daily or prices["assumptions"]["daily_transactions"]
    out = []
    for scale in (1, 10, 100):
        result = per_million(facts, calls, prices, base * scale, cold)
        record = {"bench": "cost_model", "scale": scale, **result}
        if scale == 1:
            record["managed_services_usd_per_million"] = prices["assumptions"]["managed_services_usd_per_million"]
            record["prices_as_of"] = prices["source"]
        out.append(emit(record))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="JSON lines of an earlier `python -m bench` run")
    parser.add_argument("--daily", type=float, help="transactions a day (default: prices.json assumption)")
    args = parser.parse_args(argv)
    if args.source:
        records = [json.loads(line) for line in args.source.read_text().splitlines() if line.startswith("{")]
    else:
        from bench import aws_calls, cold_start

        records = aws_calls.run() + cold_start.run(runs=3, importtime=False)
    run(records, args.daily)
    return 0


if __name__ == "__main__":
    sys.exit(main())

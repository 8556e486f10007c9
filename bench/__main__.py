"""The whole benchmark suite: `python -m bench` (what `make bench` runs), JSON lines on stdout.

    python -m bench                      # everything, < 15 minutes on 2 cores
    python -m bench --quick              # no profile, a one-point batch sweep, 3 cold-start runs, no deploy
    python -m bench --only scoring,calls,cold,cost,synth,pipeline

Every part prints its own JSON lines as it finishes (bench/<part>.py documents them); the
last line is the headline: the twelve figures compared across runs, under fixed keys, plus
the suite's wall time. A part that was not run leaves its headline keys null.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Optional

from bench.common import emit, load_stack, log, machine

PARTS = ("synth", "scoring", "calls", "cold", "cost", "pipeline")
HEADLINE_KEYS = (
    "scoring_us_per_txn", "detection_calls_per_1k", "seed_design_detection_calls_per_1k", "cold_start_ms_max",
    "api_latency_p50_ms", "api_latency_p99_ms", "alert_latency_p50_s", "alert_latency_p99_s",
    "max_clean_rate_per_s", "synth_s", "deploy_s", "cost_usd_per_million",
)  # fmt: skip


def headline(records: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """The fixed keys, each from the first record that carries it.

    Skipped: the cost model at 10x/100x, pipeline_latency's per-rate lines (the `pipeline`
    summary line holds the steady rate's figures) and cold starts in the non-default INIT_MODE.
    """
    found: dict[str, Any] = {key: None for key in HEADLINE_KEYS}
    for record in records:
        if ((record.get("bench") == "cost_model" and record.get("scale") != 1) or record.get("bench") == "pipeline_latency"
                or record.get("init_mode", "eager") != "eager"):
            continue
        for key in HEADLINE_KEYS:
            if found[key] is None and record.get(key) is not None:
                found[key] = record[key]
    return {"bench": "headline", **found, "suite_wall_s": round(wall_s, 1)}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a partial, faster run (no local deploy)")
    parser.add_argument("--only", default="", help=f"comma-separated parts: {','.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()] or list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    if args.quick and not args.only:
        parts.remove("pipeline")

    started = time.monotonic()
    records: list[dict[str, Any]] = [emit({"bench": "machine", **machine()})]
    if "synth" in parts:
        from bench import synth_deploy

        records.append(synth_deploy.measure_synth())
    else:
        load_stack()  # the other parts read the synthesized stack: make sure there is one
    if "scoring" in parts:
        from bench import scoring_cost

        records += scoring_cost.run(profile=not args.quick)
    if "calls" in parts or "cost" in parts:
        from bench import aws_calls

        # The configured size always runs; a small batch too, since the cost model interpolates at the real fill.
        records += aws_calls.run(sweep=(10,) if args.quick else (10, 100, 1000))
    if "cold" in parts or "cost" in parts:
        from bench import cold_start

        records += cold_start.run(runs=3 if args.quick else 7, importtime=not args.quick)
        if not args.quick:  # the alternative INIT_MODE, for the doc's comparison (not in the headline)
            records += cold_start.run(runs=3, importtime=False, init_mode="lazy")
    if "cost" in parts:
        from bench import cost_model

        records += cost_model.run(records)
    if "pipeline" in parts:
        from bench import synth_deploy

        records += synth_deploy.measure_pipeline([5, 10, 20, 40, 80, 160], steady=10, count=200)
    log(f"suite done in {time.monotonic() - started:.0f} s")
    emit(headline(records, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Synth time, local deploy time and the local pipeline's latency figures, in one deployment.

    python -m bench.synth_deploy [--no-pipeline] [--rates 5,10,20,40] [--steady 10] [--count 200]

synth_s: wall time of `python tap.py` in a fresh process (packaging + synth), for the bench's
own suffix. The pipeline part is bench/pipeline_latency.py's own `main` (imported, not
copied): it deploys that suffix on MiniStack (deploy_s), offers --count alerting transactions
at each rate of --rates open loop, and tears everything down. The headline latencies are
those of the --steady rate; max_clean_rate_per_s comes from its sweep line.

This machine runs one emulator at a time: other helpers' emulators (any live MiniStack
recorded under .local/) are waited for, up to --wait-s, and the pipeline part is skipped
with a `skipped` line if they are still running.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from typing import Any, Optional

from bench.common import BENCH_SUFFIX, REPO_ROOT, emit, log, synthesize


def busy_emulators(own_suffix: str = BENCH_SUFFIX) -> list[str]:
    """Suffixes of the live MiniStack instances other than ours (from their pidfiles)."""
    sys.path.insert(0, str(REPO_ROOT))
    from lib.local.emulator import Emulator

    busy = []
    for pidfile in sorted((REPO_ROOT / ".local").glob("*/emulator/emulator.json")):
        suffix = pidfile.parent.parent.name
        if suffix != own_suffix and Emulator(pidfile.parent).running() is not None:
            busy.append(suffix)
    return busy


def measure_synth(suffix: str = BENCH_SUFFIX) -> dict[str, Any]:
    log(f"synthesizing tap-stack-{suffix} in a fresh process")
    return emit({"bench": "synth", "suffix": suffix, "synth_s": round(synthesize(suffix), 2)})


def measure_pipeline(rates: list[float], steady: float, count: int, suffix: str = BENCH_SUFFIX,
                     wait_s: float = 300) -> list[dict[str, Any]]:
    """pipeline_latency.main on a fresh local deployment; its JSON lines plus the headline line."""
    deadline = time.monotonic() + wait_s
    while (busy := busy_emulators(suffix)) and time.monotonic() < deadline:
        log(f"waiting for other emulators to finish: {', '.join(busy)}")
        time.sleep(15)
    if busy:
        return [emit({"bench": "pipeline", "skipped": f"other emulators still running: {', '.join(busy)}"})]
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import pipeline_latency

    if steady not in rates:
        rates = sorted({*rates, steady})
    captured = io.StringIO()
    # Its JSON lines are captured here; subprocesses it starts (synth, terraform) write to file
    # descriptor 1 directly, so that goes to stderr for the duration: stdout stays JSON only.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(captured):
            code = pipeline_latency.main(["--suffix", suffix, "--count", str(count),
                                          "--sweep", ",".join(f"{r:g}" for r in rates)])  # fmt: skip
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    for line in lines:
        emit(line)
    runs = {line["rate_per_s"]: line for line in lines if line.get("bench") == "pipeline_latency"}
    sweep = next((line for line in lines if line.get("bench") == "pipeline_latency_sweep"), {})
    steady_run = runs.get(steady, {})
    headline = {
        "bench": "pipeline", "exit_code": code, "steady_rate_per_s": steady,
        "api_latency_p50_ms": steady_run.get("api_latency_p50_ms"),
        "api_latency_p99_ms": steady_run.get("api_latency_p99_ms"),
        "alert_latency_p50_s": steady_run.get("alert_latency_p50_s"),
        "alert_latency_p99_s": steady_run.get("alert_latency_p99_s"),
        "max_clean_rate_per_s": sweep.get("max_clean_rate_per_s"),
        "deploy_s": steady_run.get("deploy_s", sweep.get("deploy_s")),
        "rates": sorted(runs),
    }  # fmt: skip
    return lines + [emit(headline)]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pipeline", action="store_true", help="synth time only")
    parser.add_argument("--rates", default="5,10,20,40", help="offered rates of the sweep (per second)")
    parser.add_argument("--steady", type=float, default=10.0, help="the rate the headline latencies come from")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--wait-s", type=float, default=300.0, help="how long to wait for other emulators")
    args = parser.parse_args(argv)
    measure_synth()
    if not args.no_pipeline:
        measure_pipeline([float(r) for r in args.rates.split(",") if r.strip()], args.steady, args.count,
                         wait_s=args.wait_s)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Cold start: each handler's import + init from the extracted deployment zips, fresh interpreter each run.

    python -m bench.cold_start [--runs 7] [--init-mode eager|lazy]

As tests/unit/test_lambda_package.py does: function.zip is extracted as the task root,
layer.zip under opt/ (its `python/` is what Lambda puts on the path from /opt), and the
interpreter runs isolated (`-I -S -B`: no site-packages, no bytecode writes — the code
directory is read-only in Lambda) with only boto3/botocore & co from the runtime added.
The environment is Lambda's (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, region, memory),
so Powertools really enables the X-Ray tracer and the SDK uses its local sampler.

Timed inside the child: `import <handler>`, then `container()` (the per-container
dependencies: settings, store objects, the engine), then the handler's `warm_up()`: what its
first request builds on top (boto3 and the clients, the X-Ray botocore patch, the idempotency
layer, batch processing), without calling AWS. With INIT_MODE=eager (the stack's default,
`--init-mode`) the import itself runs warm_up(), as Lambda's init phase would, so `total_ms`
(import + init, the headline) holds everything and `first_use_ms` is ~0. With lazy, the work
moves to `first_use_ms` rather than disappearing: `cold_ms` (import + init + first use,
median) is reported beside `total_ms` in both modes.
Interpreter start-up itself (Lambda's runtime bootstrap) is not included. Median of --runs
runs per handler, taken round-robin, plus the floor: a bare `import boto3` + one client,
which every handler pays on its first request. Also the zips' sizes, and with --importtime
the heaviest imports of one run (`python -X importtime`), at import and at first use.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from bench.common import REPO_ROOT, emit, log, median

HANDLERS = {"api_handler": "api", "fraud_detection": "detection", "notification_handler": "notification"}
ENVIRONMENT = {
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "cold-start",
    "AWS_SECRET_ACCESS_KEY": "cold-start", "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR", "TRANSACTIONS_TABLE": "transactions-cs", "STATE_TABLE": "fraud-state-cs",
    "IDEMPOTENCY_TABLE": "idempotency-cs",
    "CARD_FINGERPRINT_KEY_ID": "arn:aws:kms:us-east-1:123456789012:alias/card-fingerprint-cs",
    "ALERT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/suspicious-transactions-cs",
    "FAILURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/fraud-detection-failures-cs",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:fraud-alerts-cs",
    "POWERTOOLS_METRICS_NAMESPACE": "FraudDetection", "LOG_LEVEL": "WARNING",
}  # fmt: skip

FIRST_USE_MARK = "-- first use --"
PROBE = f"""
import importlib, json, sys, time
name = sys.argv[1]
started = time.perf_counter()
if name == "floor":
    import boto3
    imported = time.perf_counter()
    boto3.client("dynamodb")
    ready = used = time.perf_counter()
else:
    module = importlib.import_module(name)
    imported = time.perf_counter()
    module.container()
    ready = time.perf_counter()
    print({FIRST_USE_MARK!r}, file=sys.stderr)  # splits the -X importtime output
    module.warm_up()
    used = time.perf_counter()
print(json.dumps({{"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000,
                  "first_use_ms": (used - ready) * 1000}}))
"""


def extract(root: Path) -> dict[str, Path]:
    """Build (or reuse) the zips and lay them out as Lambda does; a runtime dir with boto3 & co."""
    sys.path.insert(0, str(REPO_ROOT))
    from scripts.package_lambdas import lambda_layout, package

    return lambda_layout(*package(), root)


def probe(paths: dict[str, Path], name: str, extra: tuple[str, ...] = (), init_mode: str = "eager") -> dict[str, Any]:
    bootstrap = f"import sys; sys.path[:0] = {[str(paths[k]) for k in ('task', 'layer', 'runtime')]!r}; "
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENVIRONMENT, "LAMBDA_TASK_ROOT": str(paths["task"]),
           "POWERTOOLS_SERVICE_NAME": HANDLERS.get(name, "floor"), "INIT_MODE": init_mode}  # fmt: skip
    result = subprocess.run([sys.executable, "-I", "-S", "-B", *extra, "-c", bootstrap + PROBE, name],
                            cwd=paths["task"], env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed to load from the package:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if extra:
        report["importtime"] = result.stderr
    return report


def heaviest_imports(importtime: str, top: int = 8) -> list[dict[str, Any]]:
    """Top-level imports (as the handler pulls them in) by cumulative µs from `-X importtime`."""
    rows = []
    for line in importtime.splitlines():
        # "import time:  self [us] | cumulative | imported package", nesting shown by indentation
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append({"module": name.strip(), "cumulative_ms": round(int(parts[1]) / 1000, 1), "depth": depth})
    shallow = [r for r in rows if r["depth"] <= 1]
    return sorted(shallow, key=lambda r: -r["cumulative_ms"])[:top]


def import_phases(importtime: str) -> dict[str, list[dict[str, Any]]]:
    """The heaviest imports at import + init, and those the first use added (split at the probe's mark)."""
    before, _, after = importtime.partition(FIRST_USE_MARK)
    return {"heaviest_imports": heaviest_imports(before), "heaviest_first_use_imports": heaviest_imports(after)}


def summarize(name: str, samples: list[dict[str, float]]) -> dict[str, Any]:
    """One handler's row: medians of each phase, of import + init (`total_ms`) and of all three (`cold_ms`)."""
    def med(key: Callable[[dict[str, float]], float]) -> float:
        return round(median([key(s) for s in samples]), 1)

    record: dict[str, Any] = {
        "bench": "cold_start", "handler": name, "runs": len(samples),
        "import_ms": med(lambda s: s["import_ms"]), "init_ms": med(lambda s: s["init_ms"]),
        "total_ms": med(lambda s: s["import_ms"] + s["init_ms"]),
        "total_ms_min": round(min(s["import_ms"] + s["init_ms"] for s in samples), 1),
    }  # fmt: skip
    if name != "floor":
        record["first_use_ms"] = med(lambda s: s["first_use_ms"])
        record["cold_ms"] = med(lambda s: s["import_ms"] + s["init_ms"] + s["first_use_ms"])
    return record


def run(runs: int = 7, importtime: bool = True, init_mode: str = "eager") -> list[dict[str, Any]]:
    """`init_mode` as the stack sets INIT_MODE: eager (its default) builds everything during import."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        paths = extract(Path(tmp))
        out: list[dict[str, Any]] = []
        totals: dict[str, float] = {}
        colds: dict[str, float] = {}
        names = ("floor", *HANDLERS)
        log(f"cold start of {', '.join(names)} (INIT_MODE={init_mode}): {runs} fresh interpreters each")
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for _ in range(runs):
            for name in names:  # round-robin: a load change on a shared machine hits every row alike
                samples[name].append(probe(paths, name, init_mode=init_mode))
        for name in names:
            record = {**summarize(name, samples[name]), "init_mode": init_mode}
            if importtime and name != "floor":
                record.update(import_phases(probe(paths, name, ("-X", "importtime"), init_mode)["importtime"]))
            if name != "floor":
                totals[name] = record["total_ms"]
                colds[name] = record["cold_ms"]
            out.append(emit(record))
        sizes = {"function_zip_bytes": paths["function_zip"].stat().st_size, "layer_zip_bytes": paths["layer_zip"].stat().st_size,
                 "layer_unzipped_bytes": sum(f.stat().st_size for f in paths["layer"].rglob("*") if f.is_file()),
                 "function_unzipped_bytes": sum(f.stat().st_size for f in paths["task"].rglob("*") if f.is_file())}  # fmt: skip
        out.append(emit({"bench": "cold_start_summary", "init_mode": init_mode, "cold_start_ms_max": max(totals.values()),
                         "slowest": max(totals, key=totals.__getitem__), **{f"{k}_ms": v for k, v in totals.items()},
                         "cold_ms_max": max(colds.values()), **sizes}))  # fmt: skip
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-importtime", action="store_true")
    parser.add_argument("--init-mode", choices=("eager", "lazy"), default="eager",
                        help="INIT_MODE as the stack sets it (default: eager, the stack's default)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    run(args.runs, not args.no_importtime, args.init_mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())

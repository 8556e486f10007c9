"""Shared plumbing of the bench scripts: paths, JSON-line output, the synthesized stack.

Every bench prints one JSON object per line on stdout (progress goes to stderr), so
`python -m bench > results.jsonl` is the whole record of a run.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ROOT = REPO_ROOT / "lib" / "lambda"
SCRIPTS = REPO_ROOT / "scripts"
# The bench synthesizes and deploys its own environment: never the developer's `dev` or the tests' `itest`.
BENCH_SUFFIX = "perf"
PRICES_FILE = Path(__file__).resolve().parent / "prices.json"


def add_paths() -> None:
    """Repo root (lib.*, scripts.*) and the Lambda deployment root (handlers, fraud/, store/) importable."""
    for path in (str(LAMBDA_ROOT), str(SCRIPTS), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


def emit(record: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(record, sort_keys=False, default=str), flush=True)
    return record


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def machine() -> dict[str, Any]:
    """What the figures were measured on (goes into docs/BENCHMARKS.md)."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": memory_gib, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg": load, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# --- the synthesized stack -------------------------------------------------------------


def stack_json_path(suffix: str = BENCH_SUFFIX) -> Path:
    return REPO_ROOT / "cdktf.out" / "stacks" / f"tap-stack-{suffix}" / "cdk.tf.json"


def synthesize(suffix: str = BENCH_SUFFIX) -> float:
    """`python tap.py` in a fresh process for `suffix`; returns its wall time in seconds."""
    env = {**os.environ, "ENVIRONMENT_SUFFIX": suffix}
    watch = Stopwatch()
    result = subprocess.run([sys.executable, str(REPO_ROOT / "tap.py")], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"tap.py failed:\n{result.stderr[-3000:]}")
    return watch.seconds


def load_stack(suffix: str = BENCH_SUFFIX, synth_if_missing: bool = True) -> dict[str, Any]:
    """The parsed cdk.tf.json of the bench's stack (synthesized first when absent)."""
    path = stack_json_path(suffix)
    if not path.exists():
        if not synth_if_missing:
            raise FileNotFoundError(path)
        log(f"synthesizing tap-stack-{suffix} (no cdk.tf.json yet)")
        synthesize(suffix)
    return json.loads(path.read_text())


def resources(stack: dict[str, Any], kind: str) -> Iterator[dict[str, Any]]:
    yield from stack.get("resource", {}).get(kind, {}).values()


def function_settings(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per function base name (api-handler, fraud-detection, notification-handler): memory, arch, timeout."""
    found: dict[str, dict[str, Any]] = {}
    for fn in resources(stack, "aws_lambda_function"):
        base = fn["function_name"].rsplit("-", 1)[0]
        found[base] = {"memory_mb": int(fn["memory_size"]), "timeout_s": int(fn["timeout"]),
                       "architecture": (fn.get("architectures") or ["x86_64"])[0],
                       "vpc": bool(fn.get("vpc_config")), "tracing": (fn.get("tracing_config") or {}).get("mode")}  # fmt: skip
    return found


def stream_mapping(stack: dict[str, Any]) -> dict[str, Any]:
    """The DynamoDB stream → detection event source mapping (batch size, window, parallelization)."""
    for mapping in resources(stack, "aws_lambda_event_source_mapping"):
        if mapping.get("starting_position"):  # only stream mappings have one
            return {"batch_size": int(mapping["batch_size"]),
                    "batching_window_s": int(mapping.get("maximum_batching_window_in_seconds", 0)),
                    "parallelization_factor": int(mapping.get("parallelization_factor", 1))}  # fmt: skip
    raise ValueError("the stack has no stream event source mapping")


def queue_batch_size(stack: dict[str, Any]) -> int:
    for mapping in resources(stack, "aws_lambda_event_source_mapping"):
        if not mapping.get("starting_position"):
            return int(mapping.get("batch_size", 10))
    raise ValueError("the stack has no queue event source mapping")

"""The deployment package is complete: each handler imports and wires up in a clean interpreter.

The function zip is extracted as the task root and the layer zip into `python/` (as
Lambda mounts it under /opt), then each handler is imported by `python -I -S` — no
site-packages, no virtualenv — whose only third-party modules are what the python3.11
runtime ships (boto3, botocore and their dependencies). A dependency missing from the
layer, or a data file missing from the zip, fails here instead of on the first invocation.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the Lambda python3.11 runtime provides besides the standard library.
HANDLERS = ("api_handler", "fraud_detection", "notification_handler")
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "package-test",
    "AWS_SECRET_ACCESS_KEY": "package-test",
    "AWS_LAMBDA_FUNCTION_NAME": "package-test",
    "TRANSACTIONS_TABLE": "transactions-pkg",
    "STATE_TABLE": "fraud-state-pkg",
    "IDEMPOTENCY_TABLE": "idempotency-pkg",
    "CARD_FINGERPRINT_KEY_ID": "arn:aws:kms:us-east-1:123456789012:alias/card-fingerprint-pkg",
    "ALERT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/suspicious-transactions-pkg",
    "FAILURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/fraud-detection-failures-pkg",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:fraud-alerts-pkg",
    "POWERTOOLS_METRICS_NAMESPACE": "FraudDetection",
    "LOG_LEVEL": "INFO",
}

# Runs inside the clean interpreter: import, then build everything a first request builds.
PROBE = """
import importlib, json, sys, time
name = sys.argv[1]
started = time.perf_counter()
module = importlib.import_module(name)
imported = time.perf_counter()
module.container()
module.warm_up()  # what the handlers defer to their first request: boto3, clients, Powertools utilities
if name == "api_handler":
    module._feedback_recorder()  # the feedback route's lazily imported engine and state store
ready = time.perf_counter()
stray = sorted({m.__file__.split("/site-packages/")[0] for m in list(sys.modules.values())
                if getattr(m, "__file__", None) and "/site-packages/" in m.__file__})
print(json.dumps({"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000,
                  "boto3": sys.modules["boto3"].__file__, "stray": stray}))
"""


def _load_packager() -> Any:
    spec = importlib.util.spec_from_file_location("package_lambdas", REPO_ROOT / "scripts" / "package_lambdas.py")
    assert spec and spec.loader, "scripts/package_lambdas.py is missing"
    if spec.name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[spec.name]


@pytest.fixture(scope="module")
def lambda_root(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    packager = _load_packager()
    return packager.lambda_layout(*packager.package(), tmp_path_factory.mktemp("lambda"))


def test_zips_hold_what_lambda_loads(lambda_root: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(lambda_root["function_zip"]).namelist())
    assert {f"{h}.py" for h in HANDLERS} <= names
    assert "fraud/rules.json" in names and "store/state_store.py" in names
    assert not any(n.startswith("tests/") or "/test_" in n for n in names)
    # Bytecode only as the packager writes it: one cpython-311 pyc per shipped module.
    pycs = {n for n in names if "__pycache__" in n}
    for module in (n for n in names if n.endswith(".py")):
        folder, _, file = module.rpartition("/")
        pyc = f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.cpython-311.pyc"
        assert pyc in names, f"{module} ships without bytecode"
    assert all(n.endswith(".cpython-311.pyc") for n in pycs)
    layer = {n.split("/")[1] for n in zipfile.ZipFile(lambda_root["layer_zip"]).namelist()}
    assert "aws_lambda_powertools" in layer and "aws_xray_sdk" in layer
    assert not {"boto3", "botocore"} & layer  # the runtime's copies must not be shadowed


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_imports_in_a_clean_interpreter(lambda_root: dict[str, Path], handler: str) -> None:
    paths = [lambda_root["task"], lambda_root["layer"], lambda_root["runtime"]]
    bootstrap = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}; "
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **ENVIRONMENT,
        # As in Lambda: Powertools then really enables the X-Ray tracer (and imports its SDK).
        "LAMBDA_TASK_ROOT": str(lambda_root["task"]),
        "POWERTOOLS_SERVICE_NAME": handler,
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }
    result = subprocess.run(
        # -B: Lambda's task root and /opt are read-only, so no bytecode is ever cached there.
        [sys.executable, "-I", "-S", "-B", "-c", bootstrap + PROBE, handler],
        cwd=lambda_root["task"], env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{handler} failed to load from the package:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["boto3"].startswith(str(lambda_root["runtime"]))
    # Nothing may come from an installed site-packages (the venv): only task root, layer, runtime.
    allowed = tuple(str(p) for p in (lambda_root["layer"], lambda_root["runtime"]))
    assert all(path.startswith(allowed) for path in report["stray"]), report["stray"]
    print(f"{handler}: import {report['import_ms']:.0f} ms, init {report['init_ms']:.0f} ms")

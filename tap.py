#!/usr/bin/env python3
"""CDKTF app: environment -> StackConfig -> TapStack -> cdktf.out/stacks/tap-stack-<suffix>/.

    python3 tap.py            # or `cdktf synth`, which runs this (see cdktf.json)

Environment: ENVIRONMENT_SUFFIX, AWS_REGION, TERRAFORM_STATE_BUCKET (+ _REGION), ALERT_EMAIL,
RESERVED_CONCURRENCY, STREAM_BATCH_SIZE, STREAM_PARALLELIZATION_FACTOR, LOG_LEVEL (README).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import lib.constructs  # noqa: E402,F401  (sets JSII_NODE to the wheel's Node before cdktf loads)
from cdktf import App  # noqa: E402

from lib.config import ConfigError, StackConfig  # noqa: E402
from lib.constructs.code import LambdaArtifacts  # noqa: E402
from lib.tap_stack import TapStack  # noqa: E402
from scripts.package_lambdas import package  # noqa: E402

DEFAULT_OUTDIR = REPO_ROOT / "cdktf.out"


def synth(config: StackConfig, outdir: str | Path = DEFAULT_OUTDIR) -> Path:
    """Package the Lambda code, synthesize the stack; returns the path of its cdk.tf.json."""
    function_zip, layer_zip = package()
    app = App(outdir=str(outdir))
    TapStack(app, config, LambdaArtifacts(function=function_zip, layer=layer_zip))
    app.synth()
    return Path(outdir) / "stacks" / config.stack_name / "cdk.tf.json"


def main() -> int:
    try:
        config = StackConfig.from_env()
    except ConfigError as error:
        print(f"tap.py: {error}", file=sys.stderr)
        return 2
    # `cdktf synth` tells the app where to write through CDKTF_OUTDIR.
    outdir = os.environ.get("CDKTF_OUTDIR") or DEFAULT_OUTDIR
    path = synth(config, outdir)
    print(f"synthesized {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m lib.local up|down|status`: the local stack as a background service.

    up      start MiniStack in the background, deploy the synthesized stack, write
            outputs.json (CDKTF outputs-file format, API key included) and return
    down    destroy the stack and stop MiniStack (by its recorded PID)
    status  what is running, as JSON

Environment: ENVIRONMENT_SUFFIX (default dev), TAP_LOCAL_PORT (default: a free port),
TAP_TF_PLUGIN_DIR (provider mirror root), TAP_TF_PARALLELISM (default 30).
"""
from __future__ import annotations

import argparse
import json
import sys

from lib.local.deploy import SynthMissing
from lib.local.emulator import EmulatorError
from lib.local.session import LocalStack
from lib.local.terraform import TerraformFailed, ToolingMissing


def _up(stack: LocalStack) -> int:
    try:
        outputs = stack.up()
    except (ToolingMissing, SynthMissing, EmulatorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not isinstance(exc, EmulatorError) or stack.emulator.running() is None:
            stack.down()
        return 2
    except BaseException as exc:
        # Never leave a half-deployed emulator behind a failed `up`.
        print(f"error: {exc}; tearing down", file=sys.stderr)
        stack.down()
        return 1
    print()
    print(f"Local stack tap-stack-{outputs.suffix} is up ({stack.timings.get('deploy_total_s', 0):.0f}s).")
    print(f"  API      {outputs.api_url}")
    print(f"  API key  {outputs.api_key}")
    print(f"  boto3    endpoint_url={outputs.endpoint_url} (keys: test/test, region {outputs.region})")
    print(f"  outputs  {stack.outputs_path}")
    print("  try:")
    print(f"    curl -s -X POST '{outputs.api_url}' -H 'x-api-key: {outputs.api_key}' \\")
    print("      -H 'Content-Type: application/json' -d '{\"amount\": 125.50, \"merchant\": \"Store Name\", "
          "\"card_number\": \"1234567890123456\", \"location\": \"New York, USA\", \"customer_id\": \"CUST12345\"}'")
    print("  stop with: python -m lib.local down   (make down)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    stack = LocalStack()
    if args.command == "up":
        return _up(stack)
    if args.command == "down":
        try:
            stack.down()
        except (ToolingMissing, TerraformFailed) as exc:
            print(f"error: {exc} (the emulator was stopped anyway)", file=sys.stderr)
            return 1
        return 0
    print(json.dumps(stack.status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

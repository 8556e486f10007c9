#!/usr/bin/env bash
# checkov on the synthesized stack, from its own virtualenv (it pins many dependencies).
#   bash scripts/run_checkov.sh [STACK_DIR]    default: cdktf.out/stacks/tap-stack-$ENVIRONMENT_SUFFIX
# Prints passed/failed/skipped counts and every failed check; exits non-zero if any check fails.
# Skips and their reasons live in .checkov.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
VENV=.venv-checkov
STACK_DIR="${1:-cdktf.out/stacks/tap-stack-${ENVIRONMENT_SUFFIX:-dev}}"

if ! "$VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "installing checkov==$CHECKOV_VERSION into $VENV ..."
  python3 -m venv "$VENV"
  # The machine's pip.conf adds local indexes that only warn; PyPI is the source of truth.
  PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
fi

if [ ! -f "$STACK_DIR/cdk.tf.json" ]; then
  echo "run_checkov: $STACK_DIR/cdk.tf.json not found (run 'make synth' first)" >&2
  exit 2
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
set +e
"$VENV/bin/checkov" -d "$STACK_DIR" --framework terraform_json --config-file .checkov.yaml \
  --output json >"$report"
status=$?
set -e

skip_ids="$(grep -cE '^\s*-\s*CKV' .checkov.yaml || true)"
"$VENV/bin/python" - "$report" "$STACK_DIR" "$skip_ids" <<'PY'
import json
import sys

raw = open(sys.argv[1]).read().strip()
data = json.loads(raw) if raw else {}
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = 0
for report in reports:
    summary = report.get("summary", report)
    passed += summary.get("passed", 0)
    failed += summary.get("failed", 0)
    skipped += summary.get("skipped", 0)
    for check in report.get("results", {}).get("failed_checks", []):
        print(f"FAILED {check['check_id']} {check['resource']}: {check['check_name']}")
print(f"checkov {sys.argv[2]}: passed={passed} failed={failed} skipped={skipped} "
      f"(+{sys.argv[3]} check ids skipped with reasons in .checkov.yaml)")
PY
exit "$status"

#!/usr/bin/env python3
"""The whole pipeline on a local AWS emulator, with example traffic (`make demo`).

Starts MiniStack on 127.0.0.1, deploys the synthesized stack with Terraform,
submits the spec's two example transactions plus a short stream of realistic
traffic, prints each transaction's score, decision and reasons as it is scored
and each alert e-mail as it arrives, then a summary. Without --once the stack
stays up (API URL and key printed for curl) until Ctrl-C; then it is destroyed.

    python scripts/demo.py [--once] [--count 30] [--rate 4] [--seed 11]
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lib.local.deploy import SynthMissing, require_synth, synthesize  # noqa: E402
from lib.local.inbox import Alert, AlertInbox  # noqa: E402
from lib.local.outputs import StackOutputs  # noqa: E402
from lib.local.session import LocalStack, default_suffix  # noqa: E402
from lib.local.terraform import TerraformFailed, ToolingMissing  # noqa: E402
from lib.local.traffic import Pipeline, Submission, queue_depth, summarize  # noqa: E402

# The spec's two curl examples, verbatim.
SPEC_EXAMPLES: list[dict[str, Any]] = [
    {"amount": 125.50, "merchant": "Store Name", "card_number": "1234567890123456",
     "location": "New York, USA", "customer_id": "CUST12345"},
    {"amount": 15000.00, "merchant": "Unknown Store", "card_number": "1234567890123456", "location": "Nigeria"},
]


def realistic_traffic(count: int, seed: int) -> list[dict[str, Any]]:
    """Rows from scripts/simulate.py (about a fifth of them fraud scenarios), as API bodies."""
    from scripts.simulate import Simulator, parse_args

    rows = Simulator(parse_args(["--out", "-", "--customers", "60", "--merchants", "40", "--days", "3",
                                 "--seed", str(seed), "--fraud-scale", "40"])).run()
    rng = random.Random(seed)
    fraud = [r for r in rows if r[6]]
    normal = [r for r in rows if not r[6]]
    picked = rng.sample(fraud, min(len(fraud), max(1, count // 5)))
    picked += rng.sample(normal, min(len(normal), count - len(picked)))
    picked.sort(key=lambda r: r[0])  # event-time order keeps per-card histories coherent
    bodies = []
    for _ts, customer, card, merchant, cents, location, _fraud in picked:
        # Online merchants have no location in the simulation; the API requires one.
        body: dict[str, Any] = {"amount": round(cents / 100, 2), "merchant": merchant, "card_number": card,
                                "location": location or "Online"}
        if customer:
            body["customer_id"] = customer
        bodies.append(body)
    return bodies


def _describe(body: dict[str, Any]) -> str:
    return f"${body['amount']:,.2f} at {body['merchant']} ({body['location']})"


def print_scored(sub: Submission) -> None:
    item = sub.item or {}
    reasons = ", ".join(f"{r.get('code')}(+{r.get('contribution')})" for r in item.get("reasons") or []) or "-"
    print(f"  scored   {sub.transaction_id}  score={item.get('risk_score'):>3}  "
          f"decision={item.get('decision'):<7}  reasons: {reasons}", flush=True)


def print_alert(alert: Alert, sub: Optional[Submission]) -> None:
    print("  ┌─ ALERT e-mail ───────────────────────────────────────────────", flush=True)
    print(f"  │ Subject: {alert.subject}")
    if alert.attributes:
        print(f"  │ Attributes: {json.dumps(alert.attributes)}")
    for line in alert.message.splitlines() or [""]:
        print(f"  │ {line}")
    if sub is not None and sub.alert_latency_s is not None:
        print(f"  └─ {sub.alert_latency_s:.2f}s after submission", flush=True)
    else:
        print("  └─", flush=True)


def run_traffic(outputs: StackOutputs, count: int, rate: float, seed: int) -> dict[str, Any]:
    assert outputs.alert_inbox_queue_url and outputs.topic_arn
    inbox = AlertInbox(outputs.client("sqs"), outputs.client("sns"), outputs.alert_inbox_queue_url)
    pipeline = Pipeline(outputs, inbox)
    bodies = SPEC_EXAMPLES + realistic_traffic(count, seed)
    print(f"\n==> submitting {len(bodies)} transactions ({len(SPEC_EXAMPLES)} spec examples + {count} "
          f"simulated) at {rate:g}/s", flush=True)
    submissions: list[Submission] = []
    for index, body in enumerate(bodies, 1):
        sub = pipeline.submit(body)
        submissions.append(sub)
        shown = sub.transaction_id if sub.accepted else json.dumps(sub.response)[:120]
        print(f"  [{index:>2}/{len(bodies)}] {sub.status} {shown}  {_describe(body)}  "
              f"{sub.latency_s * 1000:.0f}ms", flush=True)
        # Show scores and alerts while we are still submitting.
        pipeline.follow(submissions, 0, on_scored=print_scored, on_alert=print_alert)
        time.sleep(max(0.0, 1 / rate - sub.latency_s))
    print("==> waiting for the remaining scores and alerts (up to 60s)", flush=True)
    strays = pipeline.follow(submissions, 60, on_scored=print_scored, on_alert=print_alert, settle_s=2)
    sqs = outputs.client("sqs")
    dlq = (queue_depth(sqs, outputs.dlq_url) or 0) + (queue_depth(sqs, outputs.failure_queue_url) or 0)
    summary = summarize(submissions, dlq_depth=dlq)
    summary["unmatched_alerts"] = len(strays)
    # The spec's promise, checked: the $15,000 example produced its alert.
    summary["spec_alert_seen"] = bool(submissions[1].alerts)
    print("\n==> summary")
    print(f"  accepted {summary['accepted']}/{summary['submitted']}   scored {summary['scored']}   "
          f"flagged {summary['flagged']}   alerted {summary['alerted']}   in DLQ {summary['in_dlq']}")
    print(f"  API latency      p50 {summary['api_latency_p50_ms']} ms   p99 {summary['api_latency_p99_ms']} ms")
    print(f"  submit→scored    p50 {summary['scored_latency_p50_s']} s   p99 {summary['scored_latency_p99_s']} s")
    print(f"  submit→alert     p50 {summary['alert_latency_p50_s']} s   p99 {summary['alert_latency_p99_s']} s")
    print(json.dumps(summary), flush=True)
    return summary


def wait_for_interrupt(outputs: StackOutputs) -> None:
    print("\n==> the stack stays up; try it with curl (Ctrl-C to tear down):")
    print(f"  API_URL={outputs.api_url}")
    print(f"  API_KEY={outputs.api_key}")
    print("  curl -s -X POST \"$API_URL\" -H \"x-api-key: $API_KEY\" -H 'Content-Type: application/json' \\")
    print("    -d '{\"amount\": 15000.00, \"merchant\": \"Unknown Store\", \"card_number\": \"1234567890123456\", "
          "\"location\": \"Nigeria\"}'")
    print("  curl -s \"$API_URL/<transaction_id>\" -H \"x-api-key: $API_KEY\"")
    print("  alerts for your requests will be printed here as they arrive", flush=True)
    assert outputs.alert_inbox_queue_url
    inbox = AlertInbox(outputs.client("sqs"), outputs.client("sns"), outputs.alert_inbox_queue_url)
    while True:
        for alert in inbox.receive(wait_s=2):
            print_alert(alert, None)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="exit (and tear down) after the summary")
    parser.add_argument("--count", type=int, default=30, help="simulated transactions after the spec examples")
    parser.add_argument("--rate", type=float, default=4.0, help="submissions per second")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    suffix = default_suffix()
    try:
        require_synth(suffix)
    except SynthMissing:
        synthesize(suffix)
    # SIGTERM (e.g. from a CI timeout) tears down like Ctrl-C does; and Ctrl-C works even when
    # the shell started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = LocalStack(suffix)
    running = stack.emulator.running()
    if running is not None:  # someone's `make up`: never tear that down from here
        print(f"error: a local tap-stack-{suffix} is already up ({running.endpoint_url}); run `make down` "
              "first or pick another ENVIRONMENT_SUFFIX", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        outputs = stack.up()
        print(f"\n==> deployed tap-stack-{suffix} in {time.monotonic() - started:.0f}s "
              f"(apply {stack.timings.get('terraform_apply_s')}s)", flush=True)
        summary = run_traffic(outputs, args.count, args.rate, args.seed)
        if not args.once:
            try:
                wait_for_interrupt(outputs)
            except KeyboardInterrupt:  # the expected way to end the interactive demo
                print("\n==> Ctrl-C", flush=True)
        healthy = (summary["accepted"] == summary["submitted"] == summary["scored"]
                   and summary["spec_alert_seen"] and summary["duplicate_alerts"] == 0)
        return 0 if healthy else 1
    except KeyboardInterrupt:
        print("\n==> interrupted", flush=True)
        return 130
    except (ToolingMissing, SynthMissing, TerraformFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        print("==> tearing down", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan the emulator
        stack.down()


if __name__ == "__main__":
    sys.exit(main())

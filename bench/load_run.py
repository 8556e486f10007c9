#!/usr/bin/env python3
"""Load run: >= 10,000 transactions through the whole local pipeline; nothing lost, nothing doubled.

    python bench/load_run.py [--count 10000] [--concurrency 16] [--outputs FILE] [--suffix load]

Deploys a fresh local stack (MiniStack on 127.0.0.1, suffix `load`) unless --outputs names a
running deployment. Client threads POST a realistic mix (a pool of cards, everyday merchants
and places, ~8 % high-risk traffic) with an Idempotency-Key each, retrying a 429/5xx/timeout
with the same key as a well-behaved client would. Meanwhile the alert inbox (a queue on the
topic) is drained continuously. Then, within --drain-s, every accepted transaction must be
scored and every alertable one (flagged at or above the alert threshold) alerted; it keeps
listening --settle-s more so a duplicate would be seen.

Prints one JSON line: accepted, scored, flagged, alerted, lost (accepted but never scored,
plus alertable but never alerted: must be 0), duplicated alerts (must be 0), duration and
rates, parked messages (DLQ, failure queue). Exit 1 when lost or duplicated is not 0.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import secrets
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lib.local.inbox import AlertInbox  # noqa: E402
from lib.local.outputs import StackOutputs  # noqa: E402
from lib.local.traffic import ALERT_THRESHOLD, Pipeline, percentile, queue_depth  # noqa: E402

MERCHANTS = ["Corner Grocery", "Blue Bottle Cafe", "City Pharmacy", "Metro Transit", "Harbor Books", "Fuel Stop 24",
             "Green Market", "Pixel Electronics", "Sunrise Bakery", "Northside Hardware", "Cinema Nova", "Daily Deli"]  # fmt: skip
PLACES = ["New York, USA", "Chicago, USA", "Austin, USA", "Seattle, USA", "Denver, USA", "Boston, USA", "London, UK",
          "Toronto, Canada", "Berlin, Germany", "Paris, France"]  # fmt: skip
RISKY = [("Unknown Store", "Nigeria"), ("Scam Store", "Lagos, Nigeria"), ("Gift Cards 4U", "Tehran, Iran"),
         ("Unknown Store", "Yangon, Myanmar")]  # fmt: skip
_TXN_ID = re.compile(r"Transaction:\s+([A-Za-z0-9_-]{8,64})")
RETRYABLE = {429, 500, 502, 503, 504}


def luhn_card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(map(int, reversed(body))))
    return body + str((10 - total % 10) % 10)


def workload(count: int, seed: int) -> list[dict[str, Any]]:
    """A repeatable mix: 2,000 cards reused across everyday purchases, ~8 % high-risk ones."""
    rng = random.Random(seed)
    cards = [luhn_card(rng) for _ in range(2000)]
    bodies = []
    for index in range(count):
        if rng.random() < 0.08:
            merchant, location = rng.choice(RISKY)
            amount = rng.choice([15000.00, 12500.50, 20.00, 40.00, round(rng.uniform(50, 900), 2)])
        else:
            merchant, location = rng.choice(MERCHANTS), rng.choice(PLACES)
            amount = round(rng.lognormvariate(3.3, 0.9), 2) or 1.00
        bodies.append({"amount": min(amount, 9999.99) if location in PLACES else amount, "merchant": merchant,
                       "card_number": rng.choice(cards), "location": location,
                       "customer_id": f"CUST{index % 3000:05d}"})  # fmt: skip
    return bodies


class Client:
    """POST with an Idempotency-Key; retries keep the key, so a retry can never record twice."""

    def __init__(self, outputs: StackOutputs, attempts: int = 6) -> None:
        self.outputs = outputs
        self.attempts = attempts
        self.local = threading.local()
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update({"x-api-key": self.outputs.api_key or "", "Content-Type": "application/json"})
        return self.local.session

    def submit(self, body: dict[str, Any]) -> Optional[str]:
        key = secrets.token_hex(16)
        for attempt in range(self.attempts):
            started = time.perf_counter()
            try:
                resp = self._session().post(self.outputs.api_url, data=json.dumps(body), timeout=30,
                                            headers={"Idempotency-Key": key})  # fmt: skip
                status = resp.status_code
            except requests.RequestException:
                status = 0
            with self.lock:
                self.statuses[status] += 1
                self.latencies.append((time.perf_counter() - started) * 1000)
            if status == 201:
                return str(resp.json()["transaction_id"])
            if status not in RETRYABLE and status != 0:
                return None  # a client error: not retryable
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.random())
        return None


class InboxDrain(threading.Thread):
    """Counts alerts per transaction id as they arrive (the inbox deletes what it returns)."""

    def __init__(self, inbox: AlertInbox) -> None:
        super().__init__(daemon=True)
        self.inbox = inbox
        self.counts: Counter[str] = Counter()
        self.unmatched = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.is_set():
            for alert in self.inbox.receive(wait_s=1):
                found = _TXN_ID.search(alert.message)
                with self.lock:
                    if found:
                        self.counts[found.group(1)] += 1
                    else:
                        self.unmatched += 1


def alertable(item: dict[str, Any]) -> bool:
    score = item.get("risk_score")
    return item.get("decision") not in (None, "approve") and score is not None and float(score) >= ALERT_THRESHOLD


def run(outputs: StackOutputs, inbox: AlertInbox, args: argparse.Namespace) -> dict[str, Any]:
    pipeline = Pipeline(outputs, inbox)
    inbox.drain(quiet_s=0)
    bodies = workload(args.count, args.seed)
    client = Client(outputs)
    drain = InboxDrain(inbox)
    drain.start()
    log(f"submitting {args.count} transactions on {args.concurrency} threads")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        ids = [tid for tid in pool.map(client.submit, bodies) if tid]
    submit_s = time.monotonic() - started
    accepted = list(dict.fromkeys(ids))
    log(f"accepted {len(accepted)} in {submit_s:.0f}s; waiting for scores and alerts (<= {args.drain_s:.0f}s)")

    items: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + args.drain_s
    all_scored_at: Optional[float] = None
    while time.monotonic() < deadline:
        pending = [tid for tid in accepted if items.get(tid, {}).get("decision") is None]
        items.update(pipeline.fetch_items(pending))
        unscored = sum(1 for tid in accepted if items.get(tid, {}).get("decision") is None)
        with drain.lock:
            unalerted = sum(1 for tid in accepted if tid in items and alertable(items[tid]) and not drain.counts[tid])
        if not unscored and all_scored_at is None:
            all_scored_at = time.monotonic()
        if not unscored and not unalerted:
            break
        log(f"  unscored {unscored}, alertable not yet alerted {unalerted}")
        time.sleep(2)
    time.sleep(args.settle_s)  # a duplicate arriving late is still counted
    drain.stop.set()
    drain.join(timeout=5)
    duration_s = time.monotonic() - started

    scored = [tid for tid in accepted if items.get(tid, {}).get("decision") is not None]
    flagged = [tid for tid in scored if items[tid]["decision"] != "approve"]
    expected = [tid for tid in scored if alertable(items[tid])]
    alerted = [tid for tid in accepted if drain.counts[tid]]
    expected_set = set(expected)
    sqs = outputs.client("sqs")
    return {
        "bench": "load_run", "count": args.count, "concurrency": args.concurrency,
        "accepted": len(accepted), "rejected": args.count - len(ids), "duplicate_ids": len(ids) - len(accepted),
        "scored": len(scored), "flagged": len(flagged), "alertable": len(expected), "alerted": len(alerted),
        "lost": (len(accepted) - len(scored)) + sum(1 for tid in expected if not drain.counts[tid]),
        "lost_unscored": len(accepted) - len(scored),
        "lost_alerts": sum(1 for tid in expected if not drain.counts[tid]),
        "unexpected_alerts": sum(1 for tid in alerted if tid not in expected_set) + drain.unmatched,
        "duplicated_alerts": sum(n - 1 for n in drain.counts.values() if n > 1),
        "http_statuses": {str(k): v for k, v in sorted(client.statuses.items())},
        "api_latency_p50_ms": round(percentile(client.latencies, 50) or 0, 1),
        "api_latency_p99_ms": round(percentile(client.latencies, 99) or 0, 1),
        "submit_s": round(submit_s, 1), "duration_s": round(duration_s, 1),
        "accept_rate_per_s": round(len(accepted) / submit_s, 1) if submit_s else None,
        "scored_rate_per_s": round(len(scored) / (all_scored_at - started), 1) if all_scored_at else None,
        "in_dlq": queue_depth(sqs, outputs.dlq_url), "in_failure_queue": queue_depth(sqs, outputs.failure_queue_url),
    }  # fmt: skip


def log(message: str) -> None:
    print(f"[load_run] {message}", file=sys.stderr, flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--drain-s", type=float, default=600.0, help="bound on the wait for scores and alerts")
    parser.add_argument("--settle-s", type=float, default=5.0, help="listen this long for late duplicates")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--outputs", type=Path, help="outputs file of a running deployment (no deploy)")
    parser.add_argument("--suffix", default="load", help="suffix of the stack deployed for the run")
    args = parser.parse_args(argv)
    if args.count < 1 or args.concurrency < 1:
        parser.error("--count and --concurrency must be positive")

    stack = None
    if args.outputs:
        outputs = StackOutputs.from_file(args.outputs).resolve_missing()
    else:
        from lib.local.deploy import synthesize
        from lib.local.session import LOCAL_ROOT, LocalStack

        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
            synthesize(args.suffix)
            stack = LocalStack(args.suffix, outputs_path=LOCAL_ROOT / args.suffix / "outputs.json")
            if stack.emulator.running() is not None:
                stack.down()  # a leftover of an interrupted run of this (own) suffix
            try:
                outputs = stack.up()
            except BaseException:
                stack.down()
                raise
    created = None
    try:
        if outputs.alert_inbox_queue_url:
            inbox = AlertInbox(outputs.client("sqs"), outputs.client("sns"), outputs.alert_inbox_queue_url)
        else:
            assert outputs.topic_arn, "no fraud-alerts topic in the outputs"
            created = inbox = AlertInbox.create(outputs.client("sqs"), outputs.client("sns"), outputs.topic_arn,
                                                f"alert-inbox-load-{secrets.token_hex(3)}")  # fmt: skip
        result = run(outputs, inbox, args)
        if stack is not None:
            result["deploy_s"] = stack.timings.get("deploy_total_s")
    finally:
        if created is not None:
            created.delete()
        if stack is not None:
            with contextlib.redirect_stdout(sys.stderr):
                stack.down()
    print(json.dumps(result), flush=True)
    return 0 if result["lost"] == 0 and result["duplicated_alerts"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

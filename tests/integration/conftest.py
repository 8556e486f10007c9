"""Integration fixtures: a deployed pipeline, from an outputs file or deployed here once.

Where the stack comes from (first match wins):
  1. OUTPUTS_FILE=<path>  a CDKTF outputs file (`cdktf deploy --outputs-file ... \
     --outputs-file-include-sensitive-outputs`, or `make up`'s outputs.json);
  2. the spec's API_ENDPOINT + DYNAMODB_TABLE (+ SQS_QUEUE_URL, API_KEY) variables;
  3. otherwise a fresh local stack (suffix `itest`, MiniStack on 127.0.0.1) is
     synthesized from the current code, deployed once for the session and
     destroyed at the end.

Against real AWS nothing is created except a temporary alert-inbox queue
subscribed to the topic, deleted at the end.
"""
from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lib.local.inbox import AlertInbox  # noqa: E402
from lib.local.outputs import StackOutputs, load  # noqa: E402
from lib.local.traffic import Pipeline, luhn_card  # noqa: E402

ITEST_SUFFIX = os.environ.get("TAP_ITEST_SUFFIX", "itest")


def _configured() -> bool:
    return bool(os.environ.get("OUTPUTS_FILE")) or bool(
        os.environ.get("API_ENDPOINT") and os.environ.get("DYNAMODB_TABLE")
    )


@pytest.fixture(scope="session")
def outputs() -> Iterator[StackOutputs]:
    if _configured():
        found = load().resolve_missing()
        if not found.api_key:
            pytest.fail("the outputs carry no API key: set API_KEY or include sensitive outputs in the file")
        yield found
        return
    from lib.local.deploy import synthesize
    from lib.local.session import LOCAL_ROOT, LocalStack
    from lib.local.terraform import ToolingMissing

    # Always from the current code: a stale synth would test yesterday's handlers.
    if os.environ.get("TAP_ITEST_SKIP_SYNTH") != "1":
        synthesize(ITEST_SUFFIX)
    stack = LocalStack(ITEST_SUFFIX, outputs_path=LOCAL_ROOT / ITEST_SUFFIX / "outputs.json")
    if stack.emulator.running() is not None:
        print(f"\n[itest] stopping a leftover emulator for {ITEST_SUFFIX}", flush=True)
        stack.down()
    try:
        deployed = stack.up()
    except ToolingMissing as exc:
        stack.down()
        pytest.fail(str(exc))  # never skip silently: the message says what to install
    except BaseException:
        stack.down()
        raise
    try:
        yield deployed
    finally:
        stack.down()


@pytest.fixture(scope="session")
def inbox(outputs: StackOutputs) -> Iterator[AlertInbox]:
    """The alert inbox: the local deployment's, or a temporary subscription on real AWS."""
    sqs, sns = outputs.client("sqs"), outputs.client("sns")
    if outputs.alert_inbox_queue_url:
        box = AlertInbox(sqs, sns, outputs.alert_inbox_queue_url)
        box.drain(quiet_s=0)
        yield box
        return
    if not outputs.topic_arn:
        pytest.fail(f"no {outputs.name('fraud-alerts')} topic found for the alert inbox")
    box = AlertInbox.create(sqs, sns, outputs.topic_arn, f"alert-inbox-itest-{secrets.token_hex(4)}")
    time.sleep(1)  # let the new subscription settle before the first alert is published
    try:
        yield box
    finally:
        box.delete()


@pytest.fixture(scope="session")
def pipeline(outputs: StackOutputs, inbox: AlertInbox) -> Pipeline:
    return Pipeline(outputs, inbox)


@pytest.fixture
def fresh_card() -> str:
    return luhn_card()

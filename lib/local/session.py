"""One local deployment end to end: emulator up, stack applied, inbox subscribed, outputs written.

Used by `python -m lib.local`, the demo, the integration conftest and the
benches, as a context manager or as separate `up()` / `down()` calls from
different processes (the state lives in `.local/<suffix>/`).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Optional, Type

from lib.local.deploy import DEFAULT_PARALLELISM, REPO_ROOT, LocalDeployer, require_synth, stack_name
from lib.local.emulator import Emulator
from lib.local.inbox import AlertInbox
from lib.local.outputs import OUTPUTS_FILE, StackOutputs, localize, write_outputs_file

LOCAL_ROOT = REPO_ROOT / ".local"


def default_suffix() -> str:
    return os.environ.get("ENVIRONMENT_SUFFIX", "").strip() or "dev"


def default_port() -> Optional[int]:
    raw = os.environ.get("TAP_LOCAL_PORT", "").strip()
    return int(raw) if raw else None


class LocalStack:
    def __init__(
        self,
        suffix: Optional[str] = None,
        port: Optional[int] = None,
        outputs_path: Path = OUTPUTS_FILE,
        parallelism: int = DEFAULT_PARALLELISM,
        root: Path = LOCAL_ROOT,
    ) -> None:
        self.suffix = suffix or default_suffix()
        self.workdir = root / self.suffix
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.emulator = Emulator(self.workdir / "emulator", port or default_port())
        self.emulator.workdir.mkdir(parents=True, exist_ok=True)
        self.outputs_path = outputs_path
        self.parallelism = parallelism
        self.timings: dict[str, float] = {}
        self.outputs: Optional[StackOutputs] = None

    # -- up ------------------------------------------------------------------
    def up(self) -> StackOutputs:
        require_synth(self.suffix)  # before anything starts: nothing to clean up on this error
        started = time.monotonic()
        print(f"==> starting MiniStack for {stack_name(self.suffix)}", flush=True)
        t0 = time.monotonic()
        record = self.emulator.start()
        self.timings["emulator_start_s"] = round(time.monotonic() - t0, 2)
        print(f"    MiniStack PID {record.pid} on {record.endpoint_url} "
              f"({self.timings['emulator_start_s']:.1f}s; log {record.log_file})", flush=True)
        try:
            deployer = LocalDeployer(self.suffix, self.workdir, record.endpoint_url)
            result = deployer.deploy(self.parallelism)
            self.timings.update({f"{k.replace(' ', '_')}_s": v for k, v in result.timings.items()})
            outputs = localize(result.outputs, record.endpoint_url)
            stack_outputs = outputs.setdefault(result.stack, {})
            stack_outputs["endpoint_url"] = record.endpoint_url
            stack_outputs["api_key"] = result.api_key
            view = StackOutputs.from_outputs(outputs).resolve_missing()
            if view.topic_arn is None:
                raise RuntimeError(f"the deployed stack has no {view.name('fraud-alerts')} topic")
            t0 = time.monotonic()
            inbox = AlertInbox.create(
                view.client("sqs"), view.client("sns"), view.topic_arn, f"alert-inbox-{self.suffix}"
            )
            self.timings["alert_inbox_s"] = round(time.monotonic() - t0, 2)
            stack_outputs["alert_inbox_queue_url"] = inbox.queue_url
            write_outputs_file(self.outputs_path, outputs)
            print(f"==> outputs written to {self.outputs_path}", flush=True)
        except BaseException:
            _tail(Path(record.log_file))
            raise
        self.timings["deploy_total_s"] = round(time.monotonic() - started, 2)
        (self.workdir / "timings.json").write_text(json.dumps(self.timings, indent=2))
        self.outputs = StackOutputs.from_outputs(outputs).resolve_missing()
        return self.outputs

    # -- down ----------------------------------------------------------------
    def down(self) -> dict[str, float]:
        timings: dict[str, float] = {}
        record = self.emulator.running()
        if record is None:
            print(f"==> no MiniStack running for {stack_name(self.suffix)}", flush=True)
        else:
            t0 = time.monotonic()
            deployer = LocalDeployer(self.suffix, self.workdir, record.endpoint_url)
            try:
                deployer.destroy(self.parallelism)
            finally:
                timings["destroy_s"] = round(time.monotonic() - t0, 2)
                t0 = time.monotonic()
                print(f"==> stopping MiniStack PID {record.pid}", flush=True)
                self.emulator.stop()
                timings["emulator_stop_s"] = round(time.monotonic() - t0, 2)
        # A dead deployment's outputs (and key) must not linger; a real AWS file is left alone.
        (LocalDeployer(self.suffix, self.workdir, "").state_path).unlink(missing_ok=True)
        self._remove_local_outputs()
        self.timings.update(timings)
        return timings

    def _remove_local_outputs(self) -> None:
        try:
            data: dict[str, Any] = json.loads(self.outputs_path.read_text())
        except (OSError, ValueError):
            return
        ours = data.get(stack_name(self.suffix), {})
        if isinstance(ours, dict) and "endpoint_url" in ours and len(data) == 1:
            self.outputs_path.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        record = self.emulator.running()
        state = LocalDeployer(self.suffix, self.workdir, "").state_path
        return {
            "stack": stack_name(self.suffix),
            "emulator": None if record is None else {"pid": record.pid, "endpoint_url": record.endpoint_url},
            "healthy": self.emulator.healthy() if record else False,
            "deployed": state.exists(),
            "outputs_file": str(self.outputs_path) if self.outputs_path.exists() else None,
        }

    # -- context manager -----------------------------------------------------
    def __enter__(self) -> StackOutputs:
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.down()


def _tail(log: Path, lines: int = 30) -> None:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return
    print(f"---- last {len(text)} lines of {log} ----", flush=True)
    for line in text:
        print(f"    {line}", flush=True)

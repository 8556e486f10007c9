"""MiniStack as a child process on 127.0.0.1: start, wait until healthy, stop by PID.

MiniStack runs Python Lambda handlers as worker subprocesses of its own
(`core/lambda_runtime.py`, plain `Popen`, same process group). We start it as
the leader of a new session, so stopping its process group by the recorded PGID
also ends every worker it spawned. A pidfile (JSON) lets a later, separate
process (`python -m lib.local down`) find and stop the same instance; the PID is
checked against /proc before any signal so a recycled PID is never hit.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Optional, Type

HOST = "127.0.0.1"  # loopback only: nothing here is reachable from the network
MINISTACK_VERSION = "1.5.33"
_HEALTH_PATH = "/_ministack/health"


class EmulatorError(RuntimeError):
    pass


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ministack_installed() -> None:
    try:
        import ministack  # noqa: F401
    except ImportError:
        raise EmulatorError(
            f"ministack is not installed in {sys.executable}. Install it together with the handlers' "
            f"dependencies so its botocore pin holds: `{sys.executable} -m pip install "
            f"ministack=={MINISTACK_VERSION} boto3 aws-xray-sdk aws-lambda-powertools`"
        ) from None


@dataclass
class EmulatorRecord:
    """What the pidfile holds: enough for another process to reach or stop the emulator."""

    pid: int
    port: int
    started_at: float
    log_file: str

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent's wait() is pending.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _descendants(pid: int) -> list[int]:
    """All live descendants of pid (walks /proc), so workers that left the group die too."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class Emulator:
    """One MiniStack instance whose state, logs and Lambda scratch dirs live in `workdir`."""

    def __init__(self, workdir: Path, port: Optional[int] = None) -> None:
        self.workdir = workdir
        self.port = port
        self.pidfile = workdir / "emulator.json"
        self.record: Optional[EmulatorRecord] = None
        self._proc: Optional[subprocess.Popen[bytes]] = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> EmulatorRecord:
        _ministack_installed()
        existing = self.running()
        if existing is not None:
            raise EmulatorError(
                f"an emulator is already running (PID {existing.pid}, {existing.endpoint_url}); "
                "stop it first with `python -m lib.local down`"
            )
        port = self.port or free_port()
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        log_file = self.workdir / "ministack.log"
        env = dict(os.environ)
        env.update(
            BIND_HOST=HOST,
            GATEWAY_PORT=str(port),
            MINISTACK_HOST=HOST,  # queue URLs etc. carry the loopback IP, not a DNS name
            # MiniStack's own pidfile and every Lambda worker's scratch dir go under our work dir.
            TMPDIR=str(tmp),
            LOG_LEVEL=os.environ.get("TAP_LOCAL_LOG_LEVEL", "INFO"),
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_DEFAULT_REGION=os.environ.get("AWS_REGION", "us-east-1"),
            PYTHONUNBUFFERED="1",
            # Side listeners default to 0.0.0.0 (IoT MQTT on 8883, Transfer SFTP): keep them off.
            IOT_MTLS_ENABLED="0",
            SFTP_ENABLED="0",
            SFTP_HOST=HOST,
        )
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_ENDPOINT_URL", None)  # workers get MiniStack's own URL
        with open(log_file, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ministack"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: workers are stopped with it
            )
        self.record = EmulatorRecord(self._proc.pid, port, time.time(), str(log_file))
        self.pidfile.write_text(json.dumps(asdict(self.record)))
        try:
            self._wait_healthy(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.record

    def _wait_healthy(self, timeout_s: float) -> None:
        assert self.record is not None
        deadline = time.monotonic() + timeout_s
        url = self.record.endpoint_url + _HEALTH_PATH
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EmulatorError(
                    f"MiniStack exited with code {self._proc.returncode}; see {self.record.log_file}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200 and "services" in json.loads(resp.read()):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise EmulatorError(f"MiniStack not healthy after {timeout_s:.0f}s; see {self.record.log_file}")

    def running(self) -> Optional[EmulatorRecord]:
        """The recorded instance if its process is alive and really is MiniStack."""
        if not self.pidfile.exists():
            return None
        try:
            record = EmulatorRecord(**json.loads(self.pidfile.read_text()))
        except (ValueError, TypeError):
            return None
        if _alive(record.pid) and "ministack" in _cmdline(record.pid):
            self.record = record
            return record
        return None

    def healthy(self) -> bool:
        record = self.record or self.running()
        if record is None:
            return False
        try:
            with urllib.request.urlopen(record.endpoint_url + _HEALTH_PATH, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace_s: float = 10.0) -> bool:
        """SIGTERM the process group (and any stray descendants), SIGKILL what remains.

        Returns True when something was stopped.
        """
        record = self.record or self.running()
        if record is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        pid = record.pid
        victims = [pid, *_descendants(pid)]
        self._signal_all(pid, victims, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(v) for v in victims):
            self._reap()
            time.sleep(0.1)
        leftover = [v for v in victims if _alive(v)]
        if leftover:
            self._signal_all(pid, leftover, signal.SIGKILL)
            self._reap()
        self.pidfile.unlink(missing_ok=True)
        self.record = None
        return True

    def _signal_all(self, leader: int, pids: list[int], sig: signal.Signals) -> None:
        try:
            # The leader's PGID equals its PID (start_new_session); only signal that group.
            if os.getpgid(leader) == leader:
                os.killpg(leader, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _reap(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(timeout=0)
            except subprocess.TimeoutExpired:
                pass

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> "Emulator":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self.record is None:
            raise EmulatorError("emulator is not running")
        return self.record.endpoint_url

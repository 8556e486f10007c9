"""MiniStack lifecycle: loopback only, healthy, found and stopped by PID from another 'process'."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.local.emulator import Emulator, EmulatorError, EmulatorRecord, _alive, free_port


def _listening(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of every IPv4/IPv6 LISTEN socket the process holds (via /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                hex_ip, hex_port = local.split(":")
                ip = socket.inet_ntoa(bytes.fromhex(hex_ip)[::-1]) if len(hex_ip) == 8 else hex_ip
                found.add((ip, int(hex_port, 16)))
    return found


@pytest.fixture
def emulator(tmp_path: Path):  # type: ignore[no-untyped-def]
    emu = Emulator(tmp_path / "emu")
    emu.workdir.mkdir()
    yield emu
    emu.stop()


def test_starts_on_loopback_only_and_stops_by_pid(emulator: Emulator) -> None:
    record = emulator.start()
    assert record.endpoint_url.startswith("http://127.0.0.1:")
    assert emulator.healthy()
    sockets = _listening(record.pid)
    assert ("127.0.0.1", record.port) in sockets
    assert all(ip == "127.0.0.1" for ip, _ in sockets), f"listening beyond loopback: {sockets}"
    assert json.loads(emulator.pidfile.read_text())["pid"] == record.pid

    # A separate process (`python -m lib.local down`) only has the work dir.
    other = Emulator(emulator.workdir)
    assert other.running() == record
    assert other.stop() is True
    assert not _alive(record.pid)
    assert not emulator.pidfile.exists()
    assert other.running() is None and other.stop() is False


def test_second_start_is_refused_while_running(emulator: Emulator) -> None:
    emulator.start()
    with pytest.raises(EmulatorError, match="already running"):
        Emulator(emulator.workdir).start()


def test_context_manager_stops_on_error(tmp_path: Path) -> None:
    workdir = tmp_path / "emu"
    workdir.mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        with Emulator(workdir) as emu:
            pid = emu.record.pid if emu.record else -1
            raise RuntimeError("boom")
    assert not _alive(pid)


def test_stale_pidfile_of_a_foreign_process_is_ignored(tmp_path: Path) -> None:
    """A recycled PID (here: our own test process) must never be signalled."""
    workdir = tmp_path / "emu"
    workdir.mkdir()
    record = EmulatorRecord(pid=os.getpid(), port=free_port(), started_at=0.0, log_file="x")
    (workdir / "emulator.json").write_text(json.dumps(record.__dict__))
    emu = Emulator(workdir)
    assert emu.running() is None
    assert emu.stop() is False
    assert _alive(os.getpid())


def test_stop_also_ends_descendants_that_left_the_group(tmp_path: Path) -> None:
    """Workers spawned by the emulator die with it, even one that called setsid()."""
    workdir = tmp_path / "emu"
    workdir.mkdir()
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    # "ministack" in the command line is what running() checks before it signals anything.
    leader = subprocess.Popen([sys.executable, "-c", script, "ministack"], start_new_session=True)
    deadline = time.monotonic() + 10
    from lib.local.emulator import _descendants

    while len(_descendants(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = _descendants(leader.pid)
    assert len(children) == 2
    record = EmulatorRecord(pid=leader.pid, port=free_port(), started_at=0.0, log_file="x")
    (workdir / "emulator.json").write_text(json.dumps(record.__dict__))
    assert Emulator(workdir).stop(grace_s=5) is True
    leader.wait(timeout=5)
    deadline = time.monotonic() + 5
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(c) for c in children)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))

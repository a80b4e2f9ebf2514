"""The Blender extension's service client without Blender (``plugin_blender/core/service.py`` imports no bpy):
a reset is retried once, session folders of ended hosts are removed, the engine's log is its own rotated file.

Real sockets and a real ``python -m engine serve`` on 127.0.0.1 (issue 13.7, 13.8).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.blender_core import core_module

service = core_module("service")
engine_location = core_module("engine_location")


class ResettingServer:
    """Accepts connections on 127.0.0.1; resets the first ``resets`` of them, answers the others 200 JSON."""

    def __init__(self, resets: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.resets, self.connections = resets, 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.recv(65536)
                if self.connections <= self.resets:     # SO_LINGER 0: close sends RST, the client sees a reset
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                body = b'{"ok": true}'
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                   + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self.listener.close()


def test_a_reset_connection_is_retried_once():
    server = ResettingServer(resets=1)
    try:
        assert service.ServiceClient(server.port, "token").health() == {"ok": True}
        assert server.connections == 2
    finally:
        server.close()


def test_a_second_reset_is_reported_as_a_stopped_engine():
    server = ResettingServer(resets=2)
    try:
        with pytest.raises(service.EngineStopped, match="not running"):
            service.ServiceClient(server.port, "token").health()
        assert server.connections == 2
    finally:
        server.close()


def ended_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def session(temp: Path, name: str, host_pid: int | None, engine_pid: int | None = None) -> Path:
    folder = temp / f"{service.SESSION_PREFIX}{name}"
    folder.mkdir(mode=0o700)
    (folder / "engine.log").write_text("what the engine said\n")
    if host_pid is not None:
        (folder / "host.json").write_text(json.dumps({"host_pid": host_pid}))
    if engine_pid is not None:
        (folder / "service.json").write_text(json.dumps({"port": 1, "token": "t", "pid": engine_pid}))
    return folder


def test_sessions_of_ended_hosts_are_removed_and_live_ones_kept(tmp_path):
    ended = session(tmp_path, "ended", ended_pid())
    ended_engine = session(tmp_path, "ended-engine-too", ended_pid(), ended_pid())
    live_host = session(tmp_path, "live-host", os.getpid())
    live_engine = session(tmp_path, "live-engine", ended_pid(), os.getpid())
    just_made = session(tmp_path, "no-host-file-yet", None)
    other = tmp_path / "not-a-relume-session"
    other.mkdir()
    assert sorted(service.remove_ended_sessions(tmp_path)) == sorted([ended, ended_engine])
    assert not ended.exists() and not ended_engine.exists()
    assert live_host.is_dir() and live_engine.is_dir() and just_made.is_dir() and other.is_dir()


def test_a_started_engine_logs_to_its_session_and_cleans_up(tmp_path, monkeypatch):
    """Start through the client as the extension does: host.json, engine.log written by the engine, a stale
    session of a crashed host removed; stop() leaves nothing behind."""
    monkeypatch.setattr(service.tempfile, "tempdir", str(tmp_path))
    stale = session(tmp_path, "crashed-host", ended_pid())
    process = service.EngineProcess.start(engine_location.EngineLocation(Path(sys.executable), device="cpu"))
    try:
        assert not stale.exists()
        assert json.loads((process.folder / "host.json").read_text())["host_pid"] > 0
        assert process.client.health()["ok"]
        assert "relume serve: listening" in process.log_path.read_text()
        assert process.output_path.read_text() == ""
    finally:
        assert process.stop() is None
    assert not process.folder.exists()


def test_a_background_call_hands_its_value_or_its_error_to_the_caller():
    background = core_module("background")
    release = threading.Event()
    call = background.BackgroundCall(lambda: release.wait(10) and "value")
    assert not call.done                      # the caller goes on while the call waits
    release.set()
    assert call.result() == "value" and call.done

    def fail():
        raise service.EngineStopped("engine gone")

    with pytest.raises(service.EngineStopped, match="engine gone"):
        background.BackgroundCall(fail).result()

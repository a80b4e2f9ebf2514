"""The Blender extension's service client without Blender (``plugin_blender/core/service.py`` imports no bpy):
a reset is retried once, session folders of ended hosts are removed, the engine's log is its own rotated file.

Real sockets and a real ``python -m engine serve`` on 127.0.0.1 (issue 13.7, 13.8).
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from relume_host.engine import EngineLocation
from support.blender_core import core_module

service = core_module("service")



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


def session(temp: Path, name: str, held: bool | None) -> tuple[Path, object]:
    """A session folder: its host.lock held by a live host (this process), left by an ended one, or not
    made yet (None)."""
    folder = temp / f"{service.SESSION_PREFIX}{name}"
    folder.mkdir(mode=0o700)
    (folder / "engine.log").write_text("what the engine said\n")
    if held is None:
        return folder, None
    handle = service.hold_session(folder)
    if not held:
        handle.close()                  # what the OS does when the host process ends, however it ends
    return folder, handle


def test_sessions_of_ended_hosts_are_removed_and_live_ones_kept(tmp_path):
    ended, _ = session(tmp_path, "ended", held=False)
    live, handle = session(tmp_path, "live", held=True)
    just_made, _ = session(tmp_path, "no-lock-yet", held=None)
    other = tmp_path / "not-a-relume-session"
    other.mkdir()
    try:
        assert service.remove_ended_sessions(tmp_path) == [ended]
        assert not ended.exists() and live.is_dir() and just_made.is_dir() and other.is_dir()
    finally:
        handle.close()
    assert service.remove_ended_sessions(tmp_path) == [live]


def test_a_killed_hosts_session_is_removed(tmp_path):
    """A host killed with SIGKILL (no clean-up of its own): its lock is gone with it."""
    folder = tmp_path / f"{service.SESSION_PREFIX}killed"
    folder.mkdir()
    host = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
                             "from blender_core import core_module; "
                             "held = core_module('service').hold_session(__import__('pathlib').Path(sys.argv[2])); "
                             "print('held', flush=True); time.sleep(60)",
                             str(Path(__file__).parents[1] / "support"), str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline().strip() == "held"
        assert service.remove_ended_sessions(tmp_path) == []
    finally:
        host.kill()
        host.wait()
    assert service.remove_ended_sessions(tmp_path) == [folder]


def test_a_started_engine_logs_to_its_session_and_cleans_up(tmp_path, monkeypatch):
    """Start through the client as the extension does: host.lock held, engine.log written by the engine, a stale
    session of a crashed host removed; stop() leaves nothing behind."""
    monkeypatch.setattr(service.tempfile, "tempdir", str(tmp_path))
    stale, _ = session(tmp_path, "crashed-host", held=False)
    process = service.EngineProcess.start(EngineLocation(Path(sys.executable), device="cpu"))
    try:
        assert not stale.exists()
        assert service.remove_ended_sessions(tmp_path) == []        # this session's folder is held
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

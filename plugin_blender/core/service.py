"""The engine's local HTTP service, seen from the host: start it, call it, follow its jobs.

Standard library only. The service (``python -m engine serve``, see ``engine/service``) binds
127.0.0.1 and writes ``{port, token, pid}`` to a token file in a session folder only this user can
read; every call sends the token as ``Authorization: Bearer``. The session folder also holds
``host.lock`` (locked by the host for as long as it runs), the engine's rotated ``engine.log`` and
``engine.out`` (what the process printed outside its log: start-up failures, native crashes). Starting
a session removes the folders of sessions whose host has ended (a crash, a kill); the engine of such a
session ends with its host (``serve --parent-pid``).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..relume_host.engine import EngineLocation
from ..relume_host.vocabulary import JobState

HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # seconds; the first start imports torch and may build caches
CALL_TIMEOUT = 600.0  # one relight request with wait=true, a long frame included
LOG_TAIL = 600  # characters of the engine's log quoted when it fails to start
SESSION_PREFIX = "relume-session-"
ORPHAN_SECONDS = 24 * 3600  # a session folder with no host.lock (cut short while created) is stale after this
_KEPT: list = []  # host.lock handles of crashed engines' folders, held (their logs kept) until the host ends


class ServiceError(Exception):
    """The engine answered with an error, or could not be reached; the text is for the artist."""


class EngineStopped(ServiceError):
    """Nothing answers at the service's address (the engine process ended)."""


class ConnectionReset(EngineStopped):
    """The service reset the connection (a running service does so when its backlog overflows)."""


@dataclass
class ServiceClient:
    """JSON calls to one running service."""

    port: int
    token: str

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = CALL_TIMEOUT) -> dict:
        """One JSON call; a connection reset (a service busier than its backlog) is retried once."""
        try:
            return self._call_once(method, path, body, timeout)
        except ConnectionReset:
            return self._call_once(method, path, body, timeout)

    def _call_once(self, method: str, path: str, body: dict | None, timeout: float) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://{HOST}:{self.port}{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", "")
            except ValueError:
                message = ""
            if exc.code == 401:
                message = "the engine rejected this session's token (restart the engine)"
            raise ServiceError(message or f"engine answered HTTP {exc.code}") from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut short
            reason = getattr(exc, "reason", exc)
            kind = ConnectionReset if isinstance(reason, ConnectionResetError) else EngineStopped
            raise kind(f"Relume engine is not running at {HOST}:{self.port} ({reason})") from None

    def health(self, timeout: float = 5.0) -> dict:
        return self.call("GET", "/health", timeout=timeout)

    def weights(self, body: dict) -> dict:
        return self.call("POST", "/weights", body)

    def relight(self, body: dict) -> dict:
        """Start (or with ``wait: true`` run) a relight job; returns its state."""
        return self.call("POST", "/relight", body)

    def rig(self, body: dict) -> dict:
        """Write the performer rig of a track: ``{track, out}`` -> ``{"rig": path}``."""
        return self.call("POST", "/rig", body)

    def track(self, body: dict) -> dict:
        """Write a keyed animation of a rig as a track: ``{rig, out, frames}`` -> ``{"track": path, "frames": n}``."""
        return self.call("POST", "/track", body)

    def reenact(self, body: dict) -> dict:
        """Start a reenact job: ``{model, track, out, temporal_smoothing?}``; returns its state."""
        return self.call("POST", "/reenact", body)

    def job(self, job_id: str) -> dict:
        return self.call("GET", f"/jobs/{job_id}", timeout=30.0)

    def cancel(self, job_id: str) -> dict:
        return self.call("POST", f"/jobs/{job_id}/cancel", {}, timeout=30.0)

    def shutdown(self) -> None:
        self.call("POST", "/shutdown", {}, timeout=10.0)


def check_job(state: dict) -> dict:
    """Raise ServiceError for a failed job; return its state otherwise."""
    if state.get("state") == JobState.FAILED:
        raise ServiceError(state.get("error") or "the engine job failed")
    return state


def hold_session(folder: Path):
    """Take the session's ``host.lock`` (an exclusive flock, held by this host process until it ends: the
    OS lets go of it however the process ends); None where there is no flock (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(folder / "host.lock", "w")  # noqa: SIM115 - held open for the life of the session
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def _session_ended(folder: Path) -> bool:
    """True when no process holds ``folder``'s host.lock (its host has ended), or it never got one a day
    after it was made. Without flock (Windows) nothing is judged ended: the OS's temp cleaning remains."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        handle = open(folder / "host.lock")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > ORPHAN_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def remove_ended_sessions(temp: Path | None = None) -> list[Path]:
    """Remove this user's session folders whose host has ended; returns them."""
    removed = []
    for folder in Path(temp or tempfile.gettempdir()).glob(SESSION_PREFIX + "*"):
        try:
            mine = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
        except (OSError, AttributeError):   # AttributeError: no getuid (Windows): folders are per user there
            mine = folder.is_dir()
        if mine and _session_ended(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class EngineProcess:
    """A ``relume serve`` child process owned by this host session."""

    def __init__(self, process: subprocess.Popen, folder: Path, client: ServiceClient, lock) -> None:
        self.process = process
        self.folder = folder
        self.client = client
        self.lock = lock  # host.lock, held while the folder is this host's

    @property
    def log_path(self) -> Path:
        return self.folder / "engine.log"

    @property
    def output_path(self) -> Path:
        return self.folder / "engine.out"

    @classmethod
    def start(cls, location: EngineLocation, parent_pid: int | None = None, timeout: float = START_TIMEOUT) -> EngineProcess:
        """Start the service and wait until it is ready; raises ServiceError with the engine's own words."""
        remove_ended_sessions()
        folder = Path(tempfile.mkdtemp(prefix=SESSION_PREFIX))  # mode 0700: the token stays private
        lock = hold_session(folder)
        token_file = folder / "service.json"
        args = ["serve", "--port", "0", "--token-file", str(token_file), "--device", location.device,
                "--log-file", str(folder / "engine.log")]
        if parent_pid:
            args += ["--parent-pid", str(parent_pid)]
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        with open(folder / "engine.out", "wb") as output:
            try:
                process = subprocess.Popen(location.command(*args), stdin=subprocess.DEVNULL, stdout=output,
                                           stderr=output, env=location.environment(), creationflags=flags)
            except OSError as exc:
                raise ServiceError(f"{location.python}: cannot start the engine ({exc.strerror or exc})") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if token_file.is_file():
                info = json.loads(token_file.read_text())
                return cls(process, folder, ServiceClient(int(info["port"]), str(info["token"])), lock)
            if process.poll() is not None:
                said = [path.read_text(errors="replace").strip() for path in (folder / "engine.out", folder / "engine.log")
                        if path.is_file()]
                tail = "\n".join(text for text in said if text)[-LOG_TAIL:]
                raise ServiceError(f"{location.python}: the engine exited with code {process.returncode}: "
                                   f"{tail or 'no output'}")
            time.sleep(0.05)
        process.kill()
        raise ServiceError(f"{location.python}: the engine did not start within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> Path | None:
        """Ask the service to exit; kill it if it does not. Returns the kept log of an engine that had
        already died on its own (a crash, or killed): that log, and engine.out beside it, say why, so the
        folder is kept (until a later session finds its host gone)."""
        crashed = not self.alive() and self.process.returncode != 0
        if self.alive():
            try:
                self.client.shutdown()
                self.process.wait(timeout)
            except (ServiceError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout)
        (self.folder / "service.json").unlink(missing_ok=True)
        if crashed:
            _KEPT.append(self.lock)          # the folder stays this host's while it runs: its log is named
            return self.log_path
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()
        return None

"""This Blender session's engine service: started on demand, shared by every operator, stopped on exit."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable

from ..core.service import EngineProcess, EngineStopped, ServiceClient, ServiceError
from ..preferences import auto_start, engine_location
from ..relume_host.engine import EngineLocation, EngineNotFound

NOT_RUNNING = ("Relume engine is not running: press Start Engine in the Relume panel "
               "(or turn on Start Engine Automatically in the add-on preferences)")


class EngineSession:
    """Owns at most one ``relume serve`` process; safe to use from the live-relight worker thread."""

    def __init__(self) -> None:
        self._process: EngineProcess | None = None
        self._lock = threading.Lock()
        self.crash: str | None = None       # how the last engine died, when it died on its own

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.alive()

    @property
    def pid(self) -> int | None:
        return self._process.process.pid if self.running else None

    def client(self, location: EngineLocation | None) -> ServiceClient:
        """The running service's client; starts it from ``location`` when given, else raises EngineStopped."""
        with self._lock:
            if self._process is not None and not self._process.alive():
                code = self._process.process.returncode
                log = self._process.stop()
                self._process = None
                self.crash = None if log is None else f"the engine stopped with code {code}; its log: {log}"
            if self._process is None:
                if location is None:
                    raise EngineStopped(NOT_RUNNING + (f" ({self.crash})" if self.crash else ""))
                self._process = EngineProcess.start(location, parent_pid=os.getpid())
            return self._process.client

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stop()
                self._process = None


SESSION = EngineSession()
atexit.register(SESSION.stop)


def engine_connector(start: bool | None = None) -> Callable[[], ServiceClient]:
    """What :func:`engine_client` does, split at the wait: this part reads the preferences (main thread only)
    and raises at once what it can tell (engine not found, not running and not to be started); the
    callable it returns starts the engine when needed and returns the client, and may run on a worker
    thread (:class:`..core.background.BackgroundCall`) so the UI does not wait for the engine."""
    if SESSION.running:
        return lambda: SESSION.client(None)
    if not (auto_start() if start is None else start):
        SESSION.client(None)                # raises EngineStopped, saying how a crashed engine died
    try:
        location = engine_location()
    except EngineNotFound as exc:
        raise ServiceError(str(exc)) from None
    return lambda: SESSION.client(location)


def engine_client(start: bool | None = None) -> ServiceClient:
    """The session's client; starts the engine when it is not running and ``start`` (default: the
    preference Start Engine Automatically), waiting for it. Main thread only (reads preferences).

    Raises ServiceError with a message for the artist (engine not found, not running, failed to start).
    """
    return engine_connector(start)()

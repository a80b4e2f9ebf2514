"""The HTTP server behind ``relume serve``: 127.0.0.1 only, one bearer token per session.

See :mod:`engine.service` for the protocol. Every handler runs on its own thread
(``ThreadingHTTPServer``); asynchronous relight jobs run on their own daemon threads.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine import __version__
from engine.errors import InputError, RelumeError
from engine.reenact.reenact import ReenactJob
from engine.relight.job import RelightJob
from engine.service.jobs import FrameJob, JobRegistry
from engine.service.payload import (
    CaptureStore,
    ReenactRequest,
    RelightRequest,
    RigRequest,
    TrackRequest,
    parse_lighting,
)
from engine.stage.cache import cache_folder
from engine.track.rig import track_from_animation, write_rig
from engine.track.track_file import write_track

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 16 << 20
PARENT_POLL_SECONDS = 1.0
_JOB_PATH = re.compile(r"^/jobs/([0-9]+)(/cancel)?$")


def resolve_device(requested: str) -> str:
    """The device ``requested`` names, checked: "auto" picks cuda when torch sees one."""
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise InputError("--device", "cuda requested but torch sees no CUDA device")
    if requested == "auto":
        return "cuda" if available else "cpu"
    return requested


def process_alive(pid: int) -> bool:
    """True while process ``pid`` exists (never signals it)."""
    if os.name == "nt":
        import ctypes

        synchronize, wait_timeout = 0x00100000, 0x102
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(synchronize, False, pid)
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == wait_timeout
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RelumeServer(ThreadingHTTPServer):
    """State shared by the request handlers: token, loaded captures, jobs."""

    daemon_threads = True

    def __init__(self, port: int, token: str, device: str) -> None:
        super().__init__((HOST, port), RequestHandler)
        self.token = token
        self.device = device
        self.captures = CaptureStore()
        self.jobs = JobRegistry()

    def stop_soon(self) -> None:
        """Stop serving from another thread (``shutdown`` blocks until the loop ends)."""
        threading.Thread(target=self.shutdown, daemon=True).start()


class RequestHandler(BaseHTTPRequestHandler):
    server: RelumeServer
    server_version = f"relume/{__version__}"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("POST")

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.server.token.encode())

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise InputError("request", f"body of {length} bytes is over the {MAX_BODY_BYTES} byte limit")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise InputError("request", f"body is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise InputError("request", "body must be a JSON object")
        return body

    def _dispatch(self, method: str) -> None:
        if not self._authorized():
            self._reply(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong token"})
            return
        try:
            status, body = self._route(method, self.path.split("?", 1)[0])
        except RelumeError as exc:
            status, body = HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the client gets the message, the log the traceback
            log.exception("request %s %s failed", method, self.path)
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc!r}"}
        self._reply(status, body)
        if method == "POST" and self.path == "/shutdown":
            self.server.stop_soon()

    def _route(self, method: str, path: str) -> tuple[int, dict]:
        if method == "GET" and path == "/health":
            return HTTPStatus.OK, {"ok": True, "service": "relume", "version": __version__, "pid": os.getpid(),
                                   "device": self.server.device, "captures": len(self.server.captures)}
        if method == "POST" and path == "/weights":
            lighting = parse_lighting(self._body(), self.server.captures)
            cache = cache_folder(lighting.capture)
            return HTTPStatus.OK, {"light_ids": lighting.capture.light_ids, "weights": lighting.weights(cache).tolist(),
                                   "frames": {str(frame): weights.tolist() for frame, weights in
                                              lighting.frame_weights(sorted(lighting.lights.frames), cache).items()}}
        if method == "POST" and path == "/relight":
            request = RelightRequest.parse(self._body(), self.server.captures)
            lighting, cache = request.lighting, cache_folder(request.lighting.capture)
            return self._submit(RelightJob(lighting.capture, lighting.weights(cache), request.out, request.frames,
                                           request.skip_existing,
                                           frame_weights=lighting.frame_weights(request.frames, cache)),
                                request.wait)
        if method == "POST" and path == "/rig":
            rig = RigRequest.parse(self._body())
            return HTTPStatus.OK, {"rig": str(write_rig(rig.track, rig.out))}
        if method == "POST" and path == "/track":
            animation = TrackRequest.parse(self._body())
            track = track_from_animation(animation.rig, animation.frames)
            return HTTPStatus.OK, {"track": str(write_track(animation.out, track)), "frames": len(track["frames"])}
        if method == "POST" and path == "/reenact":
            request = ReenactRequest.parse(self._body())
            job = ReenactJob(request.model, request.track, request.out, request.runtime, request.skip_existing,
                             self.server.device)
            return self._submit(job, request.wait)
        if method == "POST" and path == "/shutdown":
            self.server.jobs.cancel_all()
            return HTTPStatus.OK, {"ok": True}  # the server stops once this reply is sent
        match = _JOB_PATH.match(path)
        if match and (method == "GET") == (match.group(2) is None):
            job = self.server.jobs.get(match.group(1))
            if job is None:
                return HTTPStatus.NOT_FOUND, {"error": f"no job {match.group(1)}"}
            if match.group(2):
                job.cancel()
            return HTTPStatus.OK, job.snapshot()
        return HTTPStatus.NOT_FOUND, {"error": f"no endpoint {method} {path}"}

    def _submit(self, job: FrameJob, wait: bool) -> tuple[int, dict]:
        """Register ``job``; run it now (``wait``) or on its own thread."""
        service_job = self.server.jobs.add(job)
        if wait:
            service_job.run()
            return HTTPStatus.OK, service_job.snapshot()
        self.server.jobs.start(service_job)
        return HTTPStatus.ACCEPTED, service_job.snapshot()


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by this user only (mode 0600)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _watch_parent(server: RelumeServer, parent_pid: int) -> None:
    while process_alive(parent_pid):
        time.sleep(PARENT_POLL_SECONDS)
    log.warning("parent process %d ended; stopping", parent_pid)
    server.jobs.cancel_all()
    server.shutdown()


def serve(port: int, token_file: Path, parent_pid: int | None = None, device: str = "auto", quiet: bool = False) -> None:
    """Serve until ``POST /shutdown``, Ctrl-C, or the end of ``parent_pid``."""
    device = resolve_device(device)
    token = secrets.token_urlsafe(32)
    server = RelumeServer(port, token, device)
    token_file = Path(token_file)
    write_private(token_file, json.dumps({"port": server.server_port, "token": token, "pid": os.getpid()}).encode())
    if not quiet:
        print(f"relume serve: listening on http://{HOST}:{server.server_port} (pid {os.getpid()}, {device})",
              file=sys.stderr, flush=True)
    if parent_pid:
        threading.Thread(target=_watch_parent, args=(server, parent_pid), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.jobs.cancel_all()
        server.server_close()
        token_file.unlink(missing_ok=True)

"""The HTTP server behind ``relume serve``: 127.0.0.1 only, one bearer token per session.

See :mod:`engine.service` for the protocol and the trust model. Every connection is handled on its
own thread, at most ``MAX_CONNECTIONS`` at once (the accept loop waits for a free one while later
connections wait in a ``LISTEN_BACKLOG``-deep queue), and a client that stalls mid-request is
dropped after ``READ_TIMEOUT`` seconds; asynchronous jobs run on their own daemon threads.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from logging.handlers import RotatingFileHandler
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
from relume_host.atomic import write_bytes_atomic
from relume_host.process import process_alive

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")  # what the Host header may name (DNS rebinding guard)
MAX_BODY_BYTES = 16 << 20
LISTEN_BACKLOG = 1024  # pending connections the kernel queues (the OS may cap it at somaxconn)
MAX_CONNECTIONS = 512  # connections handled at once, one thread each
READ_TIMEOUT = 5.0  # seconds one read of a request may wait; a local client sends its request at once
LOG_BYTES = 1 << 20  # engine.log is rotated at this size, LOG_BACKUPS old ones kept
LOG_BACKUPS = 2
PARENT_POLL_SECONDS = 1.0
_JOB_PATH = re.compile(r"^/jobs/([0-9]+)(/cancel)?$")


def resolve_device(requested: str) -> str:
    """The device ``requested`` names, checked: "auto" picks cuda when torch sees one."""
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise InputError("device", "cuda requested but torch sees no CUDA device")
    if requested == "auto":
        return "cuda" if available else "cpu"
    return requested


class HttpError(Exception):
    """A request refused before it reaches the engine: ``status`` and the message sent back."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class RelumeServer(ThreadingHTTPServer):
    """State shared by the request handlers: token, loaded captures, jobs; a bounded pool of connections."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, port: int, token: str, device: str) -> None:
        super().__init__((HOST, port), RequestHandler)
        self.token = token
        self.device = device
        self.captures = CaptureStore()
        self.jobs = JobRegistry()
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:
        """Hand the connection to a thread once fewer than MAX_CONNECTIONS are open (until then the
        kernel's backlog holds the others)."""
        self._connections.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def stop_soon(self) -> None:
        """Stop serving from another thread (``shutdown`` blocks until the loop ends)."""
        threading.Thread(target=self.shutdown, daemon=True).start()

    def handle_error(self, request, client_address) -> None:
        """A connection that failed outside a handler's own error handling: a client gone is routine."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("client %s: %r", client_address, error)
        else:
            log.exception("connection from %s failed", client_address)


class RequestHandler(BaseHTTPRequestHandler):
    server: RelumeServer
    server_version = f"relume/{__version__}"
    timeout = READ_TIMEOUT  # socket timeout of every read and write (StreamRequestHandler.setup)

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

    def _check_host(self) -> None:
        """Refuse a Host header that names anything but this loopback service: a web page that
        rebinds its own domain to 127.0.0.1 still sends its domain here."""
        host = self.headers.get("Host")
        name, _, port = (host or "").rpartition(":") if (host or "").count(":") == 1 else (host, "", "")
        if name not in LOOPBACK_NAMES or (port and port != str(self.server.server_port)):
            raise HttpError(HTTPStatus.FORBIDDEN, f"Host header must be {HOST}:{self.server.server_port}, got {host!r}")

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.server.token.encode())

    def _body(self) -> dict:
        declared = self.headers.get("Content-Length")
        if declared is None:
            return {}
        if not declared.strip().isdigit():
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Content-Length must be a byte count, got {declared!r}")
        length = int(declared)
        if length > MAX_BODY_BYTES:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"body of {length} bytes is over the {MAX_BODY_BYTES} byte limit")
        raw = self.rfile.read(length)
        if len(raw) < length:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body ended after {len(raw)} of {length} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _dispatch(self, method: str) -> None:
        try:
            self._check_host()
            if not self._authorized():
                raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong token")
            status, body = self._route(method, self.path.split("?", 1)[0])
        except HttpError as exc:
            status, body = exc.status, {"error": str(exc)}
        except TimeoutError:
            status, body = HTTPStatus.REQUEST_TIMEOUT, {"error": f"request not received within {READ_TIMEOUT:g} s"}
        except RelumeError as exc:
            status, body = HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the client gets the message, the log the traceback
            log.exception("request %s %s failed", method, self.path)
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc!r}"}
        self.close_connection = True
        self._reply(status, body)
        if status == HTTPStatus.OK and method == "POST" and self.path == "/shutdown":
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
            return self._submit(RelightJob(lighting.capture, lighting.weights(cache), str(request.out), request.frames,
                                           skip_existing=request.skip_existing, frame_weights=lighting.frame_weights(request.frames, cache)),
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
            job = ReenactJob(request.model, request.track, request.out, runtime=request.runtime,
                             precision=request.precision, temporal_smoothing=request.temporal_smoothing,
                             skip_existing=request.skip_existing, device=self.server.device)
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


class _LogLines(io.TextIOBase):
    """A text stream whose complete lines go to ``logger``: the service's stdout and stderr once it logs to a file."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger, self._level, self._pending = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._logger.log(self._level, "%s", line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._logger.log(self._level, "%s", self._pending)
            self._pending = ""


def log_to_file(path: Path, max_bytes: int = LOG_BYTES) -> None:
    """Send the service's log, and what it prints, to ``path``, rotated at ``max_bytes`` (LOG_BACKUPS kept).

    Output written below Python (a native crash) still goes to the process's own stderr."""
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    printed = logging.getLogger("relume.output")
    sys.stdout, sys.stderr = _LogLines(printed, logging.INFO), _LogLines(printed, logging.WARNING)


def _stop_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM or SIGHUP: leave ``serve_forever`` through its cleanup, as Ctrl-C does."""
    raise SystemExit(128 + signum)


def _watch_parent(server: RelumeServer, parent_pid: int) -> None:
    while process_alive(parent_pid):
        time.sleep(PARENT_POLL_SECONDS)
    log.warning("parent process %d ended; stopping", parent_pid)
    server.jobs.cancel_all()
    server.shutdown()


def serve(port: int, token_file: Path, parent_pid: int | None = None, device: str = "auto", quiet: bool = False,
          log_file: Path | None = None) -> None:
    """Serve until ``POST /shutdown``, Ctrl-C, SIGTERM or SIGHUP, or the end of ``parent_pid``; the token
    file is removed on each. With ``log_file``, the log goes there, rotated."""
    if log_file is not None:
        log_to_file(Path(log_file))
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop_on_signal)
    device = resolve_device(device)
    token = secrets.token_urlsafe(32)
    server = RelumeServer(port, token, device)
    token_file = Path(token_file)
    try:
        if not quiet:   # before the token file: whoever waits for that file finds this line already logged
            print(f"relume serve: listening on http://{HOST}:{server.server_port} (pid {os.getpid()}, {device})",
                  file=sys.stderr, flush=True)
        write_bytes_atomic(token_file, json.dumps({"port": server.server_port, "token": token, "pid": os.getpid()}).encode(),
                           mode=0o600)     # the token: readable by this user only
        if parent_pid:
            threading.Thread(target=_watch_parent, args=(server, parent_pid), daemon=True).start()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.jobs.cancel_all()
        server.server_close()
        token_file.unlink(missing_ok=True)

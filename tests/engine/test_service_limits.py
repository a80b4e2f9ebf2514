"""``relume serve`` under load, slow and hostile clients, signals; where its files go (issue 13.7-13.9).

Real HTTP on 127.0.0.1 against a real ``python -m engine serve`` child process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.demo import DEMO_FRAME, make_sphere_capture
from engine.service.server import LOG_BACKUPS, READ_TIMEOUT
from support.sample_lights import LIGHTS
from support.service_process import Service


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    return make_sphere_capture(tmp_path_factory.mktemp("capture"), light_count=12, size=24, progress=False).folder


def raw_request(service: Service, head: str, body: bytes = b"", timeout: float = 30.0) -> tuple[int, dict]:
    """Send ``head`` (request line and headers, CRLF-separated, no blank line) and ``body`` as they are."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=timeout) as connection:
        connection.sendall(head.encode() + b"\r\n\r\n" + body)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def headers(service: Service, method: str, path: str, *extra: str, host: str | None = None) -> str:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{service.port}'}",
             f"Authorization: Bearer {service.token}", *extra]
    return "\r\n".join(lines)


def test_200_concurrent_requests_are_all_answered_without_a_dropped_connection(service):
    """All answered, none after a lost SYN: when the listen queue overflows, Linux drops the SYN (or, with
    tcp_abort_on_overflow, resets) and the client's retry comes 1 s later, so no request may take 1 s."""
    def timed_health(_: int) -> tuple[int, float]:
        started = time.monotonic()
        return service.call("GET", "/health")[0], time.monotonic() - started

    with ThreadPoolExecutor(200) as pool:
        statuses, seconds = zip(*pool.map(timed_health, range(200)))
    assert statuses == (200,) * 200
    assert max(seconds) < 1.0, f"slowest request {max(seconds):.2f} s: a connection was dropped and retried"


def test_slow_clients_are_dropped_and_do_not_block_others(service):
    """300 clients that send half a request hold no thread for long; a real request is answered meanwhile."""
    slow = []
    try:
        for _ in range(300):
            connection = socket.create_connection(("127.0.0.1", service.port), timeout=30)
            connection.sendall(f"POST /weights HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n".encode())
            slow.append(connection)
        started = time.monotonic()
        status, health = service.call("GET", "/health")
        assert status == 200 and health["ok"]
        assert time.monotonic() - started < READ_TIMEOUT, "a real request waited behind the slow ones"
        # each slow client is answered 408 (or closed) once it has stalled READ_TIMEOUT seconds
        replies = [connection.recv(4096) for connection in slow]
        assert all(reply == b"" or reply.startswith(b"HTTP/1.0 408") for reply in replies), replies[:3]
        assert time.monotonic() - started < READ_TIMEOUT + 20
    finally:
        for connection in slow:
            connection.close()


def test_a_stalled_body_times_out_with_408(service):
    status, body = raw_request(service, headers(service, "POST", "/weights", "Content-Length: 100"), b'{"capt')
    assert status == 408 and "not received" in body["error"]


@pytest.mark.parametrize("length, status, message", [
    ("-1", 400, "byte count"),
    ("abc", 400, "byte count"),
    (str(64 << 20), 413, "over the"),
])
def test_bad_content_length_is_refused_at_once(service, length, status, message):
    started = time.monotonic()
    answer = raw_request(service, headers(service, "POST", "/weights", f"Content-Length: {length}"), b"{}")
    assert answer[0] == status and message in answer[1]["error"], answer
    assert time.monotonic() - started < READ_TIMEOUT / 2


MALFORMED = [
    ("/weights", b"[1, 2]"), ("/weights", b"{not json"), ("/weights", b'{"capture": 5, "lights": []}'),
    ("/weights", b'{"capture": "CAPTURE", "lights": "sun"}'), ("/weights", b'{"capture": "CAPTURE", "lights": [5]}'),
    ("/weights", b'{"capture": "CAPTURE", "lights": [{"type": "sun"}]}'),
    ("/weights", b'{"capture": "CAPTURE", "lights": [], "exposure": "x"}'),
    ("/weights", b'{"capture": "CAPTURE", "lights": [], "method": 7}'),
    ("/weights", b'{"capture": "CAPTURE", "lights": [], "frame_lights": {"x": []}}'),
    ("/weights", b'{"capture": "CAPTURE", "lights": [], "frame_lights": {"1001": 3}}'),
    ("/relight", b'{"capture": "CAPTURE", "lights": [], "out": "/tmp/x.####.exr", "frames": {"a": 1}}'),
    ("/relight", b'{"capture": "CAPTURE", "lights": [], "out": "/tmp/x.####.exr", "frames": ["a"]}'),
    ("/relight", b'{"capture": "CAPTURE", "lights": [], "out": 3}'),
    ("/relight", b'{"capture": "CAPTURE\\u0000", "lights": [], "out": "/tmp/x.####.exr"}'),
    ("/rig", b'{"track": [], "out": "/tmp/r.npz"}'), ("/rig", b'{"track": "/nonexistent.track", "out": "/tmp/r.npz"}'),
    ("/track", b'{"rig": "/nonexistent.npz", "out": "/tmp/t.track", "frames": []}'),
    ("/reenact", b'{"model": "/nonexistent", "track": "/nonexistent.track", "out": "/tmp/o", "runtime": "tf"}'),
    ("/jobs/abc", b"{}"),
]


@pytest.mark.parametrize("path, body", MALFORMED)
def test_malformed_requests_get_4xx_never_500(service, capture, path, body):
    body = body.replace(b"CAPTURE", str(capture).encode())
    status, answer = raw_request(service, headers(service, "POST", path, f"Content-Length: {len(body)}"), body)
    assert 400 <= status < 500 and answer["error"], (status, answer)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost.evil.example:{port}"])
def test_a_foreign_host_header_is_refused(service, host):
    status, answer = raw_request(service, headers(service, "GET", "/health", host=host.format(port=service.port)))
    assert status == 403 and "Host header" in answer["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "127.0.0.1"])
def test_loopback_host_headers_are_served(service, host):
    status, answer = raw_request(service, headers(service, "GET", "/health", host=host.format(port=service.port)))
    assert status == 200 and answer["ok"]


def test_relative_outputs_need_the_project_folder_and_land_in_it(service, capture, tmp_path):
    body = {"capture": str(capture), "lights": LIGHTS[:1], "frames": [DEMO_FRAME], "out": "relit/x.####.exr",
            "wait": True}
    status, answer = service.call("POST", "/relight", body)
    assert status == 400 and "'project'" in answer["error"] and not (Path.cwd() / "relit").exists()
    status, answer = service.call("POST", "/relight", {**body, "project": "relative/folder"})
    assert status == 400 and "absolute" in answer["error"]
    status, answer = service.call("POST", "/relight", {**body, "project": str(tmp_path)})
    assert status == 200 and answer["state"] == "done", answer
    assert answer["paths"] == [str(tmp_path / "relit" / f"x.{DEMO_FRAME}.exr")]
    assert Path(answer["paths"][0]).is_file()


@pytest.mark.parametrize("path, body, suffix", [
    ("/rig", {"track": "/x.track", "out": "/tmp/.bashrc"}, ".npz"),
    ("/track", {"rig": "/x.npz", "frames": {}, "out": "/tmp/.profile"}, ".track"),
])
def test_outputs_must_have_their_endpoints_suffix(service, path, body, suffix):
    status, answer = service.call("POST", path, body)
    assert status == 400 and f"must be a {suffix} file" in answer["error"]


def test_sigterm_removes_the_token_file(tmp_path):
    service = Service(tmp_path)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(30) == 128 + signal.SIGTERM
    assert not service.token_file.exists()


def test_the_log_file_is_rotated(tmp_path):
    """What the service logs and prints goes to --log-file, rotated: old files stay bounded."""
    log = tmp_path / "engine.log"
    script = ("import sys, pathlib; from engine.service.server import log_to_file; "
              f"log_to_file(pathlib.Path({str(log)!r}), max_bytes=4000); "
              "[print('line', i, 'x' * 80) for i in range(2000)]; print('last words', file=sys.stderr)")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    files = sorted(tmp_path.glob("engine.log*"))
    assert [f.name for f in files] == ["engine.log"] + [f"engine.log.{i}" for i in range(1, LOG_BACKUPS + 1)]
    assert all(f.stat().st_size <= 4000 for f in files)
    assert "WARNING relume.output: last words" in log.read_text()


def test_serve_logs_to_its_log_file(tmp_path):
    log = tmp_path / "engine.log"
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", "0", "--token-file",
                                str(tmp_path / "service.json"), "--log-file", str(log)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "service.json").is_file():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert "relume serve: listening on http://127.0.0.1:" in log.read_text()
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(30)
    assert process.stdout.read() == b""

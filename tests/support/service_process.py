"""A ``python -m engine serve`` child process and a tiny JSON client for it (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class Service:
    """A ``python -m engine serve`` child process and a tiny JSON client for it."""

    def __init__(self, folder: Path) -> None:
        self.token_file = folder / "service.json"
        self.process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", "0",
                                         "--token-file", str(self.token_file)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not self.token_file.is_file():
            assert self.process.poll() is None, self.process.stdout.read()
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.05)
        info = json.loads(self.token_file.read_text())
        self.port, self.token = info["port"], info["token"]

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_job(self, job_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status, state = self.call("GET", f"/jobs/{job_id}")
            assert status == 200
            if state["state"] in ("done", "failed", "cancelled"):
                return state
            assert time.monotonic() < deadline, state
            time.sleep(0.05)

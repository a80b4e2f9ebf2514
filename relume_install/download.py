"""Fetching a manifest file into the download cache: folder copy or HTTP(S) with Range resume, then sha256.

``requests`` is imported only when an HTTP download starts, so folder mirrors need no network code.
"""

from __future__ import annotations

import hashlib
import site
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urljoin

from relume_install.errors import ChecksumError, InstallError, SourceError
from relume_install.journal import Journal
from relume_install.manifest import AssetFile
from relume_install.progress import Progress
from relume_install.sources import check_url

CHUNK = 1 << 20                           # bytes read or written at a time
RETRY_DELAYS_S = (0.5, 1.0, 2.0)          # waits before resuming a dropped download
MAX_REDIRECTS = 10


def sha256_file(path: Path) -> str:
    """The file's sha256, lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_requests(engine_python: Path):
    """``requests`` from this Python, else from the engine venv (same interpreter version) if it has it."""
    try:
        import requests
        return requests
    except ImportError:
        pass
    probe = "import os, sys, requests; print(sys.version_info[:2]); print(os.path.dirname(os.path.dirname(requests.__file__)))"
    result = subprocess.run([str(engine_python), "-c", probe], capture_output=True, text=True, check=False)
    lines = result.stdout.splitlines()
    if result.returncode == 0 and len(lines) == 2 and lines[0] == str(sys.version_info[:2]):
        site.addsitedir(lines[1])
        import requests
        return requests
    raise InstallError("requests", "not installed in this Python nor in the engine's; run `python -m pip install requests`, "
                                   "or install the assets from a folder with --mirror DIR")


def _write_chunks(part: Path, mode: str, chunks: Iterable[bytes], progress: Progress, limit: int | None = None) -> None:
    """Write ``chunks`` to ``part`` (``mode`` ``wb`` or ``ab``) with progress, stopping past ``limit`` bytes."""
    try:
        with open(part, mode) as out:
            for chunk in chunks:
                out.write(chunk)
                progress.advance(len(chunk))
                if limit is not None and progress.done > limit:
                    break                 # longer than the manifest says: the size check rejects it
    finally:
        progress.close()


class Downloader:
    """Fetches a manifest file into the download cache as ``<sha256>.part`` and verifies it.

    HTTP downloads resume with a Range request after a dropped connection (a few times within a
    run) and across runs (the partial file stays in the cache). A size or sha256 mismatch deletes
    the partial file and raises :class:`ChecksumError`.
    """

    def __init__(self, cache_dir: Path, engine_python: Path) -> None:
        self.cache_dir = cache_dir
        self.engine_python = engine_python
        self._session = None

    def fetch(self, journal: Journal, file: AssetFile, source: str | Path) -> Path:
        """The verified file in the cache; ``source`` is a local file (a folder mirror) or an http(s) URL."""
        journal.mkdirs(self.cache_dir, temporary=True)
        part = self.cache_dir / f"{file.sha256}.part"
        if isinstance(source, Path):
            with open(source, "rb") as src:
                _write_chunks(part, "wb", iter(lambda: src.read(CHUNK), b""), Progress(file.dest, file.size))
        else:
            self._download(source, part, file)
        size = part.stat().st_size
        digest = sha256_file(part) if size == file.size else None
        if digest != file.sha256:
            part.unlink()
            found = f"sha256 {digest}" if digest else f"{size} bytes"
            raise ChecksumError(source, f"got {found}, assets.json says {file.size} bytes with sha256 {file.sha256}; "
                                        "the download was deleted and nothing was installed from it")
        return part

    def _download(self, url: str, part: Path, file: AssetFile) -> None:
        requests = import_requests(self.engine_python)
        self._session = self._session or requests.Session()
        dropped = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
        stalled = 0          # drops in a row that brought no new bytes: a slow link that keeps making progress
        while True:          # is never given up on; len(RETRY_DELAYS_S) stalls in a row are
            have = part.stat().st_size if part.exists() else 0
            if have >= file.size:
                return                    # complete (or too long: the checksum says so)
            try:
                self._get(url, part, file, have)
            except dropped as exc:
                got = part.stat().st_size if part.exists() else 0
                stalled = 0 if got > have else stalled + 1
                if stalled > len(RETRY_DELAYS_S) - 1:
                    break
                print(f"    connection lost at {got / 1e6:.1f} MB ({type(exc).__name__}); resuming in "
                      f"{RETRY_DELAYS_S[stalled]} s")
                time.sleep(RETRY_DELAYS_S[stalled])
        if not part.exists() or part.stat().st_size < file.size:
            raise InstallError(url, f"download incomplete: {len(RETRY_DELAYS_S)} attempts in a row brought no new "
                                    f"bytes; {part} is kept and the next run resumes it")

    def _get(self, url: str, part: Path, file: AssetFile, have: int) -> None:
        """One GET, appending to ``part`` when the server honours ``Range: bytes=<have>-``. Redirects are
        followed by hand, each target checked (:func:`check_url`) before any request is sent to it."""
        headers = {"Range": f"bytes={have}-"} if have else {}
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self._session.get(current, headers=headers, stream=True, timeout=(15, 60),
                                         allow_redirects=False)
            if not response.is_redirect:
                break
            target = urljoin(current, response.headers.get("Location", ""))
            response.close()
            check_url(target, url)
            current = target
        else:
            raise SourceError(url, f"more than {MAX_REDIRECTS} redirects")
        with response:
            resumed = response.status_code == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
            if response.status_code not in (200, 206) or (response.status_code == 206 and not resumed):
                if have:
                    part.unlink()         # the server will not resume it: start afresh next time
                raise SourceError(url, f"HTTP {response.status_code} {response.reason}")
            progress = Progress(file.dest, file.size, have if resumed else 0)
            _write_chunks(part, "ab" if resumed else "wb", response.iter_content(CHUNK), progress, limit=file.size)

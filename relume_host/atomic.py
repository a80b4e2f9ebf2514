"""Atomic file output: write to a temporary file beside the target, then rename it over the target.

A reader (Nuke's Read, the engine reading a lights file, a farm job) sees either the old file or the
whole new one, and a stopped or failed writer leaves no partial output behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Iterator, List, Union

from relume_host.errors import OutputError
from relume_host.process import process_alive

try:
    import fcntl
except ImportError:          # Windows
    fcntl = None

PathLike = Union[str, "os.PathLike[str]"]

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[0-9a-f]{12}\.tmp")


@contextlib.contextmanager
def atomic_path(target: PathLike, mode: int = 0o666) -> Iterator[Path]:
    """Yield a temporary path in the target's folder (created, empty); on success rename it to ``target``.

    The temporary name keeps the target's suffix (image writers pick the format from it) and names its
    writer (host and process id), so :func:`remove_stale_temporaries` can tell a dead run's leftovers
    from a live writer's file. On any exception the temporary file is removed and ``target`` is left
    untouched. ``mode`` is the new file's permission bits less the umask: 0o666 like any new file
    (``tempfile.mkstemp`` would make it 0600: frames unreadable by others), 0o600 for a private file.
    Raises OutputError naming ``target`` when its folder cannot be written.
    """
    target = Path(target)
    folder = target.parent
    tmp = folder / f".{target.name}.{_HOST}-{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(str(tmp), os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
    except OSError as exc:
        blocked = isinstance(exc, (FileExistsError, NotADirectoryError))  # a file where a folder should be
        reason = "not a folder" if blocked else exc.strerror or exc
        raise OutputError(target, f"cannot write in {folder} ({reason})") from exc
    try:
        yield tmp
        os.replace(str(tmp), str(target))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(str(tmp))
        raise


def write_bytes_atomic(target: PathLike, data: bytes, mode: int = 0o666) -> None:
    """Write ``data`` to ``target`` atomically (OutputError naming ``target`` when it cannot be written)."""
    with atomic_path(target, mode) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(target, f"cannot write ({exc.strerror or exc})") from exc


def write_text_atomic(target: PathLike, text: str) -> None:
    """Write ``text`` to ``target`` atomically, UTF-8 encoded."""
    write_bytes_atomic(target, text.encode("utf-8"))


def remove_stale_temporaries(folder: PathLike) -> List[Path]:
    """Delete the temporary files of :func:`atomic_path` in ``folder`` whose writer was a process of this host
    that no longer runs (a ``kill -9`` mid-write); returns what was removed. Files of live processes and of
    other hosts (a folder shared over NFS) are left alone."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(str(folder)):
            match = _TEMPORARY.match(entry.name)
            if match is None or match.group("host") != _HOST or process_alive(int(match.group("pid"))):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed



@contextlib.contextmanager
def exclusive_writer(target: PathLike, busy: str = "another relight is writing this file right now") -> Iterator[None]:
    """Hold an exclusive lock on writing ``target`` (a hidden ``.NAME.lock`` beside it, flock'ed, removed
    on exit): a second writer of the same file, in this process or another, gets OutputError(target,
    ``busy``) at once instead of both reporting success. A lock dies with its process, so a killed
    run never leaves a stale one. (No locking where the platform has no ``fcntl``.)"""
    if fcntl is None:
        yield
        return
    target = Path(target)
    lock = target.with_name(f".{target.name}.lock")
    while True:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
        except OSError as exc:
            raise OutputError(target, f"cannot write in {target.parent} ({exc.strerror or exc})") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise OutputError(target, busy) from None
        with contextlib.suppress(OSError):     # the lock file we hold must still be the one on disk
            if os.stat(lock).st_ino == os.fstat(handle).st_ino:
                break
        os.close(handle)                       # its holder removed it between our open and flock: again
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(handle)

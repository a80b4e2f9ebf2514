"""Atomic file output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from engine.errors import OutputError

try:
    import fcntl
except ImportError:          # Windows
    fcntl = None

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_OWNER = f"{_HOST}-{os.getpid()}"
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[0-9a-f]{12}\.tmp")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``.

    The temporary name keeps the target's suffix (image writers pick the format from it) and names
    its writer (host and process id), so :func:`remove_stale_temporaries` can tell a dead run's
    leftovers from a live writer's file. On any
    exception the temporary file is removed and ``target`` is left untouched, so a stopped or
    failed job never leaves a partial output behind. The file is created with mode 0666 less the
    umask, like any new file (``tempfile.mkstemp`` would make it 0600: frames unreadable by others).
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    tmp = folder / f".{target.name}.{_OWNER}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        blocked = isinstance(exc, (FileExistsError, NotADirectoryError))  # a file where a folder should be
        reason = "not a folder" if blocked else exc.strerror or exc
        raise OutputError(target, f"cannot write in {folder} ({reason})") from exc
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of :func:`atomic_path` in ``folder`` whose writer was a process of
    this host that no longer runs (a ``kill -9`` mid-write); returns what was removed. Files of live
    processes and of other hosts (a cache shared over NFS) are left alone."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if match is None or match["host"] != _HOST or _running(int(match["pid"])):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # another user's live process
        return True
    return True


def disk_usage(folder: str | Path):
    """``shutil.disk_usage`` of the disk that holds ``folder``, which need not exist yet."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder)


def check_free_space(target: str | Path, size: int) -> None:
    """OutputError when the file system that would hold ``target`` has less than ``size`` bytes free
    (plus 1 % of the disk, so a full cache never fills the disk to the last byte)."""
    usage = disk_usage(Path(target).parent)
    if size + usage.total // 100 > usage.free:
        raise OutputError(target, f"needs {size / 1e9:.2f} GB, {usage.free / 1e9:.2f} GB free on its disk")


@contextlib.contextmanager
def exclusive_writer(target: str | Path, busy: str = "another relight is writing this file right now") -> Iterator[None]:
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

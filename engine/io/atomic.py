"""Atomic file output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from engine.errors import OutputError


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``.

    The temporary name keeps the target's suffix (image writers pick the format from it). On any
    exception the temporary file is removed and ``target`` is left untouched, so a stopped or
    failed job never leaves a partial output behind. The file is created with mode 0666 less the
    umask, like any new file (``tempfile.mkstemp`` would make it 0600: frames unreadable by others).
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    tmp = folder / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}"
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

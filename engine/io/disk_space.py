"""Disk space checks before large outputs (the cache). Atomic writes and the single-writer lock are
:mod:`relume_host.atomic`'s, shared with the adapters and the installer."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.errors import OutputError


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

"""File-system primitives the journal and the install record use: remove, move, atomic replace."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


def remove_path(path: Path) -> None:
    """Delete a file, a symlink (not its target) or a whole folder; nothing if it is gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def move_file(src: Path, dest: Path) -> None:
    """Rename, or copy then rename when ``src`` and ``dest`` are on different file systems."""
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dest.with_name(f".{dest.name}.relume-tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        src.unlink()


def rewrite_file(path: Path, data: bytes | None) -> None:
    """Replace ``path``'s bytes (``None`` deletes it), refusing a file the user made read-only.

    A symlink (an init.py kept in a dotfiles repository) is followed: its target is rewritten. An
    existing file is rewritten in place, so its inode, owner, mode and hard links stay the artist's
    (a temporary-and-rename would make a new file, root-owned under sudo); its old bytes sit in a
    ``.NAME.relume-backup`` beside it until the new ones are on disk. A new file is written to a
    temporary and renamed.
    """
    path = Path(os.path.realpath(path))
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, "file is read-only", str(path))
    if data is None:
        path.unlink()
        return
    if path.exists():
        backup = path.with_name(f".{path.name}.relume-backup")
        shutil.copy2(path, backup)
        with open(path, "r+b") as handle:
            handle.write(data)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        backup.unlink()
        return
    tmp = path.with_name(f".{path.name}.relume-tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def restore_bytes(path: Path, data: bytes | None) -> None:
    """Put back a file's earlier bytes (``None``: it did not exist); nothing to do when they are there
    (an edit that failed before it wrote, e.g. on a read-only file)."""
    current = path.read_bytes() if path.is_file() else None
    if current != data:
        rewrite_file(path, data)


def rmdir_if_empty(path: Path) -> None:
    """Remove ``path`` if it is an empty folder."""
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()

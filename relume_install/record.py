"""The install record (``<relume home>/install_record.json``): per step, its fingerprint and the items it added.

Format: ``{"format": 1, "home_dirs": [folder, ...], "steps": {key: {"title", "fingerprint", "items"}}}``.
An item is ``{"type": "dir"|"path", "path"}`` (a folder or a file/tree placed),
``{"type": "block", "path", "text", "created"}`` (bytes appended to a file) or
``{"type": "blender_cli", "blender", "package"}`` (installed through Blender's own command).
"""

from __future__ import annotations

import json
from pathlib import Path

from relume_install.errors import InstallError
from relume_install.fileops import rewrite_file
from relume_install.journal import Journal

RECORD_NAME = "install_record.json"


def load_record(path: Path) -> dict:
    """The record at ``path``, or an empty one when nothing is installed."""
    if not path.exists():
        return {"format": 1, "home_dirs": [], "steps": {}}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record.get("steps"), dict) or not isinstance(record.get("home_dirs"), list):
            raise ValueError("no 'steps' or 'home_dirs'")
        return record
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InstallError(path, f"unreadable install record ({exc}); fix it or move it away") from exc


def save_record(path: Path, record: dict) -> None:
    """Write the record atomically."""
    rewrite_file(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def items_intact(journal: Journal, items: list[dict]) -> bool:
    """Whether what a step added is still in place (a deleted folder makes the step run again)."""
    for item in items:
        path = Path(item.get("path", ""))
        if item["type"] in ("dir", "path") and not journal.exists(path):
            return False
        if item["type"] == "tree" and not all(journal.exists(path / rel) for rel in item["files"]):
            return False
        if item["type"] == "block" and (not path.is_file() or item["text"].encode("utf-8") not in path.read_bytes()):
            return False
    return True

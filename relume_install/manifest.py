"""The asset manifest (``assets.json``): parsing, validation, and where each file may land."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from relume_install.errors import UsageError


@dataclass(frozen=True)
class AssetFile:
    """One file to fetch: ``dest`` is relative to the assets folder and starts with the asset's name.

    ``url`` is ``None`` when there is no public download (the file comes from a mirror only);
    ``size`` is in bytes, ``sha256`` lowercase hex.
    """

    asset: str
    dest: str
    url: str | None
    sha256: str
    size: int
    license: str


def load_manifest(path: Path) -> list[AssetFile]:
    """Read and validate ``assets.json``; a bad entry is a usage error naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = []
        for asset in data["assets"]:
            name = asset["name"]
            if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", name):
                raise UsageError(path, f"asset name {name!r} must be a plain folder name")
            for entry in asset["files"]:
                dest, sha, size = entry["dest"], entry["sha256"], entry["size"]
                parts = dest.split("/")
                if ("\\" in dest or ":" in dest or len(parts) < 2 or parts[0] != name
                        or any(part in ("", ".", "..") for part in parts) or any(ord(c) < 32 for c in dest)):
                    raise UsageError(path, f"dest {dest!r} must be a relative path inside the asset's folder {name}/")
                if not re.fullmatch(r"[0-9a-f]{64}", sha) or not isinstance(size, int) or size < 0:
                    raise UsageError(path, f"{dest}: needs a lowercase hex sha256 and a size in bytes")
                url = entry.get("url")
                if url is not None and (not isinstance(url, str) or any(ord(c) < 32 for c in url)):
                    raise UsageError(path, f"{dest}: url must be a string without control characters")
                files.append(AssetFile(name, dest, url, sha, size, asset["license"]))
        return files
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(path, f"unreadable asset manifest ({type(exc).__name__}: {exc})") from exc


def safe_dest(root: Path, dest: str) -> Path:
    """``root/dest``, refusing anything that would land outside ``root`` (also through symlinks)."""
    target = root.joinpath(*dest.split("/"))
    resolved_root = root.resolve()
    if resolved_root not in target.resolve().parents:
        raise UsageError(target, f"leaves the assets folder {root}; refusing")
    return target

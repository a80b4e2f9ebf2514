"""Per-OS locations: pure functions of (platform, environment, home), so every OS is testable anywhere.

``platform`` is a ``sys.platform`` value; any Unix other than macOS is treated like Linux.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

# Each OS's per-user base folder: (environment variable that overrides it, fallback under home).
_BASES = {
    "data": {"win32": ("LOCALAPPDATA", "AppData/Local"), "darwin": (None, "Library/Application Support"),
             "linux": ("XDG_DATA_HOME", ".local/share")},
    "cache": {"win32": ("LOCALAPPDATA", "AppData/Local"), "darwin": (None, "Library/Caches"),
              "linux": ("XDG_CACHE_HOME", ".cache")},
    "config": {"win32": ("APPDATA", "AppData/Roaming"), "darwin": (None, "Library/Application Support"),
               "linux": ("XDG_CONFIG_HOME", ".config")},
}


def os_family(platform: str) -> str:
    """``win32``, ``darwin`` or ``linux`` (any other Unix is treated like Linux)."""
    return platform if platform in ("win32", "darwin") else "linux"


def os_base_dir(kind: str, platform: str, env: Mapping[str, str], home: PurePath) -> PurePath:
    """The OS's per-user ``data``, ``cache`` or ``config`` folder."""
    var, fallback = _BASES[kind][os_family(platform)]
    pure = PureWindowsPath if os_family(platform) == "win32" else PurePosixPath
    return pure(env[var]) if var and env.get(var) else pure(home, *fallback.split("/"))


def _app_name(platform: str) -> str:
    return "relume" if os_family(platform) == "linux" else "Relume"


def default_venv_dir(platform: str, env: Mapping[str, str], home: PurePath) -> PurePath:
    """The engine venv: ~/.local/share/relume/venv, ~/Library/Application Support/Relume/venv, %LOCALAPPDATA%\\Relume\\venv."""
    return os_base_dir("data", platform, env, home) / _app_name(platform) / "venv"


def download_cache_dir(platform: str, env: Mapping[str, str], home: PurePath) -> PurePath:
    """Partial downloads, kept between runs for resuming: ~/.cache/relume, ~/Library/Caches/Relume, %LOCALAPPDATA%\\Relume\\Cache."""
    base = os_base_dir("cache", platform, env, home) / _app_name(platform)
    return base / "Cache" if os_family(platform) == "win32" else base


def venv_python(venv: PurePath, platform: str) -> PurePath:
    """The interpreter inside a venv."""
    return venv / "Scripts" / "python.exe" if os_family(platform) == "win32" else venv / "bin" / "python"


def blender_config_root(platform: str, env: Mapping[str, str], home: PurePath) -> PurePath:
    """Folder holding Blender's per-version user folders (``<root>/<major.minor>/``)."""
    sub = {"linux": "blender", "darwin": "Blender", "win32": "Blender Foundation/Blender"}[os_family(platform)]
    return os_base_dir("config", platform, env, home).joinpath(*sub.split("/"))


def nuke_home(platform: str, env: Mapping[str, str], home: PurePath) -> PurePath:
    """``~/.nuke``; on Windows Nuke's ``~`` is %HOME% if set, else %USERPROFILE% (Foundry's docs)."""
    if os_family(platform) == "win32":
        return PureWindowsPath(env.get("HOME") or env.get("USERPROFILE") or str(home)) / ".nuke"
    return PurePosixPath(home) / ".nuke"


def user_path(text: str) -> Path:
    """A path typed by the user, ``~`` expanded, made absolute without resolving symlinks
    (a venv's python is a symlink that must be kept)."""
    return Path(os.path.abspath(os.path.expanduser(text)))

"""Relume's per-user folder: ``$RELUME_HOME``, else ``~/.relume`` on every OS.

Layout (``install.py`` fills it):

- ``config.json``: ``{"engine_python": ..., "repo": ..., "device": ...}``: the interpreter that runs
  ``python -m engine``, the checkout it runs from, the default device (:mod:`relume_host.engine`);
- ``assets/<name>/<file>``: large files listed in the checkout's ``assets.json``;
- ``install_record.json``: everything the installer added, so ``--uninstall`` is exact.

The engine's virtual environment is not here: it lives in the OS's per-user data folder and
``config.json`` points at it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional

from relume_host.errors import InputError

HOME_ENV = "RELUME_HOME"


def relume_home(env: Optional[Mapping[str, str]] = None) -> Path:
    """Relume's per-user folder: ``$RELUME_HOME`` if set (blank counts as unset), else ``~/.relume``."""
    override = (os.environ if env is None else env).get(HOME_ENV, "").strip()
    return Path(override).expanduser() if override else Path.home() / ".relume"


def config_path(env: Optional[Mapping[str, str]] = None) -> Path:
    """The ``config.json`` that tells the adapters which Python runs the engine."""
    return relume_home(env) / "config.json"


def assets_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """Folder of installed assets: ``<home>/assets/<asset name>/<file>``."""
    return relume_home(env) / "assets"


def read_config(path: Path) -> dict:
    """The contents of ``config.json``: {} when there is none; InputError when it cannot be read or is not an
    object (the message says to run install.py again)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable ({exc}); run install.py again") from None
    if not isinstance(data, dict):
        raise InputError(path, "is not a JSON object; run install.py again")
    return data

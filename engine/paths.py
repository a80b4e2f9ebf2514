"""Where Relume keeps its per-user files: ``~/.relume`` on every OS, or ``$RELUME_HOME``.

Standard library only: the installer (``engine.installer``, run by ``install.py``) imports it
before any dependency is installed, and the Blender and Nuke adapters, which do not import the
engine, reproduce :func:`relume_home` in one line. Layout of the folder (``install.py`` fills it):

- ``config.json``: ``{"engine_python": ..., "repo": ..., "device": ...}``, read by both plugins to
  run the engine as ``[engine_python, "-m", "engine", ...]`` with ``repo`` on ``PYTHONPATH``;
- ``assets/<name>/<file>``: large files listed in the repository's ``assets.json``;
- ``install_record.json``: everything the installer added, so ``--uninstall`` is exact.

The engine's venv is not here: it lives in the OS's per-user data folder (see
``engine/installer/platform_paths.py``) and ``config.json`` points at it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "RELUME_HOME"


def relume_home(env: Mapping[str, str] | None = None) -> Path:
    """Relume's per-user folder: ``$RELUME_HOME`` if set, else ``~/.relume``."""
    env = os.environ if env is None else env
    override = env.get(HOME_ENV)
    return Path(override).expanduser() if override else Path.home() / ".relume"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The ``config.json`` that tells the plugins which Python runs the engine."""
    return relume_home(env) / "config.json"


def assets_dir(env: Mapping[str, str] | None = None) -> Path:
    """Folder of installed assets: ``<home>/assets/<asset name>/<file>``."""
    return relume_home(env) / "assets"

"""Which Python runs the engine, and from which repository: preferences first, then the installer's file.

``install.py`` writes ``config.json`` in Relume's per-user folder (``$RELUME_HOME`` or ``~/.relume``;
the engine's ``engine.paths.relume_home`` in one line): ``{"engine_python": ..., "repo": ...,
"device": ...}``. A value set in the add-on preferences wins over ``$RELUME_ENGINE_PYTHON``, which wins over
the file (the Nuke plug-in reads them the same way).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "RELUME_ENGINE_PYTHON"      # overrides config.json's interpreter (farm workers, tests), as in Nuke
# Variables a host sets for its own Python; the engine's must not inherit them (as relume_nuke.config's).
HOST_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE")


class EngineNotFound(Exception):
    """No usable engine Python; the message tells the artist where to set it."""


def config_path() -> Path:
    override = os.environ.get("RELUME_HOME")
    return (Path(override).expanduser() if override else Path.home() / ".relume") / "config.json"


@dataclass(frozen=True)
class EngineLocation:
    """How to run ``python -m engine``: the interpreter, the repository to put on PYTHONPATH, the device."""

    python: Path
    repo: Path | None = None
    device: str = "auto"

    def command(self, *args: str) -> list[str]:
        """``python -P -m engine ARGS``: ``-P`` (Python 3.11+, the engine's) keeps Blender's working folder
        off ``sys.path``, so a ``yaml.py`` or an ``engine/`` folder there is never imported by the engine."""
        return [str(self.python), "-P", "-m", "engine", *args]

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The child's environment: the host's, minus Python settings that belong to the host."""
        env = dict(os.environ if base is None else base)
        for key in HOST_PYTHON_VARIABLES:
            env.pop(key, None)
        if self.repo is not None:
            env["PYTHONPATH"] = str(self.repo)
        return env


def _read_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EngineNotFound(f"{path}: unreadable ({exc}); run install.py again") from None
    return data if isinstance(data, dict) else {}


def find_engine(python: str = "", repo: str = "", device: str = "") -> EngineLocation:
    """Resolve the engine from preference values (empty: not set), ``$RELUME_ENGINE_PYTHON`` and ``config.json``."""
    path = config_path()
    config = _read_config(path)
    chosen = python or os.environ.get(ENV_VAR, "").strip() or config.get("engine_python") or ""
    if not chosen:
        raise EngineNotFound(f"engine Python not set: set it in Preferences > Add-ons > Relume, or run install.py "
                             f"(it writes {path})")
    interpreter = Path(chosen).expanduser()
    if not interpreter.is_file():
        source = "preferences" if python else ENV_VAR if os.environ.get(ENV_VAR, "").strip() else str(path)
        raise EngineNotFound(f"{interpreter}: engine Python not found (set in {source})")
    repo_value = repo or config.get("repo") or ""
    return EngineLocation(interpreter, Path(repo_value).expanduser() if repo_value else None,
                          device or str(config.get("device") or "auto"))

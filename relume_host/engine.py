"""Which Python runs the engine, its command line, and the environment its child processes get.

The adapters never import the engine: they run ``<engine python> -P -m engine ...`` as a child process
(or start its local service the same way). The interpreter comes from, first to last: the host's own
setting (Blender's add-on preferences), ``$RELUME_ENGINE_PYTHON`` (farm workers, tests), ``config.json``'s
``engine_python`` (written by ``install.py``). ``config.json``'s ``repo`` goes on the child's PYTHONPATH.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from relume_host.errors import RelumeError
from relume_host.home import config_path, read_config

ENV_VAR = "RELUME_ENGINE_PYTHON"
# Variables a host sets for its own Python; the engine's interpreter must not inherit them.
HOST_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE")
DEFAULT_DEVICE = "auto"


class EngineNotFound(RelumeError):
    """No usable engine Python; the message names where it was looked for and how to set it."""


@dataclass(frozen=True)
class EngineLocation:
    """How to run ``python -m engine``: the interpreter, the checkout to put on PYTHONPATH, the device."""

    python: Path
    repo: Optional[Path] = None
    device: str = DEFAULT_DEVICE

    def command(self, *args: str) -> List[str]:
        """``python -P -m engine ARGS``. ``-P`` (Python 3.11+, the engine's) keeps the host's working folder
        off ``sys.path``, so a ``yaml.py`` or an ``engine/`` folder there is never imported by the engine."""
        return [str(self.python), "-P", "-m", "engine", *args]

    def environment(self, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """The child's environment: ``base`` (default: this process's) minus the host's Python variables, with
        the checkout on PYTHONPATH when ``repo`` is set."""
        env = {key: value for key, value in (os.environ if base is None else base).items()
               if key not in HOST_PYTHON_VARIABLES}
        if self.repo is not None:
            env["PYTHONPATH"] = str(self.repo)
        return env


def find_engine(python: str = "", repo: str = "", device: str = "", setting: str = "",
                env: Optional[Mapping[str, str]] = None) -> EngineLocation:
    """The engine to run. ``python``, ``repo``, ``device``: the host's own settings ("" when not set), which win;
    ``setting``: where the host's setting is, for the error message (e.g. "Preferences > Add-ons > Relume").

    Raises EngineNotFound when no interpreter is set or the one set is not a file.
    """
    env = os.environ if env is None else env
    path = config_path(env)
    try:
        config = read_config(path)
    except RelumeError as exc:
        raise EngineNotFound(exc.where, exc.problem) from None
    override = env.get(ENV_VAR, "").strip()
    chosen = python or override or str(config.get("engine_python") or "")
    if not chosen:
        where = f"set it in {setting}, " if setting else ""
        raise EngineNotFound("engine Python", f"not set: {where}run install.py (it writes {path}) or set {ENV_VAR}")
    interpreter = Path(chosen).expanduser()
    if not interpreter.is_file():
        source = setting if python else ENV_VAR if override else str(path)
        raise EngineNotFound(interpreter, f"engine Python not found (set in {source})")
    repo_value = repo or str(config.get("repo") or "")
    return EngineLocation(interpreter, Path(repo_value).expanduser() if repo_value else None,
                          device or str(config.get("device") or DEFAULT_DEVICE))

"""Which Python runs the engine, and the environment its child processes get.

The installer writes ``config.json`` = ``{"engine_python": "/path/to/venv/bin/python", "repo": ..., ...}`` in
Relume's per-user folder (``$RELUME_HOME``, else ``~/.relume``); the environment variable
``RELUME_ENGINE_PYTHON`` overrides the interpreter (farm workers, tests), as in the Blender add-on.
"""

from __future__ import annotations

import json
import os

ENV_VAR = "RELUME_ENGINE_PYTHON"
# Variables a host sets for its own Python; the engine's interpreter must not inherit them (the same set as
# the Blender add-on's engine_location; tests/test_host_contracts.py holds them equal).
HOST_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE")


class EngineNotConfigured(RuntimeError):
    """No engine interpreter is known; the message says where it was looked for."""


def config_path() -> str:
    """``config.json`` in Relume's per-user folder, ``$RELUME_HOME`` or ``~/.relume``, as the engine's
    ``engine.paths.config_path`` (the installer's record of the engine interpreter)."""
    home = os.environ.get("RELUME_HOME", "").strip()
    return os.path.join(os.path.expanduser(home) if home else os.path.join(os.path.expanduser("~"), ".relume"),
                        "config.json")


def _config() -> tuple:
    """(path, contents) of config.json; EngineNotConfigured when it is missing or unreadable."""
    path = config_path()
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise EngineNotConfigured(f"{path}: not found; run Relume's install.py or set {ENV_VAR}") from None
    except (OSError, ValueError) as exc:
        raise EngineNotConfigured(f"{path}: unreadable ({exc})") from None
    return path, data if isinstance(data, dict) else {}


def engine_python() -> str:
    """The interpreter that can ``import engine``: $RELUME_ENGINE_PYTHON, else config.json's engine_python."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return override
    path, data = _config()
    python = data.get("engine_python")
    if not python:
        raise EngineNotConfigured(f"{path}: has no 'engine_python'; re-run install.py or set {ENV_VAR}")
    return str(python)


def engine_repo() -> str:
    """config.json's ``repo`` (the checkout the engine runs from; put on the child's PYTHONPATH), or ""."""
    try:
        return str(_config()[1].get("repo") or "")
    except EngineNotConfigured:
        return ""


def child_environment() -> dict:
    """This process's environment without the host's Python variables (the engine runs its own Python),
    with config.json's ``repo`` on PYTHONPATH when it names one."""
    env = {key: value for key, value in os.environ.items() if key not in HOST_PYTHON_VARIABLES}
    repo = engine_repo()
    if repo:
        env["PYTHONPATH"] = os.path.expanduser(repo)
    return env

"""Child processes of the engine's command line: ``<engine python> -m engine -q <command> ...``.

The adapter never imports the engine (it needs numpy and torch, which Nuke's Python lacks); every
exchange is a command line in and JSON (or files) out. Exit code 2 from the engine means bad input:
its ``relume: error: PATH: problem`` line becomes the EngineError message shown to the artist.
"""

from __future__ import annotations

import json
import subprocess
import sys

from relume_host.engine import EngineLocation, EngineNotFound, find_engine
from relume_host.errors import RelumeError

FARM_PROGRAM = "relume"
# What an engine call, a file it needs or Nuke itself raises for the artist to read: EngineError is a RuntimeError,
# as Nuke's own errors are, and relume_host's file errors (a lights file that cannot be written) are RelumeErrors.
PROBLEMS = (RuntimeError, OSError, RelumeError)
ENGINE_TIMEOUT_S = 600.0  # a weights call on a 4K HDRI takes seconds; this only catches a hung child


class EngineError(RuntimeError):
    """The engine refused or failed, or none is configured; the message names the file or setting and the problem."""


def engine() -> EngineLocation:
    """The engine this machine runs: ``$RELUME_ENGINE_PYTHON``, else ``config.json`` (see :mod:`relume_host.engine`);
    EngineError when none is set or the interpreter set is missing."""
    try:
        return find_engine()
    except EngineNotFound as exc:
        raise EngineError(str(exc)) from None


def popen_options(location: EngineLocation) -> dict:
    """subprocess options shared by every engine call: the engine's environment, no console window on Windows."""
    options: dict = {"env": location.environment()}
    if sys.platform == "win32":
        options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    return options


def engine_command(location: EngineLocation, *arguments: str, quiet: bool = True) -> list:
    """``python -P -m engine -q ARGUMENTS`` for ``location`` (without ``-q`` when not ``quiet``: the engine then
    draws tqdm progress on stderr)."""
    return location.command(*(["-q"] if quiet else []), *arguments)


def farm_command(*arguments: str) -> list:
    """``relume -q ARGUMENTS``, for a farm job: ``relume`` is the engine's own command (its environment's
    ``[project.scripts]`` entry), found on the worker's PATH, so a job names no interpreter of the machine
    that wrote it. Like ``-P`` above, a console script never imports from its working folder."""
    return [FARM_PROGRAM, "-q", *arguments]


def error_message(stderr: str, returncode: int) -> str:
    """The engine's own error line when it printed one, else the tail of its stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("relume: error:"):
            return line[len("relume: error:"):].strip()
    tail = " | ".join(lines[-3:]) if lines else "no message"
    return f"engine exited with code {returncode}: {tail}"


def run_engine(*arguments: str, timeout: float = ENGINE_TIMEOUT_S) -> str:
    """Run an engine command to completion and return its stdout; raise EngineError on failure."""
    location = engine()
    try:
        result = subprocess.run(engine_command(location, *arguments), capture_output=True, text=True,
                                timeout=timeout, check=False, **popen_options(location))
    except OSError as exc:
        raise EngineError(f"{location.python}: cannot run the engine Python ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        raise EngineError(f"engine {arguments[0]} did not finish within {timeout:.0f} s") from None
    if result.returncode != 0:
        raise EngineError(error_message(result.stderr, result.returncode))
    return result.stdout


def run_engine_json(*arguments: str) -> dict:
    """Run an engine command that prints one JSON object (``--json``) and return it parsed."""
    output = run_engine(*arguments, "--json")
    try:
        return json.loads(output)
    except ValueError:
        raise EngineError(f"engine {arguments[0]} printed no JSON: {output[:200]!r}") from None

"""Errors the engine raises for bad input: each names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class RelumeError(Exception):
    """Base class of every error the engine reports to the artist (CLI exit code 2)."""


class InputError(RelumeError):
    """A file or value given to the engine is unusable.

    The message always starts with the offending path (or the setting's name), so the CLI, the
    Blender report and the Nuke message box all show the artist where to look.
    """

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")


class OutputError(RelumeError):
    """An output cannot be written (unwritable folder, disk full); nothing partial is left."""

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")

"""Errors that name where the problem is: ``PATH: problem`` (or ``SETTING: problem``).

Every error Relume reports to an artist has this shape, so the CLI's one-line message, the Blender
report and the Nuke message box all start with the file or setting to look at.
"""

from __future__ import annotations

import os
from typing import Union

Where = Union[str, "os.PathLike[str]"]


class RelumeError(Exception):
    """Base class of every error reported to the artist (the engine's CLI exits with code 2)."""

    def __init__(self, where: Where, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")


class InputError(RelumeError):
    """A file or value given to Relume is unusable."""


class OutputError(RelumeError):
    """An output cannot be written (unwritable folder, disk full); nothing partial is left."""

"""Errors the engine raises for bad input: each names the file (or setting) and the problem.

The classes are :mod:`relume_host.errors`' (one definition for the engine and both adapters): every error
is ``RelumeError(where, problem)`` with the message ``where: problem``, and the CLI exits with code 2.
"""

from relume_host.errors import InputError, OutputError, RelumeError

__all__ = ["InputError", "OutputError", "RelumeError"]

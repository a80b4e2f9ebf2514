"""The installer's errors and exit codes (documented in the README and ``install.py --help``).

0 done or nothing to do; 1 a step failed and the run was rolled back (or cancelled); 2 usage error
(bad arguments, bad assets.json, unsupported Python), nothing changed; 3 checksum mismatch, the
download was deleted and the run rolled back; 4 a source was refused or unavailable (plain http to
another host, file missing from the mirror, HTTP error), rolled back; 130 interrupted (Ctrl-C),
rolled back.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHECKSUM, EXIT_SOURCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class InstallError(Exception):
    """A problem reported to the artist; the message starts with the path or setting concerned."""

    code = EXIT_FAILED

    def __init__(self, where: object, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


class UsageError(InstallError):
    """Bad arguments or inputs, found before anything changed."""

    code = EXIT_USAGE


class ChecksumError(InstallError):
    """A fetched file is not the one assets.json describes."""

    code = EXIT_CHECKSUM


class SourceError(InstallError):
    """A download source was refused or is unavailable."""

    code = EXIT_SOURCE

"""Damaging files on purpose, for the tests of what the engine does with damaged caches."""

from __future__ import annotations

from pathlib import Path


def flip_byte(path: Path, offset_from_end: int) -> None:
    """Flip bits of the byte ``offset_from_end`` bytes before the end of ``path``, in place."""
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x7C
    path.write_bytes(bytes(data))

"""Frame fields of output patterns: ``relit.####.exr`` (padding = number of ``#``) or ``relit.%04d.exr``.

Only the file name holds the frame field: in ``shot#1/relit.####.exr`` the folder keeps its ``#``.
A name with ``#`` uses those and leaves a ``%d`` alone; otherwise printf fields are expanded.
"""

from __future__ import annotations

import os
import re

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")
_FRAME_FIELD = re.compile(r"#+|%0?(\d*)d")


def frame_path(pattern: str, frame: int) -> str:
    """``pattern`` with the frame field(s) of its file name replaced by ``frame`` (unchanged when it has none)."""
    folder, name = os.path.split(str(pattern))
    if _HASHES.search(name):
        name = _HASHES.sub(lambda m: str(frame).zfill(len(m.group(0))), name)
    else:
        name = _PRINTF.sub(lambda m: str(frame).zfill(int(m.group(1) or 0)), name)
    return os.path.join(folder, name)


def has_frame_field(pattern: str) -> bool:
    """Whether the file name of ``pattern`` holds a frame field."""
    return _FRAME_FIELD.search(os.path.basename(str(pattern))) is not None


def output_stem(pattern: str) -> str:
    """``relit`` for ``/shots/relit.####.exr``: the name without its frame field and extension."""
    name = os.path.splitext(os.path.basename(str(pattern)))[0]
    return _FRAME_FIELD.sub("", name).rstrip("._-") or "relume"

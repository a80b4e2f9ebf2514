"""The lights file both adapters hand to the engine (``relume relight --lights FILE``), written as YAML.

A lights file is ``lights:`` (a list of entries, one mapping per light, in the engine frame and units; see
``engine/lighting/lights.py``) and optionally ``frames:`` (frame number -> that frame's own list, for animated
lights). The hosts' Pythons have no YAML library, so this writes the small subset needed by hand: one flow
mapping per light of strings, booleans, numbers and number lists. Floats keep a decimal point and a signed
exponent, so YAML 1.1 (PyYAML, the engine's reader) reads them back as floats, not strings.
"""

from __future__ import annotations

import json
import math
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple


def lights_document(lights: Sequence[dict], frames: Iterable[Tuple[int, Sequence[dict]]] = ()) -> dict:
    """The lights file's content: ``lights`` for every frame, ``frames`` for the frames lit otherwise."""
    document = {"lights": list(lights)}
    by_frame = {str(frame): list(entries) for frame, entries in frames}
    if by_frame:
        document["frames"] = by_frame
    return document


def lights_text(document: Mapping[str, object], comment: Optional[str] = None) -> str:
    """The YAML text of ``document`` (from :func:`lights_document`), after ``comment`` as ``#`` lines."""
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    lines += ["lights:", *_entries(document["lights"], "  ")]
    if document.get("frames"):
        lines.append("frames:")
        for frame, entries in document["frames"].items():
            lines += [f"  {json.dumps(str(frame))}:", *_entries(entries, "    ")]
    return "\n".join(lines) + "\n"


def _entries(entries: Sequence[dict], indent: str) -> List[str]:
    return [indent + "- {" + ", ".join(f"{json.dumps(str(key))}: {_value(value)}" for key, value in entry.items()) + "}"
            for entry in entries] or [indent + "[]"]


def _value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    raise TypeError(f"cannot write {type(value).__name__} to a lights file")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"lights file values must be finite, got {value}")
    mantissa, _, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa

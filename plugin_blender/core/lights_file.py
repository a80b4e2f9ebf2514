"""Write lights-file entries as the YAML ``relume relight --lights FILE`` reads (Blender has no PyYAML).

Entries are flat mappings of strings, numbers and number lists, so one flow mapping per light is
enough. Floats are written so YAML 1.1 (PyYAML) reads them back as floats: always a decimal point,
an explicitly signed exponent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"lights file values must be finite, got {value}")
    text = repr(value)
    mantissa, exponent = (text.split("e") + [""])[:2]
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return _number(value)
    raise TypeError(f"cannot write {type(value).__name__} to a lights file")


def lights_yaml(entries: Sequence[dict], comment: str = "") -> str:
    """The text of a lights file holding ``entries`` under the key ``lights``."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines.append("lights:")
    for entry in entries:
        lines.append("  - {" + ", ".join(f"{key}: {_value(value)}" for key, value in entry.items()) + "}")
    return "\n".join(lines) + "\n"

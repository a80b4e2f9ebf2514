"""Reading the engine's YAML files (captures, lights) with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from engine.errors import InputError


def load_yaml(path: Path, missing: str) -> object:
    """Parsed YAML of ``path``; InputError with ``missing`` when absent, or the parser's complaint."""
    if not path.is_file():
        raise InputError(path, missing)
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, f"invalid YAML ({exc})") from None

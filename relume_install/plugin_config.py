"""The ``config.json`` step: how the Nuke and Blender plugins run the engine (see relume_host/home.py)."""

from __future__ import annotations

import json
from pathlib import Path

from relume_host import home
from relume_install.journal import Journal
from relume_install.steps import Setup, Step, already_there, digest, place_new


def plan_config(s: Setup, engine_python: Path, device: str) -> list[Step]:
    """The step writing ``config.json`` (none when an identical one is already there)."""
    data = {"format": 1, "engine_python": str(engine_python), "repo": str(s.repo), "device": device}
    content = (json.dumps(data, indent=2) + "\n").encode("utf-8")
    path = home.config_path(s.env)
    if already_there(s, "config", path, lambda: path.read_bytes() == content):
        return []

    def apply(journal: Journal) -> list[dict]:
        return place_new(journal, path, lambda: journal.write_new(path, content))

    return [Step("config", f"Plugin configuration {path}", digest(content), apply)]

"""The Blender add-on's plain-Python modules (``plugin_blender/core``) loaded without Blender.

``core`` imports no ``bpy`` (the add-on package around it does), so host-independent tests use it in the
engine's Python. It is loaded as ``relume_blender_ext.core``, inside a stand-in for the extension package
whose ``__init__`` (which imports ``bpy``) is never run; the stand-in's ``relume_host`` is the checkout's
shared package, which install.py copies into the real extension.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from types import ModuleType

import relume_host

PLUGIN = Path(__file__).resolve().parents[2] / "plugin_blender"
PACKAGE = "relume_blender_ext"


def core_module(name: str) -> ModuleType:
    """``plugin_blender.core.<name>``, imported once per test process."""
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(PLUGIN)]
        sys.modules[PACKAGE] = package
        sys.modules[f"{PACKAGE}.relume_host"] = relume_host
    return importlib.import_module(f"{PACKAGE}.core.{name}")

"""``plugin_blender/core`` loaded as a package of its own, without Blender: it imports no ``bpy`` (the add-on
package around it does), so host-independent tests use it in the engine's Python."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CORE = Path(__file__).resolve().parents[2] / "plugin_blender" / "core"
PACKAGE = "relume_blender_core"


def core_module(name: str) -> ModuleType:
    """``plugin_blender.core.<name>``, imported once per test process."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, CORE / "__init__.py",
                                                      submodule_search_locations=[str(CORE)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE}.{name}")

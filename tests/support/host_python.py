"""What code for a host's own Python may use: Python 3.7 syntax (Nuke 13) and only the standard library plus the
packages named."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def foreign_imports(path: Path, allowed: set[str]) -> list[str]:
    """The modules ``path`` imports beyond the standard library and ``allowed`` (SyntaxError if it is not
    Python 3.7 syntax)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 7))
    permitted = set(sys.stdlib_module_names) | allowed
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        else:
            continue
        found += [module for module in modules if module.split(".")[0] not in permitted]
    return found

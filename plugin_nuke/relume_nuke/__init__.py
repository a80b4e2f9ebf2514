"""Relume for Nuke: the Relume_Relight and Relume_Reenact gizmos' Python side.

Nuke does the pixel work (a native Read -> Multiply -> Merge(plus) graph inside the gizmo); this
package only converts Nuke's lights into the engine's lights file, asks the engine
(``<engine python> -m engine ...`` in a child process) for the per-stage-light weights and writes
them into knobs. Standard library only, Python 3.10+ syntax (Nuke 15); Qt through ``relume_nuke.qt``.

Modules: ``engine_cli`` (the engine from relume_host.engine, child processes),
``capture`` (capture description, Nuke sequence paths), ``lights`` (Nuke lights -> lights file),
``graph`` (the live node graph), ``live`` (weights on knob and light changes), ``batch`` (engine
renders, farm chunks), ``callbacks`` (what the gizmo and menus call), ``plugin`` (paths, menus),
``panel`` and ``qt`` (the light-stage panel), ``engine_steps`` (engine commands in turn, progress and
cancel), ``reenact`` (the Relume_Reenact gizmo: track, transfer, reenact the source plate).
"""

import importlib.util
import os
import sys

GIZMO_CLASS = "Relume_Relight"
REENACT_CLASS = "Relume_Reenact"


def _find_relume_host() -> None:
    """Make ``relume_host`` (the contracts shared with the engine) importable: it lives beside ``plugin_nuke/`` in
    the checkout ``install.py`` added to Nuke's plug-in path. Only that package is loaded (the checkout itself stays
    off ``sys.path``, so its ``engine`` is never importable in Nuke)."""
    if "relume_host" in sys.modules or importlib.util.find_spec("relume_host") is not None:
        return
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "relume_host")
    init = os.path.join(folder, "__init__.py")
    if not os.path.isfile(init):
        raise ImportError(f"{folder}: Relume's shared package is missing beside plugin_nuke; run Relume's install.py "
                          "from a complete checkout")
    spec = importlib.util.spec_from_file_location("relume_host", init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["relume_host"] = module
    spec.loader.exec_module(module)


_find_relume_host()

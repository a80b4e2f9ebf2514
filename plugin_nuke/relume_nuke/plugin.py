"""Plug-in set-up: gizmo and icon folders on Nuke's plugin path, the Relume menu and toolbar."""

from __future__ import annotations

import os

import nuke
from relume_nuke import GIZMO_CLASS, REENACT_CLASS
from relume_nuke.engine_cli import EngineError, engine

CREATE_GIZMO = f"nuke.createNode('{GIZMO_CLASS}')"
CREATE_REENACT = "import relume_nuke.plugin; relume_nuke.plugin.create_reenact()"


def plugin_folder() -> str:
    """``plugin_nuke``: the folder holding init.py, menu.py, icons/ and this package."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def support_folders() -> list:
    """The gizmo folders (``gizmos`` beside plugin_nuke in a checkout, or inside it when copied)
    and the icons folder, those that exist."""
    plugin = plugin_folder()
    candidates = [os.path.join(os.path.dirname(plugin), "gizmos"), os.path.join(plugin, "gizmos"),
                  os.path.join(plugin, "icons")]
    return [folder.replace("\\", "/") for folder in candidates if os.path.isdir(folder)]


def register_paths() -> None:
    """Put the gizmo and icon folders on Nuke's plugin path (not on sys.path)."""
    for folder in support_folders():
        nuke.pluginAddPath(folder, addToSysPath=False)


def preview_selected() -> None:
    """Menu command: open the light-stage panel of the selected Relume_Relight node."""
    try:
        node = nuke.selectedNode()
    except ValueError:
        node = None
    if node is None or node.Class() != GIZMO_CLASS:
        nuke.message(f"Select a {GIZMO_CLASS} node first.")
        return
    from relume_nuke import panel

    panel.show_for(node)


def show_engine() -> None:
    """Menu command: say which Python runs the engine (or why none is configured)."""
    try:
        nuke.message(f"Relume engine Python:\n{engine().python}")
    except EngineError as exc:
        nuke.message(f"Relume engine not configured:\n{exc}")


def create_reenact() -> None:
    """Menu command: a Relume_Reenact (fed by the selected node) and a Relume_Relight lighting its output."""
    reenact = nuke.createNode(REENACT_CLASS)
    nuke.createNode(GIZMO_CLASS, inpanel=False).setInput(0, reenact)


def build_menus() -> None:
    """A Relume toolbar (the Nodes menu) and a Relume menu in Nuke's main menu bar."""
    toolbar = nuke.menu("Nodes").addMenu("Relume", icon="relume.png")
    toolbar.addCommand("Relume Relight", CREATE_GIZMO, icon=f"{GIZMO_CLASS}.png")
    toolbar.addCommand("Relume Reenact", CREATE_REENACT, icon=f"{GIZMO_CLASS}.png")
    main = nuke.menu("Nuke").addMenu("Relume")
    main.addCommand("Relume Relight", CREATE_GIZMO, icon=f"{GIZMO_CLASS}.png")
    main.addCommand("Relume Reenact", CREATE_REENACT, icon=f"{GIZMO_CLASS}.png")
    main.addCommand("Light-stage preview of selected", "import relume_nuke.plugin; relume_nuke.plugin.preview_selected()")
    main.addCommand("Engine...", "import relume_nuke.plugin; relume_nuke.plugin.show_engine()")

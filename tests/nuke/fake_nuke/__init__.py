"""Test support for plugin_nuke: a fake ``nuke`` module (``fake_nuke/nuke.py``), .gizmo parsing
(``gizmo_file``) and a node-graph evaluator (``interpreter``).

Importing this package puts the fake ``nuke`` and ``plugin_nuke`` (the ``relume_nuke`` package)
on sys.path. ``reset()`` starts a fresh script with Relume's gizmo folder on the plugin path.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PLUGIN = REPO / "plugin_nuke"
GIZMOS = REPO / "gizmos"
for _path in (str(HERE), str(PLUGIN)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import nuke  # noqa: E402  (the fake, from HERE)


def reset(gui: bool = False) -> None:
    """A fresh fake Nuke session: empty script and callbacks, then Relume's plugin folder loaded
    the way Nuke loads a folder on its plugin path: its init.py runs, and menu.py in the GUI."""
    nuke._reset()
    nuke.env["gui"] = gui
    nuke.pluginAddPath(str(PLUGIN))
    runpy.run_path(str(PLUGIN / "init.py"), run_name="__main__")
    if gui:
        runpy.run_path(str(PLUGIN / "menu.py"), run_name="__main__")


def run_main_thread() -> int:
    """Run what worker threads queued with nuke.executeInMainThread; returns how many calls ran."""
    count = 0
    while nuke._main_queue:
        call, args, kwargs = nuke._main_queue.pop(0)
        call(*args, **kwargs)
        count += 1
    return count


def save_and_load(node):
    """The node as a reopened script has it: its class and non-default knob values written as Nuke writes
    them (animation curves and expressions included), then loaded into the current script under the same
    name (the original is deleted first), onCreate running last. Inputs are not kept: reconnect them."""
    from fake_nuke import gizmo_file

    path = nuke._gizmo_file(node.Class())
    fresh = gizmo_file.instantiate(path, node.Class(), nuke.root()) if path else None
    defaults = {name: gizmo_file.knob_script(knob) for name, knob in fresh.knobs().items()} if fresh else {}
    text = gizmo_file.node_script(node, defaults)
    with node._group:
        nuke.delete(node)
        return gizmo_file.load_node(text, node._group)

"""Entry points named in gizmos/Relume_Relight.gizmo and registered by init.py / menu.py.

Each takes the gizmo (and the changed knob) as arguments: the gizmo's hooks pass ``nuke.thisNode()``
and ``nuke.thisKnob()``, as Nuke sets them for onCreate, knobChanged and Python-button knobs; the
onCreate and knobChanged hooks are guarded, so a Nuke without relume_nuke on its path says to run
install.py instead of raising. They only read knobs, call the engine and
write knob values or (re)wire the gizmo's internal nodes; pixels are Nuke's job. Problems are shown
in the gizmo's ``status`` knob (and a message box for explicit button presses in the GUI).
"""

from __future__ import annotations

import contextlib
import os

import nuke
from relume_host.frames import frame_path
from relume_nuke import GIZMO_CLASS, batch, graph, live, state
from relume_nuke.capture import load_capture
from relume_nuke.engine_cli import PROBLEMS
from relume_nuke.host import in_gui, os_path, undo_step
from relume_nuke.lights import LIGHTING_KNOBS, read_file_path, upstream

# Gizmo knobs whose change alters the weights; "inputChange" is Nuke's dummy knob for rewiring.
REWEIGHT_KNOBS = frozenset({"rotate", "strength", "exposure", "method", "subject", "scene_scale", "inputChange",
                            "live_update", "frame_first", "frame_last"})
# Classes whose knob changes may move or recolour a light feeding a gizmo (classic 3D lights,
# Scene, parent Axis) or change an HDRI it reads (Read).
WATCHED_CLASSES = ("Light", "Light2", "Light3", "DirectLight", "DirectLight1", "Spotlight", "Environment", "Scene",
                   "Axis", "Axis2", "Axis3", "Axis4", "Read")
PLATE_INPUT = 0
CAPTURE_SEARCH_DEPTH = 4  # folders above a plate Read's file searched for capture.yaml


@contextlib.contextmanager
def reported(gizmo, popup: bool, level: state.Level = state.Level.ERROR):
    """Show an engine, file or value problem in the gizmo's status knob at ``level`` (see
    :func:`state.report_problem`) instead of raising it, and in a message box too for explicit button presses
    (``popup``) in the GUI."""
    try:
        yield
    except (*PROBLEMS, ValueError) as problem:
        state.report_problem(gizmo, problem, popup, level=level)


def show_mode(gizmo) -> None:
    """Switch the output to what the ``mode`` knob asks, and say what it shows: the live graph, or the engine's
    frames (``render_path`` over the frame range; a problem, so the node's error state, if they are not there)."""
    info = state.stored_capture(gizmo)
    if gizmo["mode"].value() != "engine render":
        graph.show(gizmo, graph.SHOW_LIVE if graph.graph_light_count(gizmo) else graph.SHOW_PLATE)
        state.set_status(gizmo, capture_summary(info) if info is not None else "choose a capture.yaml")
        return
    pattern = batch.output_pattern(gizmo)
    first, last = int(gizmo["frame_first"].value()), int(gizmo["frame_last"].value())
    graph.load_engine_render(gizmo, pattern, first, last)
    graph.show(gizmo, graph.SHOW_ENGINE)
    if os.path.isfile(os_path(frame_path(pattern, first))):
        state.set_status(gizmo, batch.render_summary(pattern, first, last))
    else:
        state.set_status(gizmo, f"no engine render yet at {pattern}", state.Level.ERROR)


def capture_summary(info) -> str:
    """The status of a node showing the live graph of capture ``info``."""
    return f"{info.light_count} stage lights, frames {info.first_frame}-{info.last_frame}"


def restore(gizmo) -> None:
    """A node created or loaded with a script: the live graph is already complete (it lives in the .gizmo
    and the node's saved knobs); only the output switch and colour conversion are set, and the weights
    are computed when a capture is chosen but none were ever computed for it (no engine call otherwise,
    so a farm render needs none)."""
    info = state.stored_capture(gizmo)
    if info is None:
        if state.capture_knob(gizmo):
            load(gizmo)
        return
    show_mode(gizmo)
    if state.stored_weights(gizmo, info) is None:
        live.request_update(gizmo)


def load(gizmo) -> None:
    """Describe the chosen capture with the engine and point the live graph at it."""
    folder = state.capture_knob(gizmo)
    if not folder:
        state.store_capture(gizmo, None)
        graph.bind_capture(gizmo, None)
        graph.show(gizmo, graph.SHOW_PLATE)
        state.set_status(gizmo, "choose a capture.yaml")
        return
    info = load_capture(folder)
    with undo_step("Relume capture"):
        graph.bind_capture(gizmo, info)
        state.store_capture(gizmo, info)
        state.store_weights(gizmo, None)
        gizmo["frame_first"].setValue(info.first_frame)
        gizmo["frame_last"].setValue(info.last_frame)
        gizmo["mode"].setValue("live")
        graph.show(gizmo, graph.SHOW_LIVE)
        state.set_status(gizmo, capture_summary(info))
    live.request_update(gizmo)


def guess_capture(path: str) -> str | None:
    """The capture.yaml in a folder above ``path`` (a plate Read's file), if any."""
    folder = os.path.dirname(path)
    for _ in range(CAPTURE_SEARCH_DEPTH):
        candidate = os.path.join(folder, "capture.yaml")
        if os.path.isfile(os_path(candidate)):
            return candidate.replace("\\", "/")
        folder = os.path.dirname(folder)
    return None


def reenacted_capture(node) -> str | None:
    """The capture a Relume_Reenact node (or any node with a ``reenacted_capture`` knob) has written."""
    knob = node.knob("reenacted_capture") if node is not None else None
    value = knob.value() if knob is not None else ""
    return value if value and os.path.isfile(os_path(value)) else None


def on_create(gizmo) -> None:
    """onCreate of the gizmo (also runs when a script containing it loads)."""
    with reported(gizmo, popup=False):
        restore(gizmo)


def knob_changed(gizmo, knob) -> None:
    """knobChanged of the gizmo: capture -> rebuild; lighting knobs or inputs -> new weights."""
    name = knob.name()
    with reported(gizmo, popup=False):
        if name == "capture":
            load(gizmo)
        elif name == "mode":
            show_mode(gizmo)
        elif name == "output_colorspace":
            graph.update_colour(gizmo)
        elif name in REWEIGHT_KNOBS:
            if name == "inputChange" and not gizmo["capture"].value():
                plate = gizmo.input(PLATE_INPUT)
                found = guess_capture(read_file_path(plate) or "") or reenacted_capture(plate)
                if found:
                    gizmo["capture"].setValue(found)  # programmatic: Nuke 13-16 run no knobChanged for it
                    load(gizmo)
                    return
            if gizmo["live_update"].value():
                live.request_update(gizmo)


def reload_capture(gizmo) -> None:
    """'Reload' button: describe the capture again (files added or recalibrated)."""
    with reported(gizmo, popup=True):
        load(gizmo)


def update_now(gizmo) -> None:
    """'Update now' button: recompute the weights even if the lighting looks unchanged."""
    with reported(gizmo, popup=True):
        state.store_weights(gizmo, None)
        live.request_update(gizmo)


def render_local(gizmo) -> None:
    """'Render with engine' button (a failure leaves the output as it was)."""
    with reported(gizmo, popup=True, level=state.Level.WARNING):
        batch.render_local(gizmo)


def write_farm_jobs(gizmo) -> None:
    """'Write farm jobs' button: job description and command lines, one per chunk of frames."""
    with reported(gizmo, popup=True, level=state.Level.WARNING):
        job, commands = batch.write_farm_jobs(batch.make_plan(gizmo), int(gizmo["chunk_size"].value()))
        state.set_status(gizmo, f"farm job written: {job}")
        if in_gui():
            nuke.message(f"Relume farm job:\n{job}\n{commands}")


def show_panel(gizmo) -> None:
    """'Light-stage preview' button: the Qt panel with the dome and the environment."""
    from relume_nuke import panel

    panel.show_for(gizmo)


def feeds(node, gizmo) -> bool:
    """Whether ``node`` is in the gizmo's light scene (or its parents and maps) or is its env image."""
    env = gizmo.input(live.ENV_INPUT)
    return (env is not None and env.fullName() == node.fullName()) or \
        node.fullName() in upstream(gizmo.input(live.LIGHTS_INPUT))[1]


def light_changed() -> None:
    """Global knobChanged for WATCHED_CLASSES: update the gizmos this node feeds."""
    node, knob = nuke.thisNode(), nuke.thisKnob()
    if knob.name() not in LIGHTING_KNOBS:
        return
    with nuke.root():
        gizmos = nuke.allNodes(GIZMO_CLASS, recurseGroups=True)
    for gizmo in gizmos:
        if gizmo["live_update"].value() and feeds(node, gizmo):
            with reported(gizmo, popup=False):
                live.request_update(gizmo)


def register() -> None:
    """Register ``light_changed`` for every class in WATCHED_CLASSES (init.py calls this once)."""
    for node_class in WATCHED_CLASSES:
        nuke.addKnobChanged(light_changed, nodeClass=node_class)

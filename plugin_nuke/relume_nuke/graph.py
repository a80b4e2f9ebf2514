"""The live node graph inside a Relume_Relight gizmo: Nuke does the pixel work.

The graph is static: ``gizmos/Relume_Relight.gizmo`` holds a fixed number of stage-light slots
(``gizmos/src/relight_gizmo.py`` writes it and describes it), each a ``Read relume_olat_<i>`` ->
``Multiply relume_w_<i>`` whose file, frames, weight and disabled state are expressions of the gizmo's
own knobs, summed by a fixed Merge(plus) tree into ``Switch relume_live`` (which applies the capture's
matte). Python never builds or deletes nodes: choosing a capture writes its light count, frames and
one file path per slot into hidden knobs, and new lighting writes each slot's RGB weight into its
hidden colour knob ``w_<i>``, keyed per frame when the lighting animates. All of these are knobs of the
gizmo itself, so a saved script (and a farm render of it) has the whole graph without running any code.

``relume_switch`` picks the output: 0 = plate passthrough, 1 = the engine's render in
``relume_engine_read``, 2 = the live sum; ``relume_colour`` (OCIOColorSpace) follows it.
"""

from __future__ import annotations

import re

import nuke
from relume_nuke import state
from relume_nuke.capture import CaptureInfo

SWITCH = "relume_switch"
COLOUR = "relume_colour"   # OCIOColorSpace after the switch (see update_colour)
ENGINE_READ = "relume_engine_read"
SHOW_PLATE, SHOW_ENGINE, SHOW_LIVE = 0, 1, 2  # relume_switch inputs
MATTE_NONE = 0
MATTE_CHANNELS = {"alpha": 1, "red": 2}  # matte_channel knob: the matte file's channel copied to alpha
_WEIGHT_KNOB = re.compile(r"w_\d{3}")


def weight_knob(index: int) -> str:
    return f"w_{index:03d}"


def olat_knob(index: int) -> str:
    return f"olat_{index:03d}"


def inside(gizmo, name: str):
    """The node called ``name`` inside ``gizmo``."""
    with gizmo:
        return nuke.toNode(name)


def slot_count(gizmo) -> int:
    """How many stage lights the gizmo's live graph can hold (its ``w_<i>`` knobs)."""
    return sum(1 for name in gizmo.knobs() if _WEIGHT_KNOB.fullmatch(name))


def graph_light_count(gizmo) -> int:
    """How many stage lights the live graph is set up for (0: no capture)."""
    return int(gizmo["light_count"].value())


def read_sequence(read, path: str, first: int, last: int, raw: bool = True) -> None:
    """Point a Read at an image sequence (``####`` frames), by default raw: no colour conversion, so the
    pixels are the capture's (or the engine's) scene-linear values, as the engine sums them."""
    path = path.replace("\\", "/")  # Nuke wants forward slashes on every platform
    read["file"].fromUserText(f"{path} {first}-{last}")
    read["raw"].setValue(raw)


def bind_capture(gizmo, info: CaptureInfo | None) -> None:
    """Point the live graph's slots at ``info``'s stage-light sequences (None: no capture) and zero every
    weight."""
    count = 0 if info is None else info.light_count
    if count > slot_count(gizmo):
        raise ValueError(f"{info.folder}: {count} stage lights; this Relume_Relight's live graph holds "
                         f"{slot_count(gizmo)} (use output: engine render)")
    gizmo["light_count"].setValue(count)
    gizmo["capture_first"].setValue(info.first_frame if info else 0)
    gizmo["capture_last"].setValue(info.last_frame if info else 0)
    channel = MATTE_CHANNELS.get(info.matte_channel if info else None, MATTE_NONE)
    gizmo["matte_channel"].setValue(channel)
    gizmo["matte_file"].setValue(info.matte_sequence() if channel != MATTE_NONE else "")
    for index in range(slot_count(gizmo)):
        gizmo[olat_knob(index)].setValue(info.olat_sequence(index) if index < count else "")
        _set_weight(gizmo[weight_knob(index)], (0.0, 0.0, 0.0), {})


def _set_weight(knob, rgb, frames: dict) -> None:
    """Set one slot's weight: constant ``rgb``, or keys at each frame of ``frames`` (frame -> rgb)."""
    knob.clearAnimated()
    if not frames:
        knob.setSingleValue(False)
        for channel in range(3):
            knob.setValue(float(rgb[channel]), channel)
        return
    knob.setAnimated()
    for channel in range(3):
        curve = knob.animation(channel)
        curve.clear()
        curve.addKey([nuke.AnimationKey(frame, float(value[channel])) for frame, value in sorted(frames.items())])


def apply_weights(gizmo, weights: list, frame_weights: dict | None = None) -> None:
    """Write each stage light's RGB weight into its slot's knob: ``weights`` (L, 3) for every frame, or
    with ``frame_weights`` (frame -> (L, 3), every frame of the range) keys per frame."""
    frame_weights = frame_weights or {}
    for index, rgb in enumerate(weights):
        _set_weight(gizmo[weight_knob(index)], rgb, {f: w[index] for f, w in frame_weights.items()})


def weights_at(gizmo, frame: float) -> list:
    """The (L, 3) weights the live graph uses at ``frame``."""
    return [[float(gizmo[weight_knob(i)].getValueAt(frame, c)) for c in range(3)] for i in range(graph_light_count(gizmo))]


def active_lights(gizmo, frame: float) -> list:
    """Indices of the stage lights whose Read is enabled at ``frame`` (weight not 0)."""
    with gizmo:
        return [i for i in range(graph_light_count(gizmo))
                if not nuke.toNode(f"relume_olat_{i:03d}")["disable"].valueAt(frame, 0)]


def show(gizmo, which: int) -> None:
    """Select the gizmo's output: SHOW_PLATE, SHOW_LIVE or SHOW_ENGINE (and convert it as it needs)."""
    inside(gizmo, SWITCH)["which"].setValue(which)
    update_colour(gizmo)


def update_colour(gizmo) -> None:
    """The ``relume_colour`` OCIOColorSpace after the switch: the capture's colour space to the gizmo's
    ``output_colorspace``, once on the summed (or engine-rendered) result; off for the plate, which is
    already the comp's, and when the two spaces are the same."""
    node = inside(gizmo, COLOUR)
    info = state.stored_capture(gizmo)
    target = (gizmo["output_colorspace"].value() or "").strip() or "scene_linear"
    source = info.colorspace if info is not None else target
    node["in_colorspace"].setValue(source)
    node["out_colorspace"].setValue(target)
    showing_plate = int(inside(gizmo, SWITCH)["which"].value()) == SHOW_PLATE
    node["disable"].setValue(showing_plate or source == target)


def load_engine_render(gizmo, pattern: str, first: int, last: int) -> None:
    """Point the internal engine Read at a rendered sequence and re-read it."""
    read = inside(gizmo, ENGINE_READ)
    read_sequence(read, pattern, first, last)
    read["reload"].execute()

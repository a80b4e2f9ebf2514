"""The live node graph inside a Relume_Relight gizmo: Nuke does the pixel work.

Per stage light i: ``Read relume_dyn_olat_###`` (the light's OLAT sequence, raw, #### frames) ->
``Multiply relume_dyn_w_###`` (channels rgb, value = the light's RGB weight). The Multiplies with
a non-zero weight are summed by a balanced tree of ``Merge2 relume_dyn_sum_*`` (operation plus,
output rgb, so alpha passes down the B side) whose leftmost leaf is always light 0: alpha comes
from light 0's OLAT alpha, as the engine does, or from the capture's matte through a ``Copy``.
The sum feeds input 2 of the gizmo's static ``relume_switch`` (0 = plate passthrough, 1 = the
engine's render in ``relume_engine_read``, 2 = live).

Nuke rebuilds a gizmo's contents from the .gizmo file when a script loads, so these nodes are
recreated by the gizmo's onCreate callback from the capture description and weights kept in the
gizmo's hidden knobs; rebuilding needs no engine call.
"""

from __future__ import annotations

import nuke
from relume_nuke import state
from relume_nuke.capture import CaptureInfo

PREFIX = "relume_dyn_"
SWITCH = "relume_switch"
COLOUR = "relume_colour"   # OCIOColorSpace after the switch (see update_colour)
ENGINE_READ = "relume_engine_read"
SHOW_PLATE, SHOW_ENGINE, SHOW_LIVE = 0, 1, 2  # relume_switch inputs; live is wired by Python
COLUMN, ROW = 110, 90  # DAG spacing of the generated nodes


def reader_name(index: int) -> str:
    return f"{PREFIX}olat_{index:03d}"


def multiply_name(index: int) -> str:
    return f"{PREFIX}w_{index:03d}"


def inside(gizmo, name: str):
    """The node called ``name`` inside ``gizmo``."""
    with gizmo:
        return nuke.toNode(name)


def _delete_dynamic(gizmo, part: str) -> None:
    for node in gizmo.nodes():
        if node.name().startswith(PREFIX + part):
            nuke.delete(node)


def graph_light_count(gizmo) -> int:
    """How many stage lights the gizmo's live graph currently has (0 when none is built)."""
    return sum(1 for node in gizmo.nodes() if node.name().startswith(PREFIX + "w_"))


def read_sequence(read, path: str, first: int, last: int, raw: bool = True) -> None:
    """Point a Read at an image sequence (``####`` frames), by default raw: no colour conversion, so the
    pixels are the capture's (or the engine's) scene-linear values, as the engine sums them."""
    path = path.replace("\\", "/")  # Nuke wants forward slashes on every platform
    read["file"].fromUserText(f"{path} {first}-{last}")
    read["raw"].setValue(raw)


def build_live_graph(gizmo, info: CaptureInfo) -> None:
    """(Re)create one Read and Multiply per stage light of ``info``; weights start at 0."""
    with gizmo:
        _delete_dynamic(gizmo, "")
        for index in range(info.light_count):
            read = nuke.nodes.Read(name=reader_name(index))
            read_sequence(read, info.olat_sequence(index), info.first_frame, info.last_frame)
            read.setXYpos(index * COLUMN, 0)
            multiply = nuke.nodes.Multiply(name=multiply_name(index), channels="rgb")
            multiply["value"].setValue(0.0)
            multiply.setInput(0, read)
            multiply.setXYpos(index * COLUMN, ROW)
        if info.matte_sequence():
            matte = nuke.nodes.Read(name=PREFIX + "matte")
            read_sequence(matte, info.matte_sequence(), info.first_frame, info.last_frame)
            matte.setXYpos(-2 * COLUMN, 0)


def active_lights(gizmo) -> list:
    """Indices of the stage lights summed into the live output now (read from the wiring)."""
    with gizmo:
        start = nuke.toNode(SWITCH).input(SHOW_LIVE)
    found, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        name = node.name()
        if name.startswith(PREFIX + "w_"):
            found.add(int(name[len(PREFIX) + 2:]))
        elif name.startswith(PREFIX + "sum_"):
            stack.extend([node.input(0), node.input(1)])  # B and A
        elif name == PREFIX + "matte_copy":
            stack.append(node.input(0))  # B: the relit colour
    return sorted(found)


def _sum_tree(leaves: list, depth_row: int) -> object:
    """Merge(plus) ``leaves`` pairwise; leaf 0 stays on every B side down to the root."""
    level, round_index = leaves, 0
    while len(level) > 1:
        merged = []
        for pair in range(0, len(level), 2):
            if pair + 1 == len(level):
                merged.append(level[pair])
                continue
            merge = nuke.nodes.Merge2(name=f"{PREFIX}sum_{round_index}_{pair // 2}", operation="plus", output="rgb")
            merge.setInput(0, level[pair])  # B
            merge.setInput(1, level[pair + 1])  # A
            merge.setXYpos(pair * COLUMN * 2 ** round_index, (depth_row + round_index) * ROW)
            merged.append(merge)
        level, round_index = merged, round_index + 1
    return level[0]


def wire_sum(gizmo, active: list) -> None:
    """Rebuild the Merge tree over light 0 plus the ``active`` lights and connect it to the switch."""
    with gizmo:
        _delete_dynamic(gizmo, "sum_")
        _delete_dynamic(gizmo, "matte_copy")
        indices = [0] + [i for i in sorted(set(active)) if i != 0]
        root = _sum_tree([nuke.toNode(multiply_name(i)) for i in indices], 2)
        matte = nuke.toNode(PREFIX + "matte")
        if matte is not None:
            channel = "rgba.alpha" if "rgba.alpha" in matte.channels() else "rgba.red"
            copy = nuke.nodes.Copy(name=PREFIX + "matte_copy", from0=channel, to0="rgba.alpha")
            copy.setInput(0, root)  # B: the relit colour
            copy.setInput(1, matte)  # A: the matte
            root = copy
        nuke.toNode(SWITCH).setInput(SHOW_LIVE, root)


def apply_weights(gizmo, weights: list) -> None:
    """Write each stage light's RGB weight into its Multiply; re-wire the sum only when the set of
    non-zero lights changed (a sun lights three or four of them, an HDRI all)."""
    with gizmo:
        for index, rgb in enumerate(weights):
            knob = nuke.toNode(multiply_name(index))["value"]
            knob.setSingleValue(False)
            for channel in range(3):
                knob.setValue(float(rgb[channel]), channel)
    active = [i for i, rgb in enumerate(weights) if any(abs(float(v)) > 0.0 for v in rgb)]
    if set(active) | {0} != set(active_lights(gizmo)) | {0} or inside(gizmo, SWITCH).input(SHOW_LIVE) is None:
        wire_sum(gizmo, active)


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

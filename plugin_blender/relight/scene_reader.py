"""Read the scene's lights, world and emissive meshes into the plain data :mod:`..core.scene_to_lights` converts.

Reads only; the one thing it may write is a tiny constant lat-long image standing for a uniform
world colour (beside the plates or the exported lights file, outside the .blend).
"""

from __future__ import annotations

import math
import os

import bpy

from ..core.constant_hdri import constant_hdri_path, write_constant_hdri
from ..core.scene_to_lights import BlenderLight, BlenderWorld, Conversion, scene_to_lights

RENDERED_GEOMETRY = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES"}
EMISSION_INPUTS = {"EMISSION": ("Strength", "Color"), "BSDF_PRINCIPLED": ("Emission Strength", "Emission Color")}


def _matrix(obj: bpy.types.Object) -> list[list[float]]:
    return [list(row) for row in obj.matrix_world]


def _renders(obj: bpy.types.Object) -> bool:
    return not obj.hide_render and not any(c.hide_render for c in obj.users_collection)


def read_light(obj: bpy.types.Object) -> BlenderLight:
    """One light object's settings (missing properties of older Blenders take Blender's defaults)."""
    data = obj.data
    color = tuple(data.color)
    if getattr(data, "use_temperature", False):
        color = tuple(c * t for c, t in zip(color, data.temperature_color))
    return BlenderLight(
        name=obj.name, kind=data.type, matrix=_matrix(obj), color=color, energy=data.energy,
        exposure=getattr(data, "exposure", 0.0), normalize=getattr(data, "normalize", True),
        radius=data.shadow_soft_size if data.type in ("POINT", "SPOT") else 0.0,
        angle=getattr(data, "angle", 0.0), spot_size=getattr(data, "spot_size", math.radians(45.0)),
        spot_blend=getattr(data, "spot_blend", 0.15), square_spot=getattr(data, "use_square", False),
        shape=getattr(data, "shape", "SQUARE"), size=getattr(data, "size", 0.25), size_y=getattr(data, "size_y", 0.25),
        spread=getattr(data, "spread", math.pi), uses_nodes=bool(data.use_nodes and data.node_tree))


def _source(socket: bpy.types.NodeSocket) -> tuple[bpy.types.Node, bpy.types.NodeSocket] | None:
    """The node and output feeding ``socket``, through reroutes; None when unlinked."""
    while socket.is_linked:
        link = socket.links[0]
        if link.from_node.type != "REROUTE":
            return link.from_node, link.from_socket
        socket = link.from_node.inputs[0]
    return None


def _active_output(tree: bpy.types.NodeTree, kind: str) -> bpy.types.Node | None:
    outputs = [n for n in tree.nodes if n.type == kind]
    return next((n for n in outputs if n.is_active_output), outputs[0] if outputs else None)


def _mapping(texture: bpy.types.Node) -> dict | str:
    """The Environment Texture's coordinate set-up as BlenderWorld fields, or a problem."""
    fed = _source(texture.inputs["Vector"])
    if fed is None:
        return {}
    node, socket = fed
    if node.type == "TEX_COORD":
        return {} if socket.identifier == "Generated" else f"Environment Texture uses {socket.name} coordinates; use Generated"
    if node.type != "MAPPING":
        return f"Environment Texture coordinates come from a {node.bl_label} node; use Texture Coordinate > Mapping"
    before = _source(node.inputs["Vector"])
    if before is None or before[0].type != "TEX_COORD" or before[1].identifier != "Generated":
        return "the Mapping node's Vector must come from Texture Coordinate > Generated"
    values = {}
    for key in ("Location", "Rotation", "Scale"):
        socket = node.inputs.get(key)
        if socket is None or not socket.enabled:
            continue
        if socket.is_linked:
            return f"the Mapping node's {key} is driven by a link; set it as a value"
        values[key.lower()] = tuple(socket.default_value)
    return {"mapping_type": node.vector_type, **values}


def read_world(world: bpy.types.World | None, folder: str) -> BlenderWorld | None:
    """The world's lighting: an Environment Texture into a Background, or a uniform colour (whose
    constant image goes into ``folder``)."""
    if world is None:
        return None
    tree = world.node_tree
    if tree is None or not getattr(world, "use_nodes", True):   # 4.x "Use Nodes" off: Cycles renders the plain colour
        color = tuple(world.color)
        return _uniform(color, folder, 1.0)
    output = _active_output(tree, "OUTPUT_WORLD")
    fed = _source(output.inputs["Surface"]) if output is not None else None
    if fed is None:
        return None
    background = fed[0]
    if background.type != "BACKGROUND":
        return BlenderWorld(problem=f"the World Output is fed by a {background.bl_label} node; Relume reads a "
                                    "Background node fed by an Environment Texture (or a plain colour)")
    if background.inputs["Strength"].is_linked:
        return BlenderWorld(problem="the Background Strength is driven by a link; set it as a value")
    strength = background.inputs["Strength"].default_value
    if strength == 0.0:
        return None
    color_source = _source(background.inputs["Color"])
    if color_source is None:
        color = tuple(background.inputs["Color"].default_value)[:3]
        return _uniform(color, folder, strength)
    texture = color_source[0]
    if texture.type != "TEX_ENVIRONMENT":
        return BlenderWorld(problem=f"the Background colour comes from a {texture.bl_label} node; use an "
                                    "Environment Texture")
    image = texture.image
    if image is None:
        return BlenderWorld(problem="the Environment Texture has no image")
    if texture.projection != "EQUIRECTANGULAR":
        return BlenderWorld(problem="the Environment Texture must use Equirectangular projection")
    if image.packed_file is not None or image.source != "FILE":
        return BlenderWorld(problem=f"image '{image.name}' must be a file on disk (unpack it)")
    path = bpy.path.abspath(image.filepath, library=image.library)
    if not os.path.isfile(path):
        return BlenderWorld(problem=f"{path}: HDRI file not found")
    mapping = _mapping(texture)
    if isinstance(mapping, str):
        return BlenderWorld(problem=mapping)
    return BlenderWorld(hdri=os.path.abspath(path), strength=strength, **mapping)


def _uniform(color: tuple, folder: str, strength: float) -> BlenderWorld | None:
    """A uniform world colour: its constant image's path in ``folder`` (written by :func:`convert_scene`)."""
    if max(color) <= 0:
        return None
    return BlenderWorld(hdri=constant_hdri_path(color, folder), uniform=tuple(color), strength=strength)


def _emits(tree: bpy.types.NodeTree | None, seen: set[str]) -> bool:
    """True when a material (or group) tree has an emission with non-zero strength and colour."""
    if tree is None or tree.name in seen:
        return False
    seen.add(tree.name)
    for node in tree.nodes:
        if node.mute:
            continue
        if node.type == "GROUP" and _emits(node.node_tree, seen):
            return True
        keys = EMISSION_INPUTS.get(node.type)
        if keys is None:
            continue
        strength, color = node.inputs[keys[0]], node.inputs[keys[1]]
        strong = strength.is_linked or strength.default_value != 0.0
        coloured = color.is_linked or max(tuple(color.default_value)[:3]) > 0.0
        if strong and coloured:
            return True
    return False


def _lights_others(obj: bpy.types.Object) -> bool:
    """False when no ray but the camera's sees the object (Object > Visibility > Ray Visibility), so in
    Cycles its emission lights nothing: a card showing an image, like the extension's own plate plane."""
    return any(getattr(obj, f"visible_{ray}") for ray in ("diffuse", "glossy", "transmission", "volume_scatter"))


def emissive_objects(view_layer: bpy.types.ViewLayer) -> list[str]:
    """Names of rendered geometry objects whose materials emit light onto other objects."""
    names = []
    for obj in view_layer.objects:
        if obj.type in RENDERED_GEOMETRY and _renders(obj) and _lights_others(obj):
            if any(slot.material is not None and _emits(slot.material.node_tree, set()) for slot in obj.material_slots):
                names.append(obj.name)
    return names


def convert_scene(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, folder: str,
                  subject: bpy.types.Object | None = None, write: bool = True) -> Conversion:
    """The scene's lighting as lights-file entries relative to ``subject`` (default ``scene.relume.subject``);
    a uniform world colour becomes a constant HDRI file in ``folder`` (unless ``write`` is False: a check).

    Raises :class:`..core.scene_to_lights.UnsupportedScene`.
    """
    settings = scene.relume
    lights = [read_light(obj) for obj in view_layer.objects if obj.type == "LIGHT" and _renders(obj)]
    world = read_world(scene.world, folder) if settings.use_world else None
    subject = settings.subject if subject is None else subject
    conversion = scene_to_lights(lights, world, _matrix(subject), emissive_objects(view_layer))
    if write and world is not None and world.uniform is not None:
        write_constant_hdri(world.uniform, world.hdri)     # only now: a refused scene leaves no file behind
    return conversion

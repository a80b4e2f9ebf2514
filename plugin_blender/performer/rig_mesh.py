"""The performer rig in the scene: the engine's rig file as a mesh with shape keys, keyed from its track.

Objects made by :func:`build_performer` (Blender frame, Z up):

- a camera with the track's intrinsics (focal length, principal point, the render resolution set to the
  track's image size), placed so the performer's mean head position is the world origin and the
  performer faces -Y, as in Blender's front view (the scene's camera when it has none);
- the performer mesh (the ICT model's topology with the fitted identity applied, one shape key per
  model expression, named as in the model), parented to the camera; its location and rotation are keyed
  to the track's head pose and its shape keys to the track's expression weights, at scene frame = track
  frame;
- an empty "stage" parented to the camera at the mean head position, axes as the engine frame of the
  capture (the light stage looks at the performer along the camera axis): reenacted OLATs are lit
  relative to it.

Frames: the engine's (x, y, z) is Blender's (x, -z, y) in the mesh; the track's camera frame (x right,
y up, looking down -Z) is Blender's camera frame. :func:`read_animation` inverts all of it.
"""

from __future__ import annotations

import math
import os

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..relight.plan import PlanError

# Blender mesh coordinates from engine coordinates: x_b = x, y_b = -z, z_b = y.
ENGINE_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
SENSOR_WIDTH_MM = 36.0
RIG_KEYS = ("vertices", "polygons", "polygon_uv_ids", "uvs", "polygon_materials", "material_names",
            "transparent_materials", "expression_names", "expression_deltas", "frames", "expression", "rotation",
            "translation", "image_size", "intrinsics")


class RigError(PlanError):
    """The rig or the performer object cannot be used; the message is for the artist."""


def load_rig(path: str, keys: tuple = RIG_KEYS) -> dict:
    """The rig file's arrays named ``keys`` (see ``engine/track/rig.py`` for their meaning); an .npz reads
    only the arrays asked for."""
    try:
        with np.load(path, allow_pickle=False) as rig:
            if str(rig["format"]) != "relume-rig":
                raise RigError(f"{path}: not a Relume rig file")
            return {key: rig[key] for key in keys}
    except (OSError, KeyError, ValueError) as exc:
        raise RigError(f"{path}: cannot read the rig ({exc})") from None


def _pose_matrix(rotation: np.ndarray, translation: np.ndarray) -> Matrix:
    """Blender matrix of the mesh in the camera's frame for the track pose x_cam = R x + t."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation @ ENGINE_TO_BLENDER.T
    matrix[:3, 3] = translation
    return Matrix(matrix.tolist())


def _material(model_name: str, transparent: bool) -> bpy.types.Material:
    """The slot material of one model material ("ICT M_Face", ...); the model's helper surfaces are invisible
    in renders, as in the engine's."""
    material = bpy.data.materials.get(f"ICT {model_name}")
    if material is None:
        material = bpy.data.materials.new(f"ICT {model_name}")
        material.use_nodes = True
        if transparent:
            material.node_tree.nodes["Principled BSDF"].inputs["Alpha"].default_value = 0.0
    return material


def _mesh(name: str, rig: dict) -> bpy.types.Mesh:
    """The rig's mesh in Blender coordinates with UVs, material slots and the expression shape keys."""
    polygons = rig["polygons"]
    corners = polygons >= 0
    mesh = bpy.data.meshes.new(name)
    vertices = rig["vertices"] @ ENGINE_TO_BLENDER.T
    mesh.from_pydata(vertices.tolist(), [], [row[row >= 0].tolist() for row in polygons])
    uv_layer = mesh.uv_layers.new(name="UVMap")
    uv_layer.data.foreach_set("uv", rig["uvs"][rig["polygon_uv_ids"][corners]].astype(np.float32).ravel())
    transparent = {str(n) for n in rig["transparent_materials"]}
    for material_name in (str(n) for n in rig["material_names"]):
        mesh.materials.append(_material(material_name, material_name in transparent))
    mesh.polygons.foreach_set("material_index", rig["polygon_materials"].astype(np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(polygons), bool))
    mesh.update()
    return mesh


def _add_shape_keys(obj: bpy.types.Object, rig: dict) -> None:
    obj.shape_key_add(name="Basis", from_mix=False)
    base = rig["vertices"]
    for name, delta in zip(rig["expression_names"], rig["expression_deltas"]):
        block = obj.shape_key_add(name=str(name), from_mix=False)
        block.slider_min, block.slider_max = 0.0, 1.0
        block.data.foreach_set("co", ((base + delta) @ ENGINE_TO_BLENDER.T).astype(np.float32).ravel())
    obj.data.shape_keys.name = f"{obj.name} Expressions"


def _fcurve(action: bpy.types.Action, owner: bpy.types.ID, path: str, index: int = 0) -> bpy.types.FCurve:
    """The F-curve of ``owner.path[index]`` in ``action`` (Blender 4.4+ slotted actions, or 4.2-4.3 fcurves)."""
    if hasattr(action, "fcurve_ensure_for_datablock"):
        return action.fcurve_ensure_for_datablock(owner, path, index=index)
    return action.fcurves.new(path, index=index)


def _key(action: bpy.types.Action, owner: bpy.types.ID, path: str, index: int, frames: np.ndarray,
         values: np.ndarray) -> None:
    """Key ``values`` at ``frames`` in one go (linear between frames, as a per-frame track is sampled)."""
    curve = _fcurve(action, owner, path, index)
    curve.keyframe_points.add(len(frames))
    curve.keyframe_points.foreach_set("co", np.column_stack([frames, values]).astype(np.float32).ravel())
    curve.keyframe_points.foreach_set("interpolation", np.full(len(frames), 1, np.int32))   # LINEAR
    curve.update()


def _animate(obj: bpy.types.Object, rig: dict) -> None:
    """Keys of the track: head pose on the object, expression weights on its shape keys."""
    frames = rig["frames"].astype(np.float64)
    poses = [_pose_matrix(r, t) for r, t in zip(rig["rotation"], rig["translation"])]
    obj.rotation_mode = "QUATERNION"
    locations = np.array([list(p.to_translation()) for p in poses])
    quaternions = np.array([list(p.to_quaternion()) for p in poses])
    for i in range(1, len(quaternions)):             # the shorter way round between neighbouring keys
        if np.dot(quaternions[i], quaternions[i - 1]) < 0:
            quaternions[i] = -quaternions[i]
    obj.matrix_basis = poses[0]
    object_action = bpy.data.actions.new(f"{obj.name} Head")
    obj.animation_data_create().action = object_action
    for index in range(3):
        _key(object_action, obj, "location", index, frames, locations[:, index])
    for index in range(4):
        _key(object_action, obj, "rotation_quaternion", index, frames, quaternions[:, index])
    key = obj.data.shape_keys
    key_action = bpy.data.actions.new(f"{obj.name} Expressions")
    key.animation_data_create().action = key_action
    for column, name in enumerate(rig["expression_names"]):
        _key(key_action, key, f'key_blocks["{name}"].value', 0, frames, rig["expression"][:, column])


def _camera(scene: bpy.types.Scene, name: str, rig: dict) -> bpy.types.Object:
    """A camera with the track's intrinsics, looking along +Y, placed so the mean head sits at the origin."""
    width, height = (int(v) for v in rig["image_size"])
    focal, cx, cy = (float(v) for v in rig["intrinsics"])
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = SENSOR_WIDTH_MM
    data.lens = focal * SENSOR_WIDTH_MM / width
    largest = max(width, height)
    data.shift_x, data.shift_y = (width / 2 - cx) / largest, (cy - height / 2) / largest
    camera = bpy.data.objects.new(name, data)
    scene.collection.objects.link(camera)
    rotation = Matrix.Rotation(math.radians(90.0), 4, "X")       # camera -Z -> world +Y, camera +Y -> world +Z
    mean_head = rotation.to_3x3() @ Vector(rig["translation"].mean(axis=0).tolist())
    camera.matrix_world = Matrix.Translation(-mean_head) @ rotation
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    return camera


def build_performer(scene: bpy.types.Scene, rig_path: str) -> bpy.types.Object:
    """Camera, performer mesh (shape keys, keyed) and stage empty for the rig file; returns the performer."""
    rig = load_rig(rig_path)
    name = os.path.basename(rig_path).split(".")[0] or "Performer"
    camera = _camera(scene, f"{name} Camera", rig)
    performer = bpy.data.objects.new(name, _mesh(name, rig))
    scene.collection.objects.link(performer)
    _add_shape_keys(performer, rig)
    performer.parent = camera
    performer.matrix_parent_inverse.identity()
    _animate(performer, rig)
    stage = bpy.data.objects.new(f"{name} Stage", None)
    stage.empty_display_type = "ARROWS"
    stage.empty_display_size = 0.1
    scene.collection.objects.link(stage)
    stage.parent = camera
    stage.matrix_parent_inverse.identity()
    # engine axes in the camera frame: x right, y up, z toward the camera = Blender's x, z, -y in the stage
    stage.matrix_basis = Matrix.Translation(Vector(rig["translation"].mean(axis=0).tolist())) @ Matrix.Rotation(
        math.radians(-90.0), 4, "X")
    settings = performer.relume_performer
    settings.rig_file, settings.camera, settings.stage = rig_path, camera, stage
    frames = rig["frames"]
    scene.frame_start, scene.frame_end = int(frames[0]), int(frames[-1])
    return performer


def performer_problem(performer: bpy.types.Object | None) -> str | None:
    """Why ``performer`` is not one Import Performer made (cheap: no file read); None when it is."""
    if performer is None:
        return "Pick the performer in the Relume panel (import one with Import Performer)"
    settings = getattr(performer, "relume_performer", None)
    if performer.type != "MESH" or settings is None or not settings.rig_file:
        return f"'{performer.name}' is not a Relume performer (import one with Import Performer)"
    return None


def check_performer(scene: bpy.types.Scene, performer: bpy.types.Object | None) -> dict:
    """What :func:`read_animation` needs of the rig of a usable performer object (its vertices and
    expression names, not the 17 MB of expression deltas); RigError saying what is wrong otherwise."""
    problem = performer_problem(performer)
    if problem:
        raise RigError(problem)
    settings = performer.relume_performer
    rig = load_rig(bpy.path.abspath(settings.rig_file), ("vertices", "expression_names"))
    count = len(rig["vertices"])
    if len(performer.data.vertices) != count:
        raise RigError(f"'{performer.name}' is not the ICT face model's topology: its mesh has "
                       f"{len(performer.data.vertices)} vertices, the model {count}")
    blocks = performer.data.shape_keys.key_blocks if performer.data.shape_keys else {}
    missing = [str(n) for n in rig["expression_names"] if str(n) not in blocks]
    if missing:
        raise RigError(f"'{performer.name}' lacks the model's expression shape keys ({', '.join(missing[:4])}"
                       f"{', ...' if len(missing) > 4 else ''})")
    for role in ("camera", "stage"):
        linked = getattr(settings, role)
        if linked is None or linked.name not in scene.objects:
            raise RigError(f"'{performer.name}' has lost its {role} (import the performer again)")
    return rig


def read_animation(scene: bpy.types.Scene, performer: bpy.types.Object, rig: dict, frames: list[int]) -> dict:
    """The performer's expressions and head pose (relative to its camera, in the track's camera frame) at
    each scene frame, as the engine's ``POST /track`` takes them; ``rig`` is what :func:`check_performer`
    returned for it. Evaluates the scene frame by frame, so drivers, constraints and hand keys all count.
    The scene returns to its current frame."""
    names = [str(n) for n in rig["expression_names"]]
    blocks = performer.data.shape_keys.key_blocks
    camera = performer.relume_performer.camera
    current = scene.frame_current
    keyed = {}
    try:
        for frame in frames:
            scene.frame_set(frame)
            relative = np.array(camera.matrix_world.inverted() @ performer.matrix_world)
            keyed[str(frame)] = {"expression": {name: float(blocks[name].value) for name in names},
                                 "rotation": (relative[:3, :3] @ ENGINE_TO_BLENDER).tolist(),
                                 "translation": relative[:3, 3].tolist()}
    finally:
        scene.frame_set(current)
    return keyed

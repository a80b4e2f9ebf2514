"""The relit plate in Blender: one Image datablock, shown as camera background or on a camera-facing plane.

Blender reads the engine's EXRs itself (scene-linear, alpha carried through); the add-on never
touches pixels. A range is an image sequence whose image user maps scene frames to plate files.
"""

from __future__ import annotations

import bpy
from mathutils import Vector

from ..addon_config import Config


def load_plate(first_path: str, frame_count: int) -> bpy.types.Image:
    """The "Relume Plate" image pointed at ``first_path`` (a sequence when ``frame_count`` > 1), reloaded."""
    image = bpy.data.images.get(Config.plate_image_name)
    if image is None:
        image = bpy.data.images.load(first_path, check_existing=False)
        image.name = Config.plate_image_name
    else:
        image.filepath = first_path
    image.source = "SEQUENCE" if frame_count > 1 else "FILE"
    image.reload()
    return image


def _set_image_user(image_user: bpy.types.ImageUser, scene_first: int, plate_first: int, frame_count: int) -> None:
    """Scene frame ``scene_first`` shows plate file ``plate_first`` (Blender: file = frame - start + 1 + offset)."""
    image_user.frame_start = scene_first
    image_user.frame_duration = frame_count
    image_user.frame_offset = plate_first - 1
    image_user.use_auto_refresh = True


def show_on_camera(scene: bpy.types.Scene, image: bpy.types.Image, scene_first: int, plate_first: int,
                   frame_count: int) -> None:
    """Make ``image`` the active camera's background (reusing its slot when there is one)."""
    camera = scene.camera.data
    slot = next((b for b in camera.background_images if b.image == image), None) or camera.background_images.new()
    slot.source = "IMAGE"
    slot.image = image
    slot.alpha = 1.0
    slot.frame_method = "FIT"
    _set_image_user(slot.image_user, scene_first, plate_first, frame_count)
    camera.show_background_images = True


def _plate_material(image: bpy.types.Image) -> bpy.types.Material:
    """Emission of the plate over transparency by its alpha: renders the plate's values as they are."""
    material = bpy.data.materials.get(Config.plate_material_name) or bpy.data.materials.new(Config.plate_material_name)
    material.use_nodes = True
    tree = material.node_tree
    tree.nodes.clear()
    output = tree.nodes.new("ShaderNodeOutputMaterial")
    texture = tree.nodes.new("ShaderNodeTexImage")
    texture.image = image
    texture.interpolation = "Closest"
    emission = tree.nodes.new("ShaderNodeEmission")
    transparent = tree.nodes.new("ShaderNodeBsdfTransparent")
    mix = tree.nodes.new("ShaderNodeMixShader")
    tree.links.new(texture.outputs["Color"], emission.inputs["Color"])
    tree.links.new(texture.outputs["Alpha"], mix.inputs["Fac"])
    tree.links.new(transparent.outputs[0], mix.inputs[1])
    tree.links.new(emission.outputs[0], mix.inputs[2])
    tree.links.new(mix.outputs[0], output.inputs["Surface"])
    return material


def _frame_corners(scene: bpy.types.Scene, distance: float) -> list[Vector]:
    """The camera's frame corners at ``distance`` in front of it, in camera space."""
    camera = scene.camera.data
    corners = camera.view_frame(scene=scene)
    if camera.type == "ORTHO":
        return [Vector((c.x, c.y, -distance)) for c in corners]
    return [c * (distance / -c.z) for c in corners]


def show_on_plane(scene: bpy.types.Scene, image: bpy.types.Image, distance: float, scene_first: int,
                  plate_first: int, frame_count: int) -> bpy.types.Object:
    """A plane parented to the camera, filling its frame at ``distance``, seen only by camera rays."""
    corners = _frame_corners(scene, distance)
    plane = bpy.data.objects.get(Config.plate_object_name)
    mesh = bpy.data.meshes.new(Config.plate_object_name)
    mesh.from_pydata([tuple(c) for c in corners], [], [(0, 1, 2, 3)])
    uv = mesh.uv_layers.new(name="UVMap")
    for loop in mesh.loops:
        corner = corners[loop.vertex_index]
        uv.data[loop.index].uv = (1.0 if corner.x > 0 else 0.0, 1.0 if corner.y > 0 else 0.0)
    if plane is None:
        plane = bpy.data.objects.new(Config.plate_object_name, mesh)
        scene.collection.objects.link(plane)
    else:
        old = plane.data
        plane.data = mesh
        if old.users == 0:
            bpy.data.meshes.remove(old)
    mesh.name = Config.plate_object_name
    plane.parent = scene.camera
    plane.matrix_parent_inverse.identity()
    plane.matrix_basis.identity()
    for ray in ("diffuse", "glossy", "transmission", "volume_scatter", "shadow"):
        setattr(plane, f"visible_{ray}", False)
    material = _plate_material(image)
    mesh.materials.append(material)
    texture = next(n for n in material.node_tree.nodes if n.type == "TEX_IMAGE")
    _set_image_user(texture.image_user, scene_first, plate_first, frame_count)
    return plane


def show_plate(scene: bpy.types.Scene, first_path: str, scene_first: int, plate_first: int,
               frame_count: int) -> bpy.types.Image:
    """Load the plate and show it the way ``scene.relume.display`` says."""
    image = load_plate(first_path, frame_count)
    display = scene.relume.display
    if display == "CAMERA_BACKGROUND":
        show_on_camera(scene, image, scene_first, plate_first, frame_count)
    elif display == "PLANE":
        show_on_plane(scene, image, scene.relume.plate_distance, scene_first, plate_first, frame_count)
    return image

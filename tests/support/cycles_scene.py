"""Render a subject with Blender Cycles (bpy), run as a child process: ``python cycles_scene.py JOB.json``.

The job (engine frame: Y up, subject looking +Z) lists renders to make of one fixed scene —
Suzanne (subdivided, smooth) in front of a sphere that catches its shadows, a camera on +Z
looking at the origin — each under either a set of sun lamps or a world HDRI:

    {"size": 64, "samples": 64, "renders": [
        {"out": "a.exr", "suns": [{"direction": [x, y, z], "rgb": [r, g, b], "angle_deg": 0}]},
        {"out": "b.exr", "hdri": "/path.exr", "rotate_deg": 30, "strength": 1.0}]}

Blender is Z up: (x, y, z)_engine = (x_b, z_b, -y_b). The world uses Environment Texture on
Generated coordinates through a Mapping node (Point, rotation Z = rotate_deg): the set-up whose
mapping the engine claims to reproduce. Output: half-float RGBA EXR, scene-linear, transparent film.
"""

import json
import math
import sys

import bpy
from mathutils import Vector


def to_blender(v):
    """Engine-frame vector to Blender's frame."""
    x, y, z = v
    return Vector((x, -z, y))


# What every ground-truth render shares: Cycles on the CPU, no denoising, transparent film,
# scene-linear RGBA OpenEXR ("Standard" view, no look, no exposure change).
BASE_SETTINGS = {
    "render.engine": "CYCLES", "cycles.device": "CPU", "cycles.use_denoising": False,
    "render.resolution_percentage": 100, "render.film_transparent": True,
    "render.image_settings.file_format": "OPEN_EXR", "render.image_settings.color_mode": "RGBA",
    "view_settings.view_transform": "Standard", "view_settings.look": "None", "view_settings.exposure": 0.0,
}


def cycles_scene(width, height, samples, settings=None):
    """A factory-fresh Blender whose scene renders with BASE_SETTINGS at width x height and
    ``samples``; ``settings`` then adds or overrides dotted scene attributes ({"cycles.seed": 7}),
    in their own order (Blender 5 needs media_type before a multilayer file_format)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    size = {"cycles.samples": samples, "render.resolution_x": width, "render.resolution_y": height}
    for path, value in [*BASE_SETTINGS.items(), *size.items(), *(settings or {}).items()]:
        *parents, name = path.split(".")
        target = scene
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, name, value)
    return scene


def build_scene(size, samples):
    scene = cycles_scene(size, size, samples, {"cycles.seed": 7, "cycles.max_bounces": 4,
                                               "render.image_settings.color_depth": "16"})

    material = bpy.data.materials.new("skin")
    material.use_nodes = True
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (0.8, 0.55, 0.45, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.45

    bpy.ops.mesh.primitive_monkey_add(size=1.0, location=(0.0, 0.0, 0.0))  # faces -Y_b = +Z_engine
    monkey = bpy.context.active_object
    modifier = monkey.modifiers.new("subdiv", "SUBSURF")
    modifier.levels = modifier.render_levels = 1
    bpy.ops.object.shade_smooth()
    monkey.data.materials.append(material)

    backdrop = bpy.data.materials.new("backdrop")
    backdrop.use_nodes = True
    backdrop.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.3, 0.5, 0.7, 1.0)
    backdrop.node_tree.nodes["Principled BSDF"].inputs["Roughness"].default_value = 0.8
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.45, location=to_blender((0.75, -0.35, -0.45)), segments=48, ring_count=24)
    ball = bpy.context.active_object
    bpy.ops.object.shade_smooth()
    ball.data.materials.append(backdrop)

    camera_data = bpy.data.cameras.new("camera")
    camera_data.lens_unit = "FOV"
    camera_data.angle = math.radians(36.0)
    camera = bpy.data.objects.new("camera", camera_data)
    scene.collection.objects.link(camera)
    camera.location = to_blender((0.0, 0.0, 3.2))
    camera.rotation_euler = (math.radians(90.0), 0.0, 0.0)  # look along +Y_b = -Z_engine
    scene.camera = camera
    scene.world = bpy.data.worlds.new("world")
    scene.world.use_nodes = True
    return scene


def set_world(scene, render):
    nodes = scene.world.node_tree.nodes
    links = scene.world.node_tree.links
    nodes.clear()
    output = nodes.new("ShaderNodeOutputWorld")
    background = nodes.new("ShaderNodeBackground")
    links.new(background.outputs["Background"], output.inputs["Surface"])
    if "hdri" not in render:
        background.inputs["Strength"].default_value = 0.0
        return
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.vector_type = "POINT"
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(render.get("rotate_deg", 0.0)))
    texture = nodes.new("ShaderNodeTexEnvironment")
    texture.image = bpy.data.images.load(render["hdri"], check_existing=True)
    links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], texture.inputs["Vector"])
    links.new(texture.outputs["Color"], background.inputs["Color"])
    background.inputs["Strength"].default_value = render.get("strength", 1.0)


def set_suns(scene, suns):
    for obj in [o for o in scene.objects if o.type == "LIGHT"]:
        bpy.data.objects.remove(obj, do_unlink=True)
    for index, sun in enumerate(suns):
        data = bpy.data.lights.new(f"sun{index}", "SUN")
        rgb = sun["rgb"]
        peak = max(rgb)
        data.energy = peak
        data.color = [c / peak for c in rgb] if peak > 0 else (1.0, 1.0, 1.0)
        data.angle = math.radians(sun.get("angle_deg", 0.0))
        light = bpy.data.objects.new(f"sun{index}", data)
        scene.collection.objects.link(light)
        light.rotation_euler = to_blender(sun["direction"]).to_track_quat("Z", "Y").to_euler()


def render_all(scene, renders):
    """Render each job entry (its world or suns) into its ``out`` file."""
    for render in renders:
        set_world(scene, render)
        set_suns(scene, render.get("suns", []))
        scene.render.filepath = render["out"]
        bpy.ops.render.render(write_still=True)


def main(job_path):
    with open(job_path) as handle:
        job = json.load(handle)
    render_all(build_scene(job["size"], job["samples"]), job["renders"])


if __name__ == "__main__":
    main(sys.argv[-1])

"""Render a lit mesh with Blender Cycles (bpy), as a child process: ``python render_face_lit.py JOB.json``.

JOB.json::

    {"mesh": "mesh.npz", "size": 96, "samples": 64,
     "material": {"albedo": [r, g, b], "specular": 0.0, "roughness": 0.5},
     "renders": [{"out": "sun.exr", "suns": [{"direction": [x, y, z], "rgb": [r, g, b], "angle_deg": 0}]},
                 {"out": "env.exr", "hdri": "/path.exr", "rotate_deg": 0, "strength": 1.0}]}

mesh.npz (engine frame: Y up, metres): ``vertices`` (V, 3), ``triangles`` (F, 3), ``normals`` (V, 3)
(set as custom normals, so Cycles shades with the same normals as the engine), ``K`` (3, 3) with a
centred principal point and square pixels, ``world_to_camera`` (4, 4) (engine/OpenGL camera: looks
down -Z, the same local axes as a Blender camera).

Material: Diffuse BSDF (Lambert) of ``albedo``, plus, when ``specular`` > 0, a single-scatter GGX
Glossy BSDF of that colour and ``roughness`` added to it. Direct light only (no bounces): the
synthetic stage renders no inter-reflections. Each sample sits at the pixel centre (0.01 px filter),
the rasteriser's sampling point. Suns and worlds come from tests/support/cycles_scene.py (sun strength
= irradiance; Environment Texture through a Mapping node rotated about Z). Blender is Z up:
(x, y, z)_engine = (x_b, z_b, -y_b). Output: float RGBA EXR, scene-linear, transparent film.
"""

import json
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.cycles_scene import cycles_scene, render_all  # noqa: E402

ENGINE_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


# Direct light only, unfiltered pixel-centre samples, float output.
SETTINGS = {
    "cycles.use_adaptive_sampling": False, "cycles.seed": 11, "cycles.filter_width": 0.01,
    "cycles.max_bounces": 0, "cycles.diffuse_bounces": 0, "cycles.glossy_bounces": 0,
    "cycles.transmission_bounces": 0, "render.image_settings.color_depth": "32",
}


def scene_settings(size: int, samples: int):
    scene = cycles_scene(size, size, samples, SETTINGS)
    scene.world = bpy.data.worlds.new("world")
    scene.world.use_nodes = True
    return scene


def add_material(settings: dict):
    material = bpy.data.materials.new("stage")
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    output = nodes.new("ShaderNodeOutputMaterial")
    diffuse = nodes.new("ShaderNodeBsdfDiffuse")
    diffuse.inputs["Color"].default_value = (*settings["albedo"], 1.0)
    diffuse.inputs["Roughness"].default_value = 0.0
    shader = diffuse.outputs["BSDF"]
    if settings.get("specular", 0.0) > 0.0:
        glossy = nodes.new("ShaderNodeBsdfAnisotropic")  # "Glossy BSDF" in the UI
        glossy.distribution = "GGX"
        f0 = settings["specular"]
        glossy.inputs["Color"].default_value = (f0, f0, f0, 1.0)
        glossy.inputs["Roughness"].default_value = settings["roughness"]
        add = nodes.new("ShaderNodeAddShader")
        links.new(shader, add.inputs[0])
        links.new(glossy.outputs["BSDF"], add.inputs[1])
        shader = add.outputs["Shader"]
    links.new(shader, output.inputs["Surface"])
    return material


def add_mesh(scene, mesh_data, material) -> None:
    vertices = mesh_data["vertices"].astype(np.float64) @ ENGINE_TO_BLENDER.T
    mesh = bpy.data.meshes.new("face")
    mesh.from_pydata(vertices.tolist(), [], mesh_data["triangles"].astype(int).tolist())
    mesh.update()
    mesh.shade_smooth()
    normals = mesh_data["normals"].astype(np.float64) @ ENGINE_TO_BLENDER.T
    mesh.normals_split_custom_set_from_vertices(normals.tolist())
    mesh.materials.append(material)
    scene.collection.objects.link(bpy.data.objects.new("face", mesh))


def add_camera(scene, K: np.ndarray, world_to_camera: np.ndarray, size: int) -> None:
    data = bpy.data.cameras.new("camera")
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = 36.0
    data.lens = float(K[0, 0]) / size * data.sensor_width  # focal length in pixels -> millimetres
    data.clip_start = 1e-3
    camera = bpy.data.objects.new("camera", data)
    frame = np.eye(4)
    frame[:3, :3] = ENGINE_TO_BLENDER
    camera.matrix_world = Matrix((frame @ np.linalg.inv(world_to_camera)).tolist())
    scene.collection.objects.link(camera)
    scene.camera = camera


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    mesh_data = np.load(job["mesh"])
    size = int(job["size"])
    scene = scene_settings(size, int(job["samples"]))
    add_mesh(scene, mesh_data, add_material(job["material"]))
    add_camera(scene, mesh_data["K"], mesh_data["world_to_camera"], size)
    render_all(scene, job["renders"])


if __name__ == "__main__":
    main(sys.argv[-1])

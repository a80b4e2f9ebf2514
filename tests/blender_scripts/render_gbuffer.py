"""Render a mesh's coverage, normals and depth with Blender Cycles (bpy), as a child process:
``python render_gbuffer.py JOB.npz OUT.exr``.

JOB.npz (engine frame: Y up, metres): ``vertices`` (V, 3), ``triangles`` (F, 3), optional ``normals``
(V, 3) (set as the mesh's custom normals; without them Blender's own smooth normals shade it),
``K`` (3, 3) with a centred principal point, ``world_to_camera`` (4, 4) in the engine/OpenGL camera
convention (looks down -Z; Blender cameras use the same local axes), ``size`` (W, H).

Blender is Z up: (x, y, z)_engine = (x_b, z_b, -y_b). Output: a multilayer EXR with the view
layer's Combined (alpha = coverage), Normal (world, Blender frame) and Depth passes. One sample per
pixel and a 0.01 px filter put each sample at the pixel centre, the rasteriser's sampling point.
"""

import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.cycles_scene import cycles_scene  # noqa: E402

# Engine -> Blender: x_b = x_e, y_b = -z_e, z_b = y_e.
ENGINE_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def main(job_path: str, out_path: str) -> None:
    job = np.load(job_path)
    width, height = (int(v) for v in job["size"])
    K = job["K"]
    if abs(K[0, 2] - width / 2) > 1e-3 or abs(K[1, 2] - height / 2) > 1e-3 or abs(K[0, 0] - K[1, 1]) > 1e-3:
        raise SystemExit("render_gbuffer.py needs a centred principal point and square pixels")

    scene = cycles_scene(width, height, 1, {
        "cycles.filter_width": 0.01,
        "render.image_settings.media_type": "MULTI_LAYER_IMAGE",  # Blender 5: multilayer OpenEXR
        "render.image_settings.file_format": "OPEN_EXR_MULTILAYER",
        "render.image_settings.color_depth": "32",
    })
    view_layer = scene.view_layers[0]
    view_layer.use_pass_normal = True
    view_layer.use_pass_z = True

    vertices = job["vertices"].astype(np.float64) @ ENGINE_TO_BLENDER.T
    mesh = bpy.data.meshes.new("mesh")
    mesh.from_pydata(vertices.tolist(), [], job["triangles"].astype(int).tolist())
    mesh.update()
    mesh.shade_smooth()
    if "normals" in job.files:
        normals = job["normals"].astype(np.float64) @ ENGINE_TO_BLENDER.T
        mesh.normals_split_custom_set_from_vertices(normals.tolist())
    scene.collection.objects.link(bpy.data.objects.new("mesh", mesh))

    camera_data = bpy.data.cameras.new("camera")
    camera_data.sensor_fit = "HORIZONTAL"
    camera_data.sensor_width = 36.0
    camera_data.lens = float(K[0, 0]) * camera_data.sensor_width / width
    camera_data.clip_start = 1e-3
    camera = bpy.data.objects.new("camera", camera_data)
    to_blender = np.eye(4)
    to_blender[:3, :3] = ENGINE_TO_BLENDER
    camera.matrix_world = Matrix((to_blender @ np.linalg.inv(job["world_to_camera"])).tolist())
    scene.collection.objects.link(camera)
    scene.camera = camera

    scene.render.filepath = out_path
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Drive the extension's performer tools in real bpy, as a child process: ``python relume_blender_performer.py JOB``.

tests/blender/test_blender_performer.py asserts on the JSON this writes. One scenario, in order: install the
extension from its zip; Import Performer from a transferred track; project some mesh vertices through
the imported camera; Export Track untouched and after a hand key; Reenact Performer under a sun; the
Esc path (a task cancelled right after it starts); the bad-input reports, each with a scene fingerprint
around it. With ``job["picture"]``: import, one frame reenacted and relit, a Cycles render of the rig (README).
"""

import json
import math
import os
import sys
import time

import bpy
from bpy_extras.object_utils import world_to_camera_view

from relume_blender import add_light, fingerprint, install, run_operator, submodule


def projected(scene, performer, frame, vertex_ids):
    """Pixel positions (u right, v down, from the top-left corner) of posed mesh vertices at ``frame``."""
    scene.frame_set(frame)
    evaluated = performer.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    width, height = scene.render.resolution_x, scene.render.resolution_y
    points = []
    for index in vertex_ids:
        world = evaluated.matrix_world @ mesh.vertices[index].co
        ndc = world_to_camera_view(scene, performer.relume_performer.camera, world)
        points.append([ndc.x * width, (1.0 - ndc.y) * height])
    evaluated.to_mesh_clear()
    return points


def import_checks(scene, performer, job):
    settings = performer.relume_performer
    blocks = performer.data.shape_keys.key_blocks
    return {"name": performer.name, "vertices": len(performer.data.vertices), "shape_keys": [b.name for b in blocks],
            "parent": performer.parent.name if performer.parent else None, "camera": settings.camera.name,
            "stage": settings.stage.name, "stage_parent": settings.stage.parent.name,
            "stage_world": [list(row) for row in settings.stage.matrix_world],
            "frame_range": [scene.frame_start, scene.frame_end],
            "resolution": [scene.render.resolution_x, scene.render.resolution_y],
            "projected": projected(scene, performer, job["check_frame"], job["vertex_ids"]),
            "jaw_at_check_frame": blocks["jawOpen"].value}


def cancelled_task(scene):
    """Start Reenact Performer's task and cancel it at once, as Esc does."""
    operators = submodule("performer.operators")
    session = submodule("relight.engine_session")
    task = operators.ReenactTask(session.engine_client(), bpy.context)
    task.begin()
    task.cancel()
    deadline = time.monotonic() + 120
    outcome = None
    while outcome is None and time.monotonic() < deadline:
        outcome = task.poll()
        time.sleep(0.05)
    return {"result": outcome.result if outcome else None, "message": outcome.message if outcome else None,
            "capture_yaml": os.path.isfile(os.path.join(task.capture, "capture.yaml")), "phase": task.phase}


def error_cases(scene, job, performer):
    """Each bad input: the artist's message and whether the scene (and the output folder) stayed as it was."""
    settings = scene.relume
    results = {}

    def attempt(name):
        before = fingerprint()
        message = run_operator(bpy.ops.relume.reenact_performer)
        after = fingerprint()
        results[name] = {"message": message, "unchanged": after == before,
                         "changed": {k: [before[k], after[k]] for k in before if before[k] != after[k]}}

    settings.reenact_model = ""
    attempt("no_model")
    for name in ("other_performer_model", "other_stage_model"):
        settings.reenact_model = job[name]
        attempt(name)
    settings.reenact_model = job["model"]

    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    settings.performer = cube
    attempt("not_a_performer")
    cube.relume_performer.rig_file = performer.relume_performer.rig_file
    attempt("not_ict_topology")
    bpy.data.objects.remove(cube)
    settings.performer = performer

    narrow = add_light(scene, {"kind": "AREA", "location": (0, -4, 1), "props": {"spread": math.radians(40.0)}}, 99)
    attempt("unsupported_light")
    bpy.data.objects.remove(narrow)
    return results


def render_rig(scene, path, frame):
    """A Cycles render of the rig (grey skin, the scene's sun) from the track camera, for the README."""
    scene.frame_set(frame)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 16
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.camera = scene.relume.performer.relume_performer.camera
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def picture(job, scene, performer):
    """For the README: the keyed frame ``check_frame`` reenacted and relit under a warm sun, and the rig rendered."""
    add_light(scene, {"kind": "SUN", "location": (2.0, -3.0, 2.0), "props": {"energy": 4.0, "angle": 0.1,
                                                                          "color": (1.0, 0.85, 0.7)}}, 0)
    settings = scene.relume
    settings.reenact_model, settings.frames = job["model"], "CURRENT"
    scene.frame_set(job["check_frame"])
    error = run_operator(bpy.ops.relume.reenact_performer)
    render_rig(scene, job["render"], job["check_frame"])
    submodule("relight.engine_session").SESSION.stop()
    return {"reenact_error": error, "out_files": sorted(os.listdir(os.path.join(job["work"], "out")))}


def main(job):
    result = {"install": install(job["zip"])}
    scene = bpy.context.scene
    for obj in list(scene.objects):                 # the factory scene's cube, light and camera
        bpy.data.objects.remove(obj)
    settings = scene.relume
    settings.output_folder = os.path.join(job["work"], "out") + os.sep
    error = run_operator(bpy.ops.relume.import_performer, filepath=job["track"])
    result["import_error"] = error
    performer = settings.performer
    if job.get("picture"):
        return {**result, **picture(job, scene, performer)}
    result["import"] = import_checks(scene, performer, job)
    scene.camera = performer.relume_performer.camera

    result["export_error"] = run_operator(bpy.ops.relume.export_track,
                                          filepath=os.path.join(job["work"], "round.track"))
    blocks = performer.data.shape_keys.key_blocks
    scene.frame_set(job["check_frame"])
    blocks["jawOpen"].value = 0.7
    blocks["jawOpen"].keyframe_insert("value", frame=job["check_frame"])
    result["edited_error"] = run_operator(bpy.ops.relume.export_track,
                                          filepath=os.path.join(job["work"], "edited.track"))

    sun = add_light(scene, {"kind": "SUN", "location": (2.0, -3.0, 2.0), "props": {"energy": 3.0, "angle": 0.05}}, 0)
    first, last = scene.frame_start, scene.frame_end
    for frame, energy in ((first, 3.0), (last, 6.0)):                 # a keyed light follows the timeline
        sun.data.energy = energy
        sun.data.keyframe_insert("energy", frame=frame)
    settings.reenact_model = job["model"]
    result["smoothing_default"] = round(settings.reenact_smoothing, 4)
    settings.reenact_smoothing = job["smoothing"]
    settings.frames = "RANGE"
    settings.display = "CAMERA_BACKGROUND"
    settings.subject = performer.relume_performer.stage      # for Export Lights File, which uses the panel's subject
    for frame in (first, last):
        scene.frame_set(frame)
        result[f"lights_error_{frame}"] = run_operator(bpy.ops.relume.export_lights,
                                                       filepath=os.path.join(job["work"], f"lights.{frame}.yaml"))
    result["reenact_error"] = run_operator(bpy.ops.relume.reenact_performer)
    out = os.path.join(job["work"], "out")
    result["out_files"] = sorted(os.listdir(out))
    camera = scene.camera.data
    result["background"] = [b.image.name for b in camera.background_images if b.image]
    result["status"] = submodule("relight.status").status()

    settings.output_folder = os.path.join(job["work"], "cancel") + os.sep
    result["cancel"] = cancelled_task(scene)
    settings.output_folder = os.path.join(job["work"], "errors") + os.sep
    result["errors"] = error_cases(scene, job, performer)
    submodule("relight.engine_session").SESSION.stop()
    return result


if __name__ == "__main__":
    with open(sys.argv[-1]) as handle:
        job = json.load(handle)
    output = main(job)
    with open(job["result"], "w") as handle:
        json.dump(output, handle, indent=1)

"""Drive the Relume Blender extension in real bpy, as a child process: ``python relume_blender.py JOB.json``.

Blender's state is global, so tests/blender/test_blender_extension.py runs each scenario here, in a fresh
process with its own user folder (BLENDER_USER_RESOURCES) and Relume home (RELUME_HOME), and
asserts on the JSON this writes to ``job["result"]``. The extension is installed the documented
way: ``extensions.package_install_files`` on the zip of plugin_blender/.

Scenarios (``job["scenario"]``):

- ``units``: a white Lambertian plate under one light (or world) at a time: Cycles' irradiance at
  its centre (mean pixel x pi) and the lights file the add-on exports for the same lighting.
- ``main``: Suzanne (tests/support/cycles_scene.py) under each lighting case: Relight Plate, the
  exported lights file, the plate's pixels, a Cycles render of the truth; then the plate on a
  plane, a frame range, live relight, and the error cases with a scene fingerprint around each.
- ``file_load``: live relight across File > Open and File > New (see :func:`file_load_scenario`).

Within ``main``, :func:`modal_scenario` plays Blender's event loop for the modal Relight Plate, which
headless bpy cannot run (``'INVOKE_DEFAULT'`` is refused without an area to run in).
"""

import contextlib
import importlib
import json
import math
import os
import re
import signal
import sys
import time

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector

import cycles_scene

ADDON = "bl_ext.user_default.relume"


def install(zip_path):
    """Install and enable the extension from its zip; returns what Blender registered."""
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    module = importlib.import_module(ADDON)
    return {"enabled": ADDON in bpy.context.preferences.addons,
            "operators": sorted(name for name in dir(bpy.ops.relume)),
            "panel": hasattr(bpy.types, "RELUME_PT_main"),
            "preferences": sorted(bpy.context.preferences.addons[ADDON].preferences.bl_rna.properties.keys()),
            "scene_settings": hasattr(bpy.context.scene, "relume"),
            "module_file": module.__file__}


def submodule(name):
    return importlib.import_module(f"{ADDON}.{name}")


def run_operator(operator, **kwargs):
    """Run an operator as a script would; returns the error text it reported, or None."""
    try:
        operator(**kwargs)
    except RuntimeError as exc:
        return str(exc).strip()
    return None


def add_light(scene, spec, index):
    """A light from a job spec (Blender frame): kind, location, optional target it aims at, properties."""
    data = bpy.data.lights.new(f"{spec['kind'].lower()}{index}", spec["kind"])
    for key, value in spec.get("props", {}).items():
        setattr(data, key, value)
    light = bpy.data.objects.new(data.name, data)
    scene.collection.objects.link(light)
    light.location = spec["location"]
    target = Vector(spec.get("target", (0.0, 0.0, 0.0)))
    light.rotation_euler = (target - light.location).to_track_quat("-Z", "Y").to_euler()
    return light


def clear_lights(scene):
    for obj in [o for o in scene.objects if o.type == "LIGHT"]:
        bpy.data.objects.remove(obj, do_unlink=True)


def plate_pixels(path):
    """Save the "Relume Plate" image's pixels (top row first, RGBA float32) to ``path``; returns its size."""
    image = bpy.data.images["Relume Plate"]
    width, height = image.size
    pixels = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    np.save(path, pixels.reshape(height, width, 4)[::-1])
    return [width, height]


def render_to(scene, path):
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def fingerprint():
    """What a failed operator must not change: datablocks, camera backgrounds, light settings."""
    names = {kind: sorted(item.name for item in getattr(bpy.data, kind))
             for kind in ("objects", "images", "materials", "meshes", "lights", "worlds", "cameras")}
    names["backgrounds"] = [[b.image.name if b.image else "" for b in c.background_images] for c in bpy.data.cameras]
    names["light_energy"] = [round(light.energy, 6) for light in bpy.data.lights]
    folder = submodule("relight.plan").output_folder(bpy.context.scene)
    names["output_files"] = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return names


def remove_plate():
    for camera in bpy.data.cameras:
        camera.background_images.clear()
    for collection, name in ((bpy.data.objects, "Relume Plate"), (bpy.data.meshes, "Relume Plate"),
                             (bpy.data.materials, "Relume Plate"), (bpy.data.images, "Relume Plate")):
        if name in collection:
            collection.remove(collection[name])


# ---------------------------------------------------------------- units


def units(job):
    """One light at a time over a white Lambertian plate, seen by an orthographic camera from above."""
    scene = cycles_scene.cycles_scene(8, 8, 64, {"cycles.max_bounces": 0, "render.film_transparent": False,
                                                "render.image_settings.color_depth": "32"})
    result = {"install": install(job["zip"]), "lights": []}
    scene.world = None
    material = bpy.data.materials.new("white")
    material.use_nodes = True
    tree = material.node_tree
    tree.nodes.clear()
    diffuse = tree.nodes.new("ShaderNodeBsdfDiffuse")
    diffuse.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    tree.links.new(diffuse.outputs[0], tree.nodes.new("ShaderNodeOutputMaterial").inputs["Surface"])
    bpy.ops.mesh.primitive_plane_add(size=20.0)
    bpy.context.active_object.data.materials.append(material)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = 0.01
    camera.location = (0.0, 0.0, 0.5)
    scene.collection.objects.link(camera)
    scene.camera = camera
    subject = bpy.data.objects.new("subject", None)
    scene.collection.objects.link(subject)
    scene.relume.subject = subject
    for index, spec in enumerate(job["lights"] + job["worlds"]):
        clear_lights(scene)
        if "kind" in spec:
            add_light(scene, spec, index)
        else:
            scene.world = bpy.data.worlds.new(f"world{index}")
            scene.world.use_nodes = True
            cycles_scene.set_world(scene, spec)
            if "color" in spec:  # a plain Background colour
                background = scene.world.node_tree.nodes["Background"]
                background.inputs["Color"].default_value = (*spec["color"], 1.0)
                background.inputs["Strength"].default_value = spec["strength"]
        lights_path = os.path.join(job["work"], f"units_{index}.yaml")
        error = run_operator(bpy.ops.relume.export_lights, filepath=lights_path)
        image_path = os.path.join(job["work"], f"units_{index}.exr")
        render_to(scene, image_path)
        result["lights"].append({"spec": spec, "lights_file": lights_path, "render": image_path, "error": error})
    # Blender 4.x: a world whose "Use Nodes" is off keeps its node tree, but Cycles renders its plain colour.
    # Blender 5.0 always uses nodes (World.use_nodes is deprecated), so a stand-in world carries the 4.x state.
    from types import SimpleNamespace

    reader = submodule("relight.scene_reader")
    tree = scene.world.node_tree                       # the last world above: an Environment Texture
    for use_nodes in (False, True):
        read = reader.read_world(SimpleNamespace(node_tree=tree, use_nodes=use_nodes, color=(0.05, 0.1, 0.2)),
                                 job["work"])
        result[f"use_nodes_{use_nodes}".lower()] = {"uniform": read.uniform, "hdri": read.hdri}
    return result


# ---------------------------------------------------------------- main


def set_case(scene, case, subject):
    """Lights and world of one case; with a rig, every object moves rigidly (the world does not)."""
    clear_lights(scene)
    cycles_scene.set_world(scene, case.get("world") or {})
    for index, spec in enumerate(case.get("lights", [])):
        add_light(scene, spec, index)
    rig = case.get("rig")
    if rig:
        transform = Matrix.Translation(rig["offset"]) @ Matrix.Rotation(math.radians(rig["yaw_deg"]), 4, "Z")
        for obj in scene.objects:
            obj.matrix_world = transform @ obj.matrix_world
    bpy.context.view_layer.update()
    return rig


def undo_rig(scene, rig):
    if rig:
        inverse = (Matrix.Translation(rig["offset"]) @ Matrix.Rotation(math.radians(rig["yaw_deg"]), 4, "Z")).inverted()
        for obj in scene.objects:
            obj.matrix_world = inverse @ obj.matrix_world
        bpy.context.view_layer.update()


def relight_case(scene, case, work):
    """Relight Plate and Export Lights File for the scene as set; then the Cycles truth."""
    folder = os.path.join(work, case["name"])
    scene.relume.output_folder = folder + os.sep
    lights_path = os.path.join(folder, "lights.yaml")
    started = time.monotonic()
    error = run_operator(bpy.ops.relume.relight_plate)
    seconds = time.monotonic() - started
    export_error = run_operator(bpy.ops.relume.export_lights, filepath=lights_path)
    entry = {"error": error, "export_error": export_error, "seconds": seconds, "lights_file": lights_path}
    if error is None:
        entry["plate_path"] = bpy.data.images["Relume Plate"].filepath
        entry["size"] = plate_pixels(os.path.join(folder, "plate.npy"))
        entry["plate_npy"] = os.path.join(folder, "plate.npy")
        entry["background"] = [b.image.name for b in scene.camera.data.background_images if b.image]
    entry["truth"] = os.path.join(folder, "truth.exr")
    render_to(scene, entry["truth"])
    return entry


def plane_scenario(scene, work):
    """The plate on a camera-facing plane: where its corners land, and a Cycles render of it alone."""
    scene.relume.display = "PLANE"
    scene.relume.plate_distance = 6.0
    error = run_operator(bpy.ops.relume.relight_plate)
    scene.relume.display = "CAMERA_BACKGROUND"
    if error:
        return {"error": error}
    plane = bpy.data.objects["Relume Plate"]
    bpy.context.view_layer.update()
    corners = [list(world_to_camera_view(scene, scene.camera, plane.matrix_world @ v.co))
               for v in plane.data.vertices]
    hidden = [o for o in scene.objects if o.type == "MESH" and o is not plane]
    for obj in hidden:
        obj.hide_render = True
    filter_width = scene.cycles.filter_width
    scene.cycles.filter_width = 0.01  # one texel per pixel: the render shows the plate's own values
    render_path = os.path.join(work, "plane_render.exr")
    render_to(scene, render_path)
    scene.cycles.filter_width = filter_width
    for obj in hidden:
        obj.hide_render = False
    result = {"error": None, "parent": plane.parent.name, "corners": corners, "render": render_path,
              "plate_npy": os.path.join(work, "plane_plate.npy"),
              "visible_diffuse": plane.visible_diffuse, "visible_camera": plane.visible_camera}
    plate_pixels(result["plate_npy"])
    result["relight_with_plane_present"] = run_operator(bpy.ops.relume.relight_plate)
    plane.visible_glossy = True                 # now its emission would light the subject's reflections
    result["relight_with_plane_lighting"] = run_operator(bpy.ops.relume.relight_plate)
    remove_plate()
    return result


@contextlib.contextmanager
def three_frame_range(scene, job, output):
    """Set the scene range 1-3 to relight capture frames 1001-1003 of the long capture into ``output``; then
    back to the current frame of the main capture, with the plate removed."""
    settings = scene.relume
    settings.capture_folder = job["long_capture"]
    settings.frames, settings.frame_offset = "RANGE", 1000
    scene.frame_start, scene.frame_end = 1, 3
    settings.output_folder = output + os.sep
    try:
        yield
    finally:
        settings.capture_folder = job["capture"]
        settings.frames, settings.frame_offset = "CURRENT", 1000
        scene.frame_set(1)
        remove_plate()


def range_scenario(scene, job):
    """Relight the scene range 1-3 as capture frames 1001-1003 into an image sequence."""
    output = os.path.join(job["work"], "range")
    with three_frame_range(scene, job, output):
        error = run_operator(bpy.ops.relume.relight_plate)
        result = {"error": error}
        if error is None:
            image = bpy.data.images["Relume Plate"]
            user = scene.camera.data.background_images[0].image_user
            scene.frame_set(2)
            result.update(source=image.source, frame_start=user.frame_start, frame_duration=user.frame_duration,
                          frame_offset=user.frame_offset, file_at_frame_2=image.filepath_from_user(image_user=user),
                          files=sorted(os.listdir(output)))
    return result


class ModalEvent:
    """What a modal operator reads of Blender's event (``bpy.types.Event`` cannot be made in Python)."""

    def __init__(self, kind):
        self.type = kind


class RecordingWindowManager:
    """The real window manager for timers and progress; records the modal handler instead of adding it, since
    only an operator Blender itself invoked can have one. The scenario then delivers the events."""

    def __init__(self, real):
        self.real, self.handlers, self.progress = real, [], []

    def modal_handler_add(self, operator):
        self.handlers.append(operator)
        return True

    def event_timer_add(self, time_step, window=None):
        return self.real.event_timer_add(time_step, window=window)

    def event_timer_remove(self, timer):
        self.real.event_timer_remove(timer)

    def progress_begin(self, low, high):
        self.progress.append(("begin", low, high))

    def progress_update(self, value):
        self.progress.append(("update", value))

    def progress_end(self):
        self.progress.append(("end",))


def modal_relight(scene, escape_after_submit):
    """Relight Plate as a click runs it: ``invoke``, then TIMER events every 20 ms (a mouse move first) until
    the operator ends; with ``escape_after_submit``, Esc right after the tick that saw the job submitted.
    Returns the result, the reports, the window manager's record and the longest ``modal`` call (the UI's
    stall: starting the engine and submitting must happen on workers)."""
    operators, task_module = submodule("relight.operators"), submodule("relight.engine_task")

    class Probe(task_module.TaskOperator):
        make_task = operators.RELUME_OT_relight_plate.make_task

        def __init__(self):
            self.reports = []

        def report(self, level, message):
            self.reports.append([sorted(level), message])

    probe = Probe()
    manager = RecordingWindowManager(bpy.context.window_manager)
    context = type("Context", (), {"scene": scene, "view_layer": bpy.context.view_layer,
                                   "window": bpy.context.window, "window_manager": manager})()
    started = time.monotonic()
    invoked = sorted(probe.invoke(context, ModalEvent("NONE")))
    longest = time.monotonic() - started
    first = sorted(probe.modal(context, ModalEvent("MOUSEMOVE")))
    result, ticks = invoked, 0
    escaped, deadline = False, time.monotonic() + 120
    while result == ["RUNNING_MODAL"] and time.monotonic() < deadline:
        kind = "TIMER"
        if escape_after_submit and not escaped and probe.pending is None and getattr(probe, "task", None):
            kind, escaped = "ESC", True           # at once: the 3 small frames take well under a second
        else:
            time.sleep(0.02)
        tick = time.monotonic()
        result, ticks = sorted(probe.modal(context, ModalEvent(kind))), ticks + 1
        longest = max(longest, time.monotonic() - tick)
    return {"invoke": invoked, "first": first, "result": result, "ticks": ticks,
            "handlers": len(manager.handlers), "progress": manager.progress, "reports": probe.reports,
            "escaped": escaped, "longest_call": longest, "seconds": time.monotonic() - started}


def modal_scenario(scene, job):
    """The modal Relight Plate from a stopped engine (the start runs on a worker), then a 3-frame range
    cancelled with Esc."""
    session = submodule("relight.engine_session").SESSION
    session.stop()
    settings = scene.relume
    settings.output_folder = os.path.join(job["work"], "modal") + os.sep
    result = {"plate": modal_relight(scene, escape_after_submit=False), "engine_was_started": session.running}
    if result["plate"]["result"] == ["FINISHED"]:
        result["plate"]["plate_npy"] = os.path.join(job["work"], "modal_plate.npy")
        plate_pixels(result["plate"]["plate_npy"])
    output = os.path.join(job["work"], "modal_cancel")
    with three_frame_range(scene, job, output):
        result["cancel"] = modal_relight(scene, escape_after_submit=True)
        result["cancel"]["files"] = sorted(os.listdir(output)) if os.path.isdir(output) else []
    return result


def live_scenario(scene, job):
    """Live relight: initial relight, edits re-relight once settled, no-op edits do not, ticks never block."""
    live = submodule("relight.live")
    settings = scene.relume
    settings.output_folder = os.path.join(job["work"], "live") + os.sep
    result = {"start_error": run_operator(bpy.ops.relume.live_relight)}
    if result["start_error"]:
        return result
    controller = live.LIVE
    result["handler_installed"] = live._on_depsgraph_update in bpy.app.handlers.depsgraph_update_post
    result["idle_1"] = controller.wait_idle(120)
    result["relights_1"] = controller.relights
    plate_pixels(os.path.join(job["work"], "live_1.npy"))

    light = next(o for o in scene.objects if o.type == "LIGHT")
    light.data.energy *= 2.0  # an edit the depsgraph handler sees
    bpy.context.view_layer.update()
    result["noticed"] = controller.edited
    edited_at, ticks = time.monotonic(), []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = time.perf_counter()
        controller.tick()
        ticks.append(time.perf_counter() - started)
        if len(ticks) == 1:
            result["sent_at_first_tick"] = controller.busy or not controller.results.empty()
        if not controller.edited and not controller.busy and controller.results.empty():
            break
        time.sleep(0.01)
    result["relights_2"] = controller.relights
    result["edit_to_plate_seconds"] = time.monotonic() - edited_at
    result["status_2"] = submodule("relight.status").status()
    result["max_tick_seconds"] = max(ticks)
    result["ticks"] = len(ticks)
    plate_pixels(os.path.join(job["work"], "live_2.npy"))

    light.location = tuple(light.location)  # touched, unchanged: must not relight again
    bpy.context.view_layer.update()
    controller.wait_idle(60)
    result["relights_3"] = controller.relights
    result["toggle_off_error"] = run_operator(bpy.ops.relume.live_relight)
    result["handler_removed"] = live._on_depsgraph_update not in bpy.app.handlers.depsgraph_update_post
    result["status"] = submodule("relight.status").status()
    light.data.energy /= 2.0
    remove_plate()
    return result


def error_scenario(scene, job):
    """Each failure: the message the artist sees and whether the scene stayed as it was."""
    settings = scene.relume
    session = submodule("relight.engine_session").SESSION
    prefs = bpy.context.preferences.addons[ADDON].preferences
    results = {}

    def attempt(name, operator=bpy.ops.relume.relight_plate):
        before = fingerprint()
        message = run_operator(operator)
        results[name] = {"message": message, "unchanged": fingerprint() == before}

    settings.capture_folder = os.path.join(job["work"], "no_capture_here")
    attempt("missing_capture")
    settings.capture_folder = job["capture"]

    subject = settings.subject
    settings.subject = None
    attempt("no_subject")
    settings.subject = subject

    mesh = bpy.data.meshes.new("Neon")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0)], [], [(0, 1, 2)])
    neon = bpy.data.objects.new("Neon", mesh)
    scene.collection.objects.link(neon)
    glow = bpy.data.materials.new("Glow")
    glow.use_nodes = True
    glow.node_tree.nodes["Principled BSDF"].inputs["Emission Strength"].default_value = 5.0
    glow.node_tree.nodes["Principled BSDF"].inputs["Emission Color"].default_value = (1.0, 0.2, 0.1, 1.0)
    mesh.materials.append(glow)
    world = scene.world
    scene.world = bpy.data.worlds.new("Uniform grey")      # a uniform world is written as a constant image
    scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.3, 0.3, 0.3, 1.0)
    attempt("mesh_emitter")
    attempt("mesh_emitter_live", bpy.ops.relume.live_relight)
    uniform, scene.world = scene.world, world
    bpy.data.worlds.remove(uniform)
    bpy.data.objects.remove(neon)
    bpy.data.meshes.remove(mesh)
    bpy.data.materials.remove(glow)

    narrow = add_light(scene, {"kind": "AREA", "location": (0, -4, 1), "props": {"spread": math.radians(40.0)}}, 99)
    attempt("area_spread")
    bpy.data.objects.remove(narrow)

    nodes, links = scene.world.node_tree.nodes, scene.world.node_tree.links
    background = next(n for n in nodes if n.type == "BACKGROUND")
    sky = nodes.new("ShaderNodeTexSky")
    links.new(sky.outputs["Color"], background.inputs["Color"])
    strength = background.inputs["Strength"].default_value
    background.inputs["Strength"].default_value = 1.0
    attempt("sky_world")
    background.inputs["Strength"].default_value = strength
    nodes.remove(sky)

    settings.frame_offset = 5000
    attempt("frame_not_in_capture")
    settings.frame_offset = 1000

    if not session.running:
        run_operator(bpy.ops.relume.start_engine)
    os.kill(session.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while session.running and time.monotonic() < deadline:
        time.sleep(0.05)
    prefs.auto_start = False
    attempt("stopped_engine")
    named = re.search(r"its log: (\S+engine\.log)", results["stopped_engine"]["message"] or "")
    results["stopped_engine"]["log_kept"] = bool(named) and os.path.isfile(named.group(1))  # while Blender lives
    prefs.auto_start = True
    before = fingerprint()
    results["restarted"] = {"message": run_operator(bpy.ops.relume.relight_plate), "running": session.running,
                            "plate_made": "Relume Plate" in bpy.data.images and before != fingerprint()}
    remove_plate()

    session.stop()
    started = time.monotonic()           # the panel's Start Engine and Relight Plate split the start so:
    connect = submodule("relight.engine_session").engine_connector(start=True)   # main thread: prefs only
    main_seconds = time.monotonic() - started
    call = submodule("core.background").BackgroundCall(lambda: connect().health())    # the wait, on a worker
    results["connector"] = {"main_seconds": main_seconds, "running_after_main_part": session.running,
                            "health": call.result(), "worker_seconds": time.monotonic() - started}
    session.stop()
    prefs.engine_python = "/nonexistent/bin/python3"
    attempt("bad_engine_python")
    prefs.engine_python = ""
    return results


def live_state():
    """What says whether live relight runs: its flag (the panel's Start/Stop button), its handler and timer."""
    live = submodule("relight.live")
    return {"active": live.LIVE.active, "handler": live._on_depsgraph_update in bpy.app.handlers.depsgraph_update_post,
            "timer": bpy.app.timers.is_registered(live._tick), "status": submodule("relight.status").status()}


def file_load_scenario(job):
    """Live relight, then File > Open while a relight is in flight, live relight in the opened file, File > New."""
    result = {"install": install(job["zip"])}
    scene = bpy.context.scene
    for obj in list(scene.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    subject = bpy.data.objects.new("Head", None)
    scene.collection.objects.link(subject)
    add_light(scene, {"kind": "SUN", "location": (1.0, -2.0, 3.0), "props": {"energy": 2.0}}, 0)
    scene.world = None
    settings = scene.relume
    settings.capture_folder, settings.subject, settings.frame_offset = job["capture"], subject, 1000
    settings.display = "NONE"
    scene.frame_set(1)
    opened = os.path.join(job["work"], "opened.blend")
    settings.output_folder = os.path.join(job["work"], "opened") + os.sep
    bpy.ops.wm.save_as_mainfile(filepath=opened)
    settings.output_folder = os.path.join(job["work"], "first") + os.sep       # unsaved: the file as edited
    controller = submodule("relight.live").LIVE
    result["start_error"] = run_operator(bpy.ops.relume.live_relight)
    result["idle"] = controller.wait_idle(300)
    result["before_open"] = live_state()

    next(o for o in scene.objects if o.type == "LIGHT").data.energy *= 2.0
    bpy.context.view_layer.update()
    first_worker, deadline = controller.worker, time.monotonic() + 60
    while controller.worker is first_worker and time.monotonic() < deadline:   # until the edit's relight is sent
        controller.tick()
        time.sleep(0.01)
    result["pending_at_open"] = controller.busy or not controller.results.empty()    # sent, not shown yet
    bpy.ops.wm.open_mainfile(filepath=opened)
    result["after_open"] = live_state()

    result["restart_error"] = run_operator(bpy.ops.relume.live_relight)
    result["idle_in_opened"] = controller.wait_idle(300)
    plate = bpy.data.images.get("Relume Plate")
    result["in_opened"] = {**live_state(), "relights": controller.relights,
                           "plate": bpy.path.abspath(plate.filepath) if plate else None}
    bpy.ops.wm.read_homefile()
    result["after_new"] = live_state()
    submodule("relight.engine_session").SESSION.stop()
    return result


def main_scenario(job):
    scene = cycles_scene.build_scene(job["size"], job["samples"])
    result = {"install": install(job["zip"]), "cases": {}}
    subject = bpy.data.objects.new("Head", None)
    scene.collection.objects.link(subject)
    settings = scene.relume
    settings.capture_folder = job["capture"]
    settings.subject = subject
    settings.frame_offset = 1000
    scene.frame_set(1)
    for case in job["cases"]:
        rig = set_case(scene, case, subject)
        result["cases"][case["name"]] = relight_case(scene, case, job["work"])
        if case["name"] == job["plane_case"]:
            result["plane"] = plane_scenario(scene, job["work"])
        undo_rig(scene, rig)
    set_case(scene, job["cases"][0], subject)
    result["modal"] = modal_scenario(scene, job)
    result["range"] = range_scenario(scene, job)
    result["live"] = live_scenario(scene, job)
    result["errors"] = error_scenario(scene, job)
    submodule("relight.engine_session").SESSION.stop()
    return result


if __name__ == "__main__":
    with open(sys.argv[-1]) as handle:
        job = json.load(handle)
    output = {"units": units, "file_load": file_load_scenario, "main": main_scenario}[job["scenario"]](job)
    with open(job["result"], "w") as handle:
        json.dump(output, handle, indent=1)

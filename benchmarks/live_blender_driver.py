"""bpy child of ``benchmarks/live_blender.py``: build the scene, run Live Relight, time each edit."""

import json
import math
import re
import sys
import time
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
import cycles_scene  # noqa: E402
import relume_blender  # noqa: E402

job = json.load(open(sys.argv[-1]))
relume_blender.install(job["zip"])
scene = bpy.context.scene
for obj in list(scene.objects):
    bpy.data.objects.remove(obj, do_unlink=True)
subject = bpy.data.objects.new("Head", None)
scene.collection.objects.link(subject)
light = relume_blender.add_light(scene, {"kind": "POINT", "location": (1.0, -2.0, 2.0), "props": {"energy": 100.0}}, 0)
scene.world = bpy.data.worlds.new("World")
cycles_scene.set_world(scene, {"hdri": job["hdri"], "rotate_deg": 0.0})
rotation = next(n for n in scene.world.node_tree.nodes if n.bl_idname == "ShaderNodeMapping").inputs["Rotation"]
settings = scene.relume
settings.capture_folder, settings.subject, settings.frame_offset, settings.display = job["capture"], subject, 1000, "NONE"
settings.output_folder = job["work"] + "/out/"
scene.frame_set(1)
live = relume_blender.submodule("relight.live").LIVE
status = relume_blender.submodule("relight.status").status
error = relume_blender.run_operator(bpy.ops.relume.live_relight)
assert error is None and live.wait_idle(300), error


def timed(edit) -> dict:
    """Seconds from ``edit`` to its plate applied, ticking as Blender's timer would (every 2 ms here)."""
    before = live.relights
    edit()
    bpy.context.view_layer.update()          # the depsgraph update an edit in the UI causes
    started = time.monotonic()
    while live.relights == before:
        live.tick()
        time.sleep(0.002)
    seconds = time.monotonic() - started
    live.wait_idle(60)
    engine = float(re.search(r"relit in ([0-9.]+) s", status()).group(1))
    return {"seconds": seconds, "engine": engine}


result = {"point light energy": [timed(lambda i=i: setattr(light.data, "energy", 110.0 + 10 * i))
                                 for i in range(job["edits"])],
          "world rotation": [timed(lambda i=i: setattr(rotation, "default_value", (0.0, 0.0, math.radians(10.0 * (i + 1)))))
                             for i in range(job["edits"])]}
with open(job["result"], "w") as handle:
    json.dump(result, handle)

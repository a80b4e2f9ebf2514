"""Relume settings: per scene (``scene.relume``: capture, subject, exposure, frames, output, display, performer)
and per performer object (``object.relume_performer``)."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..relume_host.vocabulary import DEFAULT_WEIGHT_METHOD, WeightMethod

METHODS = [   # labels for relume_host's WeightMethod values (tests/test_host_contracts.py holds them equal)
    (WeightMethod.BARYCENTRIC.value, "Barycentric", "Share light between the three nearest stage lights (smooth as lights move)"),
    (WeightMethod.VORONOI.value, "Nearest", "Give each direction's light to the nearest stage light"),
]
FRAMES = [
    ("CURRENT", "Current Frame", "Relight the current frame only"),
    ("RANGE", "Scene Range", "Relight every frame of the scene's frame range"),
]
DISPLAYS = [
    ("CAMERA_BACKGROUND", "Camera Background", "Show the plate as the active camera's background image"),
    ("PLANE", "Plane", "Show the plate on a plane in front of the camera (renders in Cycles and EEVEE)"),
    ("NONE", "Image Only", "Only load the plate as an Image datablock"),
]


class RelumeSceneSettings(bpy.types.PropertyGroup):
    capture_folder: StringProperty(name="Capture", subtype="DIR_PATH",
                                   description="Light-stage capture folder (holds capture.yaml)")
    subject: PointerProperty(name="Subject", type=bpy.types.Object,
                             description="Empty placed where the captured head is; lights are measured from it")
    exposure: FloatProperty(name="Exposure", default=0.0, soft_min=-10.0, soft_max=10.0, unit="NONE",
                            description="Exposure change of the relit plate, in stops")
    method: EnumProperty(name="Interpolation", items=METHODS, default=DEFAULT_WEIGHT_METHOD.value)
    use_world: BoolProperty(name="World Lighting", default=True,
                            description="Include the world's environment (off: scene lights only)")
    frames: EnumProperty(name="Frames", items=FRAMES, default="CURRENT")
    frame_offset: IntProperty(name="Plate Frame Offset", default=0,
                              description="Capture frame = scene frame + this offset")
    output_folder: StringProperty(name="Output", subtype="DIR_PATH", default="//relume/",
                                  description="Folder for relit EXRs (relative to the .blend; unsaved files use "
                                              "the system's temporary folder)")
    display: EnumProperty(name="Display", items=DISPLAYS, default="CAMERA_BACKGROUND")
    plate_distance: FloatProperty(name="Plane Distance", default=10.0, min=0.01, unit="LENGTH",
                                  description="Distance of the plate plane from the camera")
    performer: PointerProperty(name="Performer", type=bpy.types.Object, poll=lambda _, obj: obj.type == "MESH",
                               description="The performer mesh Import Performer made (its shape keys drive Reenact)")
    reenact_model: StringProperty(name="Model", subtype="DIR_PATH",
                                  description="Trained reenactment model folder (relume train --out) of the performer")
    # relume reenact's default (engine/reenact/settings.py; tests/blender/test_blender_performer.py holds them equal)
    reenact_smoothing: FloatProperty(name="Temporal Smoothing", default=0.8, min=0.0, max=0.95,
                                     description="How much of the previous reenacted frame, carried along the face's "
                                                 "motion, each frame keeps beyond the network's own blend (0: the "
                                                 "network's; towards 1 steadier, but lagging where the face changes)")


class RelumePerformerSettings(bpy.types.PropertyGroup):
    """``object.relume_performer``: what Import Performer links to the performer mesh."""

    rig_file: StringProperty(name="Rig File", subtype="FILE_PATH",
                             description="The engine's rig file of this performer (mesh, identity, camera)")
    camera: PointerProperty(name="Camera", type=bpy.types.Object, description="The track's camera")
    stage: PointerProperty(name="Stage", type=bpy.types.Object,
                           description="Empty at the head with the capture's axes: reenacted OLATs are lit from it")


CLASSES = (RelumeSceneSettings, RelumePerformerSettings)


def register_properties() -> None:
    bpy.types.Scene.relume = PointerProperty(type=RelumeSceneSettings)
    bpy.types.Object.relume_performer = PointerProperty(type=RelumePerformerSettings)


def unregister_properties() -> None:
    del bpy.types.Object.relume_performer
    del bpy.types.Scene.relume

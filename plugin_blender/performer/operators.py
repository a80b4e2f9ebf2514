"""Performer operators: Import Performer (.track -> rig), Export Track (rig -> .track), Reenact Performer.

Reenact Performer is an engine task of two jobs: ``POST /reenact`` writes the target's OLAT capture for
the keyed expressions into the output folder, then ``POST /relight`` lights it with the scene's lights
and world relative to the performer's stage, exactly as Relight Plate does, and the plate is shown.
Errors are reports and the status line; a refused operator changes nothing in the scene.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..addon_config import Config
from ..core.service import ServiceClient, ServiceError
from ..relight.engine_session import engine_client
from ..relight.engine_task import EngineTask, Outcome, TaskOperator, report_done, report_error
from ..relight.plan import (
    PlanError,
    RelightPlan,
    build_plan,
    convert_lighting,
    file_name,
    output_folder,
    scene_frames,
    with_project,
)
from ..relight.prechecks import CheckedOperator, PlateSource
from ..relight.relight_task import show_relit
from ..relight.status import set_status
from ..relight.ui_strings import labelled
from .rig_mesh import RigError, build_performer, check_performer, performer_problem, read_animation

MODEL_CONFIG = "config.json"      # what makes a folder a trained model (relume train --out)
NO_MODEL = "not a trained model folder (set Model in the Relume panel to the folder relume train wrote)"


@labelled
class RELUME_OT_import_performer(bpy.types.Operator, ImportHelper):
    bl_idname = Config.import_performer_idname
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".track"
    filter_glob: StringProperty(default="*.track", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        track = bpy.path.abspath(self.filepath)
        if not os.path.isfile(track):
            return report_error(self, f"{track}: track file not found")
        stem = file_name(os.path.basename(track).rsplit(".", 1)[0]) or "performer"
        rig_path = os.path.join(output_folder(scene), "performers", f"{stem}.rig.npz")
        try:
            rig_path = engine_client().rig(with_project({"track": track, "out": rig_path}))["rig"]
            performer = build_performer(scene, rig_path)
        except (ServiceError, RigError) as exc:
            return report_error(self, str(exc))
        scene.relume.performer = performer
        if scene.camera is None:
            scene.camera = performer.relume_performer.camera
        keys = len(performer.data.shape_keys.key_blocks) - 1
        camera = performer.relume_performer.camera.name
        return report_done(self, f"Imported '{performer.name}': {keys} expression shape keys, frames "
                                 f"{scene.frame_start}-{scene.frame_end}, camera '{camera}'")


@labelled
class RELUME_OT_export_track(CheckedOperator, bpy.types.Operator, ExportHelper):
    bl_idname = Config.export_track_idname
    filename_ext = ".track"
    filter_glob: StringProperty(default="*.track", options={"HIDDEN"})

    @classmethod
    def unusable(cls, context: bpy.types.Context) -> str | None:
        return performer_problem(context.scene.relume.performer)

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        performer = scene.relume.performer
        path = bpy.path.abspath(self.filepath)
        try:
            rig = check_performer(scene, performer)
            frames = read_animation(scene, performer, rig, scene_frames(scene, "RANGE"))
            rig_file = bpy.path.abspath(performer.relume_performer.rig_file)
            written = engine_client().track(with_project({"rig": rig_file, "out": path, "frames": frames}))
        except (ServiceError, RigError) as exc:
            return report_error(self, str(exc))
        return report_done(self, f"Wrote {written['frames']} frame(s) of '{performer.name}' to {written['track']}")


class ReenactTask(EngineTask):
    """Reenact the performer's keyed frames with the trained model, then relight them (two jobs)."""

    phases = 2

    def __init__(self, client: ServiceClient, context: bpy.types.Context) -> None:
        super().__init__(client)
        scene = self.scene = context.scene
        self.view_layer = context.view_layer
        settings = scene.relume
        performer = settings.performer
        rig = check_performer(scene, performer)
        self.model = bpy.path.abspath(settings.reenact_model) if settings.reenact_model else ""
        self.smoothing = round(settings.reenact_smoothing, 4)     # the property is float32: 0.3 is 0.30000001
        if not os.path.isfile(os.path.join(self.model, MODEL_CONFIG)):
            raise PlanError(f"{self.model or 'Model'}: {NO_MODEL}")
        if settings.display != "NONE" and scene.camera is None:
            raise PlanError("The scene has no active camera to show the plate on (or set Display to Image Only)")
        self.stage = performer.relume_performer.stage
        self.warnings = convert_lighting(scene, self.view_layer, self.stage, write=False).warnings  # refuse early
        folder, name = output_folder(scene), file_name(performer.name) or "performer"
        self.capture = os.path.join(folder, f"{name}_reenacted")
        self.track = self.client.track(with_project({
            "rig": bpy.path.abspath(performer.relume_performer.rig_file),
            "out": os.path.join(folder, f"{name}_reenact.track"),
            "frames": read_animation(scene, performer, rig, scene_frames(scene, settings.frames))}))["track"]
        self.label = "Reenacting"
        self.plan: RelightPlan | None = None

    def start(self) -> dict:
        try:
            return self.client.reenact(with_project({"model": self.model, "track": self.track, "out": self.capture,
                                                     "temporal_smoothing": self.smoothing}))
        except ServiceError:
            os.remove(self.track)            # a refused reenact leaves nothing behind
            raise

    def job_done(self, state: dict) -> dict | Outcome:
        if self.plan is None:
            self.plan = build_plan(self.scene, self.view_layer, self.scene.relume.frames, "reenact",
                                   PlateSource(self.capture, self.stage))
            return self.next_job("Relighting", self.client.relight(self.plan.body))
        return show_relit(self.scene, self.plan, state["paths"])


@labelled
class RELUME_OT_reenact_performer(CheckedOperator, TaskOperator, bpy.types.Operator):
    bl_idname = Config.reenact_performer_idname
    bl_options = {"REGISTER"}

    @classmethod
    def unusable(cls, context: bpy.types.Context) -> str | None:
        settings = context.scene.relume
        return performer_problem(settings.performer) or (None if settings.reenact_model else NO_MODEL)

    def make_task(self, context: bpy.types.Context) -> ReenactTask:
        set_status("Reading the performer's keys...")
        return ReenactTask(engine_client(), context)


CLASSES = (RELUME_OT_import_performer, RELUME_OT_export_track, RELUME_OT_reenact_performer)

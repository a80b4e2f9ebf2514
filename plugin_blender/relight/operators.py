"""Relume operators: Relight Plate (an engine task: modal, cancellable), Live Relight, Export Lights File,
engine start/stop.

Errors reach the artist through ``self.report`` (a Python caller gets them as RuntimeError) and
the panel's status line; an operator that fails changes nothing in the scene.
"""

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from ..addon_config import Config
from ..core.background import BackgroundCall
from ..core.scene_to_lights import UnsupportedScene
from ..core.service import ServiceError
from ..relume_host.atomic import write_text_atomic
from ..relume_host.errors import OutputError
from ..relume_host.lights_file import lights_document, lights_text
from .engine_session import SESSION, engine_client, engine_connector
from .engine_task import TaskOperator, report_error
from .live import LIVE
from .plan import PlanError, build_plan
from .prechecks import CheckedOperator, plate_problem
from .relight_task import RelightTask
from .scene_reader import convert_scene
from .status import set_status
from .ui_strings import labelled, pick_subject


@labelled
class RELUME_OT_relight_plate(CheckedOperator, TaskOperator, bpy.types.Operator):
    bl_idname = Config.relight_plate_idname
    bl_options = {"REGISTER"}

    @classmethod
    def unusable(cls, context: bpy.types.Context) -> str | None:
        return plate_problem(context)

    def make_task(self, context: bpy.types.Context) -> RelightTask:
        plan = build_plan(context.scene, context.view_layer, context.scene.relume.frames, "plate")
        set_status("Starting the engine..." if not SESSION.running else "Relighting...")
        return RelightTask(engine_client(), context.scene, plan)


@labelled
class RELUME_OT_live_relight(CheckedOperator, bpy.types.Operator):
    bl_idname = Config.live_relight_idname

    @classmethod
    def unusable(cls, context: bpy.types.Context) -> str | None:
        return None if LIVE.active else plate_problem(context)     # a running live relight can always stop

    def execute(self, context: bpy.types.Context) -> set[str]:
        if LIVE.active:
            LIVE.stop()
            return {"FINISHED"}
        try:
            plan = build_plan(context.scene, context.view_layer, "CURRENT", "live")
            if not SESSION.running:
                engine_connector()  # says at once why it cannot start; live mode's worker thread starts it
        except (PlanError, ServiceError) as exc:
            return report_error(self, str(exc))
        for warning in plan.warnings:
            self.report({"WARNING"}, warning)
        LIVE.start(context.scene)
        return {"FINISHED"}


@labelled
class RELUME_OT_export_lights(CheckedOperator, bpy.types.Operator, ExportHelper):
    bl_idname = Config.export_lights_idname
    filename_ext = ".yaml"
    filter_glob: StringProperty(default="*.yaml;*.yml", options={"HIDDEN"})

    @classmethod
    def unusable(cls, context: bpy.types.Context) -> str | None:
        return pick_subject if context.scene.relume.subject is None else None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        path = bpy.path.abspath(self.filepath)
        try:
            conversion = convert_scene(scene, context.view_layer, os.path.dirname(path))
        except UnsupportedScene as exc:
            return report_error(self, "Unsupported lighting: " + "; ".join(exc.problems))
        text = lights_text(lights_document(conversion.lights), f"Relume lights from Blender scene '{scene.name}', subject "
                                              f"'{scene.relume.subject.name}' (engine frame: Y up, subject looking +Z)")
        try:
            write_text_atomic(path, text)
        except OutputError as exc:
            return report_error(self, str(exc))
        for warning in conversion.warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, f"Wrote {len(conversion.lights)} light(s) to {path}")
        return {"FINISHED"}


@labelled
class RELUME_OT_start_engine(bpy.types.Operator):
    bl_idname = Config.start_engine_idname

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking form (scripts): start and wait."""
        try:
            return self._started(engine_client(start=True).health())
        except ServiceError as exc:
            return report_error(self, str(exc))

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """From the panel: the engine starts on a worker thread while the UI stays live."""
        try:
            connect = engine_connector(start=True)
        except ServiceError as exc:
            return report_error(self, str(exc))
        self.pending = BackgroundCall(lambda: connect().health(), "relume-engine-start")
        set_status("Starting the engine...")
        self.timer = context.window_manager.event_timer_add(Config.modal_poll_seconds, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if not self.pending.done:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self.timer)
        try:
            return self._started(self.pending.result())
        except ServiceError as exc:
            return report_error(self, str(exc))

    def _started(self, health: dict) -> set[str]:
        set_status(f"Engine running (pid {health['pid']}, {health['device']})")
        return {"FINISHED"}


@labelled
class RELUME_OT_stop_engine(bpy.types.Operator):
    bl_idname = Config.stop_engine_idname

    def execute(self, context: bpy.types.Context) -> set[str]:
        LIVE.stop()
        SESSION.stop()
        set_status("Engine stopped")
        return {"FINISHED"}


CLASSES = (RELUME_OT_relight_plate, RELUME_OT_live_relight, RELUME_OT_export_lights,
           RELUME_OT_start_engine, RELUME_OT_stop_engine)

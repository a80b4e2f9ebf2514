"""Relume operators: Relight Plate (modal, cancellable), Live Relight, Export Lights File, engine start/stop.

Errors reach the artist through ``self.report`` (a Python caller gets them as RuntimeError) and
the panel's status line; an operator that fails changes nothing in the scene.
"""

import os
import time

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from ..addon_config import Config
from ..core.lights_file import lights_yaml
from ..core.scene_to_lights import UnsupportedScene
from ..core.service import ServiceClient, ServiceError, check_job
from .engine_session import SESSION, engine_client
from .live import LIVE
from .plan import PlanError, RelightPlan, build_plan
from .plate import show_plate
from .scene_reader import convert_scene
from .status import set_status
from .ui_strings import buttons, pick_subject


def _labelled(cls: type) -> type:
    """Take an operator's label and tooltip from :mod:`.ui_strings`."""
    cls.bl_label, cls.bl_description = buttons[cls.bl_idname]
    return cls


def _report_error(operator: bpy.types.Operator, message: str) -> set[str]:
    """Show ``message`` in the status line and as an error report; the operator's CANCELLED result."""
    set_status(f"Error: {message}")
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


@_labelled
class RELUME_OT_relight_plate(bpy.types.Operator):
    bl_idname = Config.relight_plate_idname
    bl_options = {"REGISTER"}

    def _start(self, context: bpy.types.Context) -> str | None:
        """Plan, reach the engine and submit the job; returns an error message or None."""
        try:
            self.plan: RelightPlan = build_plan(context.scene, context.view_layer, context.scene.relume.frames, "plate")
            set_status("Starting the engine..." if not SESSION.running else "Relighting...")
            self.client: ServiceClient = engine_client()
            self.job: str = check_job(self.client.relight(self.plan.body))["job"]
        except (PlanError, ServiceError) as exc:
            return str(exc)
        for warning in self.plan.warnings:
            self.report({"WARNING"}, warning)
        context.window_manager.progress_begin(0, len(self.plan.plate_frames))
        set_status(f"Relighting {len(self.plan.plate_frames)} frame(s)... (Esc cancels)")
        return None

    def _poll(self, context: bpy.types.Context) -> set[str] | None:
        """Follow the job; returns the operator's result once it has ended."""
        try:
            state = check_job(self.client.job(self.job))
        except ServiceError as exc:
            context.window_manager.progress_end()
            return _report_error(self, str(exc))
        context.window_manager.progress_update(state["done"])
        if state["state"] == "cancelled":
            context.window_manager.progress_end()
            set_status(f"Cancelled after {state['done']} frame(s)")
            self.report({"WARNING"}, f"Relight cancelled; {state['done']} finished frame(s) kept on disk")
            return {"CANCELLED"}
        if state["state"] != "done":
            return None
        context.window_manager.progress_end()
        paths = state["paths"]
        plan = self.plan
        show_plate(context.scene, paths[0], plan.scene_frames[0], plan.plate_frames[0], len(paths))
        set_status(f"Relit {len(paths)} frame(s)")
        self.report({"INFO"}, f"Relit {len(paths)} frame(s) into {os.path.dirname(paths[0])}")
        return {"FINISHED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking form (scripts, headless): the same job, followed until it ends."""
        error = self._start(context)
        if error:
            return _report_error(self, error)
        while True:
            result = self._poll(context)
            if result is not None:
                return result
            time.sleep(Config.modal_poll_seconds)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        error = self._start(context)
        if error:
            return _report_error(self, error)
        self.timer = context.window_manager.event_timer_add(Config.modal_poll_seconds, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            try:
                self.client.cancel(self.job)
            except ServiceError as exc:
                self.report({"WARNING"}, str(exc))
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        result = self._poll(context)
        if result is None:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self.timer)
        return result


@_labelled
class RELUME_OT_live_relight(bpy.types.Operator):
    bl_idname = Config.live_relight_idname

    def execute(self, context: bpy.types.Context) -> set[str]:
        if LIVE.active:
            LIVE.stop()
            return {"FINISHED"}
        try:
            plan = build_plan(context.scene, context.view_layer, "CURRENT", "live")
            if not SESSION.running:
                engine_client()  # starts it (or explains why it cannot) before live mode begins
        except (PlanError, ServiceError) as exc:
            return _report_error(self, str(exc))
        for warning in plan.warnings:
            self.report({"WARNING"}, warning)
        LIVE.start(context.scene)
        return {"FINISHED"}


@_labelled
class RELUME_OT_export_lights(bpy.types.Operator, ExportHelper):
    bl_idname = Config.export_lights_idname
    filename_ext = ".yaml"
    filter_glob: StringProperty(default="*.yaml;*.yml", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        if scene.relume.subject is None:
            return _report_error(self, pick_subject)
        path = bpy.path.abspath(self.filepath)
        try:
            conversion = convert_scene(scene, context.view_layer, os.path.dirname(path))
        except UnsupportedScene as exc:
            return _report_error(self, "Unsupported lighting: " + "; ".join(exc.problems))
        text = lights_yaml(conversion.lights, f"Relume lights from Blender scene '{scene.name}', subject "
                                              f"'{scene.relume.subject.name}' (engine frame: Y up, subject looking +Z)")
        temporary = f"{path}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, path)
        except OSError as exc:
            return _report_error(self, f"{path}: cannot write ({exc.strerror or exc})")
        for warning in conversion.warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, f"Wrote {len(conversion.lights)} light(s) to {path}")
        return {"FINISHED"}


@_labelled
class RELUME_OT_start_engine(bpy.types.Operator):
    bl_idname = Config.start_engine_idname

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            health = engine_client(start=True).health()
        except ServiceError as exc:
            return _report_error(self, str(exc))
        set_status(f"Engine running (pid {health['pid']}, {health['device']})")
        return {"FINISHED"}


@_labelled
class RELUME_OT_stop_engine(bpy.types.Operator):
    bl_idname = Config.stop_engine_idname

    def execute(self, context: bpy.types.Context) -> set[str]:
        LIVE.stop()
        SESSION.stop()
        set_status("Engine stopped")
        return {"FINISHED"}


CLASSES = (RELUME_OT_relight_plate, RELUME_OT_live_relight, RELUME_OT_export_lights,
           RELUME_OT_start_engine, RELUME_OT_stop_engine)

"""The Relume tab of the 3D view sidebar: capture, subject, exposure, frames, output, actions, status; and
its Performer sub-panel: import a track as a rig, reenact and relight it, export its keys."""

import bpy

from ...addon_config import Config
from ..engine_session import SESSION
from ..live import LIVE
from ..status import status
from ..ui_strings import buttons, panel_label


class _Sidebar:
    """Where Relume's panels live: the 3D view's sidebar, Relume tab."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = Config.panel_category


class RELUME_PT_main(_Sidebar, bpy.types.Panel):
    bl_idname = "RELUME_PT_main"
    bl_label = panel_label

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.relume
        layout.use_property_split = True
        layout.use_property_decorate = False

        column = layout.column()
        column.prop(settings, "capture_folder")
        column.prop(settings, "subject")
        column.prop(settings, "exposure")
        column.prop(settings, "use_world")

        column = layout.column()
        column.prop(settings, "frames")
        column.prop(settings, "frame_offset")
        column.prop(settings, "output_folder")
        column.prop(settings, "display")
        if settings.display == "PLANE":
            column.prop(settings, "plate_distance")
        column.prop(settings, "method")

        column = layout.column(align=True)
        column.scale_y = 1.4
        column.operator(Config.relight_plate_idname, text=buttons[Config.relight_plate_idname].label,
                        icon="RENDER_STILL")
        column.operator(Config.live_relight_idname, icon="PAUSE" if LIVE.active else "PLAY",
                        text="Stop Live Relight" if LIVE.active else buttons[Config.live_relight_idname].label,
                        depress=LIVE.active)
        layout.operator(Config.export_lights_idname, icon="EXPORT")

        box = layout.box()
        box.label(text=status(), icon="INFO")
        row = box.row()
        if SESSION.running:
            row.label(text=f"Engine pid {SESSION.pid}", icon="CHECKMARK")
            row.operator(Config.stop_engine_idname, text="", icon="CANCEL")
        else:
            row.operator(Config.start_engine_idname, icon="PLAY")


class RELUME_PT_performer(_Sidebar, bpy.types.Panel):
    bl_idname = "RELUME_PT_performer"
    bl_label = "Performer"
    bl_parent_id = RELUME_PT_main.bl_idname

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.relume
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.operator(Config.import_performer_idname, icon="IMPORT")
        column = layout.column()
        column.prop(settings, "performer")
        column.prop(settings, "reenact_model")
        column.prop(settings, "reenact_smoothing")
        column = layout.column(align=True)
        column.scale_y = 1.4
        column.operator(Config.reenact_performer_idname, icon="RENDER_ANIMATION")
        layout.operator(Config.export_track_idname, icon="EXPORT")


CLASSES = (RELUME_PT_main, RELUME_PT_performer)

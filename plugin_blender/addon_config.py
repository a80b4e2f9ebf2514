"""Names shared across the add-on: operator ids, panel category, datablock names, timings."""

from __future__ import annotations


class Config:
    """Constants of the Relume add-on (ids follow Blender's ``category.name`` rule)."""

    panel_category = "Relume"
    relight_plate_idname = "relume.relight_plate"
    live_relight_idname = "relume.live_relight"
    export_lights_idname = "relume.export_lights"
    start_engine_idname = "relume.start_engine"
    stop_engine_idname = "relume.stop_engine"
    import_performer_idname = "relume.import_performer"
    export_track_idname = "relume.export_track"
    reenact_performer_idname = "relume.reenact_performer"

    plate_image_name = "Relume Plate"
    plate_object_name = "Relume Plate"
    plate_material_name = "Relume Plate"

    live_tick_seconds = 0.05  # how often the live timer looks for edits and results
    modal_poll_seconds = 0.1  # how often Relight Plate asks the engine for job progress

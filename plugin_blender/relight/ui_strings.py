"""Every label and tooltip the Relume UI shows, in one place."""

from __future__ import annotations

from typing import NamedTuple

from ..addon_config import Config


class Button(NamedTuple):
    label: str
    description: str


buttons = {
    Config.relight_plate_idname: Button(
        "Relight Plate",
        "Relight the capture with this scene's lights and world (current frame or the scene range) "
        "and show it on the camera. Esc cancels"),
    Config.live_relight_idname: Button(
        "Live Relight",
        "Relight the current frame again whenever a light, the world or the subject changes"),
    Config.export_lights_idname: Button(
        "Export Lights File",
        "Write the scene's lights as a Relume lights file (engine frame) for `relume relight --lights` on a farm"),
    Config.import_performer_idname: Button(
        "Import Performer",
        "Import a tracked or transferred performance (.track) as the ICT face mesh with the fitted identity, one "
        "shape key per expression and the track keyed on them, with its camera"),
    Config.export_track_idname: Button(
        "Export Track",
        "Write the performer's keyed expressions and head motion over the scene range as a .track file"),
    Config.reenact_performer_idname: Button(
        "Reenact Performer",
        "Synthesise the target's OLAT capture for the performer's keyed expressions with the trained model, "
        "then relight it with this scene's lights and world (current frame or the scene range). Esc cancels"),
    Config.start_engine_idname: Button("Start Engine", "Start the Relume engine service for this Blender session"),
    Config.stop_engine_idname: Button("Stop Engine", "Stop the Relume engine service"),
}



def labelled(cls: type) -> type:
    """Class decorator: an operator's label and tooltip from :data:`buttons`."""
    cls.bl_label, cls.bl_description = buttons[cls.bl_idname]
    return cls


panel_label = "Relume"
pick_subject = "Pick the subject in the Relume panel: an empty where the captured head is"
status_idle = "Ready"
status_engine_stopped = "Engine not running"

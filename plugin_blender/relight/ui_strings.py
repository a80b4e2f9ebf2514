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
    Config.start_engine_idname: Button("Start Engine", "Start the Relume engine service for this Blender session"),
    Config.stop_engine_idname: Button("Stop Engine", "Stop the Relume engine service"),
}

panel_label = "Relume"
pick_subject = "Pick the subject in the Relume panel: an empty where the captured head is"
status_idle = "Ready"
status_engine_stopped = "Engine not running"

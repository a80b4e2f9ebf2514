"""Add-on preferences: where the engine's Python lives, the compute device, automatic start."""

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from .relume_host.engine import EngineLocation, find_engine
from .relume_host.home import config_path

DEVICES = [
    ("CONFIG", "From config.json", "Use the device install.py wrote (auto when absent)"),
    ("auto", "Auto", "CUDA when the engine's torch sees a GPU, else CPU"),
    ("cpu", "CPU", "Always the CPU"),
    ("cuda", "CUDA", "An NVIDIA GPU (the engine refuses to start without one)"),
]


class RelumePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_python: StringProperty(
        name="Engine Python", subtype="FILE_PATH",
        description="Python interpreter of the Relume engine's environment (empty: from install.py's config.json)")
    engine_repo: StringProperty(
        name="Engine Repository", subtype="DIR_PATH",
        description="Relume repository put on the engine's PYTHONPATH (empty: from config.json, or installed)")
    device: EnumProperty(name="Device", items=DEVICES, default="CONFIG")
    auto_start: BoolProperty(
        name="Start Engine Automatically", default=True,
        description="Start the engine when an operator needs it; off: only the Start Engine button starts it")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "engine_python")
        layout.prop(self, "engine_repo")
        row = layout.row()
        row.prop(self, "device")
        row.prop(self, "auto_start")
        layout.label(text=f"Defaults come from {config_path()}", icon="INFO")


def preferences() -> RelumePreferences | None:
    addon = bpy.context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


SETTING = "Preferences > Add-ons > Relume"     # where an artist sets the engine, for error messages


def engine_location() -> EngineLocation:
    """The engine to run, from these preferences, then $RELUME_ENGINE_PYTHON and config.json (raises EngineNotFound)."""
    prefs = preferences()
    if prefs is None:
        return find_engine(setting=SETTING)
    return find_engine(bpy.path.abspath(prefs.engine_python) if prefs.engine_python else "",
                       bpy.path.abspath(prefs.engine_repo) if prefs.engine_repo else "",
                       "" if prefs.device == "CONFIG" else prefs.device, setting=SETTING)


def auto_start() -> bool:
    prefs = preferences()
    return True if prefs is None else prefs.auto_start


CLASSES = (RelumePreferences,)

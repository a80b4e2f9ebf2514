"""Relume for Blender: relight light-stage plates, and reenacted performers, with the scene's lights and world.

A Blender 4.2+ extension (``blender_manifest.toml``). It never imports the engine: it starts the
engine's local service (``python -m engine serve``) from the Python set in the preferences or in
``~/.relume/config.json`` and talks to it over HTTP on 127.0.0.1. Layout (one feature folder,
host-independent core apart):

- ``core/``: plain Python — scene-to-lights conversion, lights file writer, engine location, HTTP client.
- ``relight/``: settings, scene reader, operators, engine tasks, live mode, plate display, prechecks, UI
  strings, panels.
- ``performer/``: the ICT face rig from a track (shape keys, keys), Export Track, Reenact Performer.
"""

import bpy

from . import preferences
from .performer import operators as performer_operators
from .relight import live, operators, settings
from .relight.engine_session import SESSION
from .relight.interface import panels

bl_info = {  # legacy add-on entry: Blender 4.2+ reads blender_manifest.toml instead
    "name": "Relume",
    "author": "Relume",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "3D View > Sidebar > Relume",
    "description": "Relight light-stage plates with the scene's lights and world HDRI",
    "category": "Lighting",
}

CLASSES = (preferences.CLASSES + settings.CLASSES + operators.CLASSES + performer_operators.CLASSES
           + panels.CLASSES)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    settings.register_properties()
    live.register()


def unregister() -> None:
    live.unregister()
    SESSION.stop()
    settings.unregister_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

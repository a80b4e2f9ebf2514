"""Checks an operator runs before it asks the engine for anything (nothing in the scene changes on failure)."""

from __future__ import annotations

import os
from typing import NamedTuple

import bpy

from .ui_strings import pick_subject


class ActionStatus(NamedTuple):
    success: bool
    message: str = ""


def relight_checks(scene: bpy.types.Scene) -> ActionStatus:
    """Capture folder, subject and (for the chosen display) camera are usable."""
    settings = scene.relume
    if not settings.capture_folder:
        return ActionStatus(False, "Set the capture folder in the Relume panel")
    folder = bpy.path.abspath(settings.capture_folder)
    capture_file = os.path.join(folder, "capture.yaml")
    if not os.path.isfile(capture_file):
        return ActionStatus(False, f"{capture_file}: capture not found (a capture is a folder with capture.yaml)")
    if settings.subject is None or settings.subject.name not in scene.objects:
        return ActionStatus(False, pick_subject)
    if settings.display != "NONE" and scene.camera is None:
        return ActionStatus(False, "The scene has no active camera to show the plate on (or set Display to Image Only)")
    return ActionStatus(True)

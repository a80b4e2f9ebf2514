"""Checks an operator runs before it asks the engine for anything (nothing in the scene changes on failure)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import bpy

from .ui_strings import pick_subject


@dataclass(frozen=True)
class PlateSource:
    """What a relight lights: a capture folder (absolute), the subject it is placed at, and capture frame =
    scene frame + ``frame_offset``. The panel's settings, or a performer's reenacted capture and stage."""

    capture_folder: str
    subject: bpy.types.Object | None
    frame_offset: int = 0

    @classmethod
    def from_settings(cls, scene: bpy.types.Scene) -> PlateSource:
        settings = scene.relume
        folder = bpy.path.abspath(settings.capture_folder) if settings.capture_folder else ""
        return cls(folder, settings.subject, settings.frame_offset)


class ActionStatus(NamedTuple):
    success: bool
    message: str = ""


def relight_checks(scene: bpy.types.Scene, source: PlateSource) -> ActionStatus:
    """Capture folder, subject and (for the chosen display) camera are usable."""
    if not source.capture_folder:
        return ActionStatus(False, "Set the capture folder in the Relume panel")
    capture_file = os.path.join(source.capture_folder, "capture.yaml")
    if not os.path.isfile(capture_file):
        return ActionStatus(False, f"{capture_file}: capture not found (a capture is a folder with capture.yaml)")
    if source.subject is None or source.subject.name not in scene.objects:
        return ActionStatus(False, pick_subject)
    if scene.relume.display != "NONE" and scene.camera is None:
        return ActionStatus(False, "The scene has no active camera to show the plate on (or set Display to Image Only)")
    return ActionStatus(True)


class CheckedOperator:
    """Mixin for operators (before ``bpy.types.Operator``): ``poll`` greys the button out and says why
    (``poll_message_set``: the tooltip, and the RuntimeError a script gets) whenever :meth:`unusable`
    returns a message. Keep :meth:`unusable` cheap: Blender calls poll on every redraw."""

    @classmethod
    def unusable(cls, context: bpy.types.Context) -> str | None:
        return None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        message = cls.unusable(context)
        if message:
            cls.poll_message_set(message)
        return message is None


def plate_problem(context: bpy.types.Context) -> str | None:
    """Why the panel's capture cannot be relit now (None when it can)."""
    status = relight_checks(context.scene, PlateSource.from_settings(context.scene))
    return None if status.success else status.message

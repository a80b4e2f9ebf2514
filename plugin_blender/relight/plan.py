"""What a relight asks the engine for: the request body built from the scene, and where the plate goes."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field

import bpy

from ..core.scene_to_lights import Conversion, UnsupportedScene
from .prechecks import PlateSource, relight_checks
from .scene_reader import convert_scene


class PlanError(Exception):
    """The scene cannot be relit as set up; the message is for the artist."""


@dataclass(frozen=True)
class RelightPlan:
    """One relight request: the service body, the scene frames it covers and conversion warnings."""

    body: dict
    scene_frames: list[int]
    warnings: list[str] = field(default_factory=list)

    @property
    def plate_frames(self) -> list[int]:
        return self.body["frames"]


def output_folder(scene: bpy.types.Scene) -> str:
    """Absolute output folder; a path relative to an unsaved .blend goes under the system's temporary folder
    (not Blender's session folder, which is deleted on exit)."""
    folder = scene.relume.output_folder or "//relume/"
    if folder.startswith("//") and not bpy.data.filepath:
        return os.path.join(tempfile.gettempdir(), folder[2:])
    return bpy.path.abspath(folder)


def with_project(body: dict) -> dict:
    """``body`` plus ``project``, the saved .blend's folder: the engine resolves relative paths against it
    (an unsaved file has none, and relative paths are refused)."""
    return {**body, "project": os.path.dirname(bpy.data.filepath)} if bpy.data.filepath else body


def file_name(name: str) -> str:
    """``name`` (a scene's, an object's) as safe for a file name: runs of other characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def output_pattern(scene: bpy.types.Scene, kind: str) -> str:
    """``<output>/<scene>_<kind>.####.exr``."""
    return os.path.join(output_folder(scene), f"{file_name(scene.name)}_{kind}.####.exr")


def scene_frames(scene: bpy.types.Scene, frames: str) -> list[int]:
    """The scene frames ``frames`` (CURRENT or RANGE) names."""
    return [scene.frame_current] if frames == "CURRENT" else list(range(scene.frame_start, scene.frame_end + 1))


def convert_lighting(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer,
                     subject: bpy.types.Object | None = None, write: bool = True) -> Conversion:
    """The scene's lights relative to ``subject`` (default: the panel's), or PlanError saying what is unsupported;
    ``write=False`` only checks (no constant-world image is written)."""
    try:
        return convert_scene(scene, view_layer, output_folder(scene), subject, write)
    except UnsupportedScene as exc:
        raise PlanError("Unsupported lighting: " + "; ".join(exc.problems)) from None


def build_plan(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, frames: str, kind: str,
               source: PlateSource | None = None) -> RelightPlan:
    """Check the settings and convert the scene; ``frames`` is CURRENT or RANGE; ``source`` defaults to the
    panel's capture and subject. Raises PlanError."""
    source = PlateSource.from_settings(scene) if source is None else source
    status = relight_checks(scene, source)
    if not status.success:
        raise PlanError(status.message)
    settings = scene.relume
    shown = scene_frames(scene, frames)
    lights, warnings = _lights_per_frame(scene, view_layer, source.subject, shown)
    first = lights[shown[0]]
    body = with_project({"capture": source.capture_folder, "lights": first,
                         "exposure": settings.exposure, "method": settings.method,
                         "frames": [f + source.frame_offset for f in shown], "out": output_pattern(scene, kind)})
    animated = {frame: entries for frame, entries in lights.items() if entries != first}
    if animated:
        body["frame_lights"] = {str(f + source.frame_offset): entries for f, entries in animated.items()}
    return RelightPlan(body, shown, warnings)


def _lights_per_frame(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, subject: bpy.types.Object | None,
                      frames: list[int]) -> tuple[dict[int, list[dict]], list[str]]:
    """The scene's lights at each of ``frames`` (keyed lights, world and subject follow the timeline) and the
    conversion warnings, each once. The scene is moved only to frames other than its current one, and back."""
    current, lights, warnings = scene.frame_current, {}, []
    try:
        for frame in frames:
            if frame != scene.frame_current:
                scene.frame_set(frame)
            conversion = convert_lighting(scene, view_layer, subject)
            lights[frame] = conversion.lights
            warnings.extend(w for w in conversion.warnings if w not in warnings)
    finally:
        if scene.frame_current != current:
            scene.frame_set(current)
    return lights, warnings

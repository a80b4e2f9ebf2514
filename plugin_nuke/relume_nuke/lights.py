"""Nuke lights -> entries of the engine's lights file.

Frames. Nuke's world is Y up and right-handed like the engine frame; the subject sits at the
gizmo's ``subject`` position (default the origin) looking +Z (toward a camera on +Z), and
``scene_scale`` says how many metres one Nuke unit is. A light's ``world_matrix`` knob is its
4x4 world transform, 16 floats row-major: translation in elements 3, 7, 11, rotation columns
(0, 4, 8), (1, 5, 9), (2, 6, 10). Nuke lights shine down their local -Z axis.

Units (Nuke's light intensity has none; these rules make Nuke and the engine agree):
* directional (DirectLight, Light with light_type directional): ``rgb = color * intensity`` is the
  irradiance on the subject, in the capture's units. A white directional light of intensity 1
  aligned with a stage light whose calibrated ``rgb`` is 1 reproduces that light's OLAT image.
  Its direction (subject->light) is the light's +Z axis.
* point and spot: Nuke scales ``color * intensity`` by its ``falloff_type``: 1 (No Falloff),
  1/d (Linear), 1/d^2 (Quadratic), 1/d^3 (Cubic), d in Nuke units. The engine reduces a near
  light to its direction and inverse-square irradiance at the subject's origin, so the radiant
  intensity written is ``rgb = color * intensity * falloff(d) * d_m^2`` (d_m = d * scene_scale in
  metres): the irradiance at the subject is exactly Nuke's. Quadratic is the physical case
  (rgb = color * intensity * scene_scale^2 W/sr, independent of distance); the others are matched
  at the subject's origin only (a warning says so) and, because the weights are recomputed when a
  light moves, follow Nuke's falloff as the light is moved.
* spot: ``cone_angle`` is taken as the full cone angle (Nuke allows 0-180 degrees);
  ``cone_penumbra_angle`` widens (positive) or narrows (negative) the cone's edge and becomes the
  engine's smoothstep ``blend``; ``cone_falloff`` has no engine equivalent and is ignored (warned).
* environment (Environment node, its map input a Read of a lat-long HDRI): ``strength =
  intensity * mean(color)`` (a tint is dropped, warned); only its rotation about Y is used. Nuke's
  lat-long centre is taken to face -Z (the default camera's view), the engine's (Blender's) +X:
  ``rotate_deg = -90 - yaw``. This offset follows Foundry's camera convention and was not checked
  inside Nuke.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import nuke
from relume_nuke.host import os_path

KINDS = ("point", "directional", "spot", "environment")
NUKE_LATLONG_ROTATION_DEG = -90.0  # engine rotate_deg of an unrotated Nuke Environment light
FALLOFF_EXPONENTS = {"nofalloff": 0, "none": 0, "linear": 1, "quadratic": 2, "cubic": 3}
# Knobs of a light whose change alters the lighting (anything else, e.g. xpos, is ignored).
LIGHTING_KNOBS = frozenset({
    "translate", "rotate", "scaling", "uniform_scale", "skew", "pivot", "xform_order", "rot_order",
    "useMatrix", "matrix", "world_matrix", "color", "intensity", "light_type", "falloff_type", "cone_angle",
    "cone_penumbra_angle", "cone_falloff", "disable", "inputChange", "file",
})
_LIGHT_CLASS = re.compile(r"(Light|Point|PointLight|DirectLight|Spotlight|SpotLight|Environment)\d*")


@dataclass(frozen=True)
class Placement:
    """Where the subject is in Nuke's world: ``subject`` (Nuke units), ``scale`` metres per unit."""

    subject: tuple = (0.0, 0.0, 0.0)
    scale: float = 1.0


@dataclass(frozen=True)
class NukeLight:
    """The knob values of one Nuke light that the conversion uses (see the module docstring)."""

    name: str
    kind: str
    matrix: tuple
    color: tuple = (1.0, 1.0, 1.0)
    intensity: float = 1.0
    falloff: str = "nofalloff"
    cone_angle: float = 40.0
    penumbra: float = 0.0
    cone_falloff: float = 0.0
    hdri: str | None = None


def _normalised(vector: tuple) -> tuple:
    length = math.sqrt(sum(v * v for v in vector))
    if length < 1e-12:
        raise ValueError("zero-length axis in world_matrix (scale 0?)")
    return tuple(v / length for v in vector)


def translation(matrix: tuple) -> tuple:
    return (matrix[3], matrix[7], matrix[11])


def local_z_axis(matrix: tuple) -> tuple:
    """The light's local +Z axis in world space, unit length (Nuke lights shine along -Z)."""
    return _normalised((matrix[2], matrix[6], matrix[10]))


def yaw_degrees(matrix: tuple) -> tuple:
    """(rotation about +Y in degrees, tilt in degrees of the local Y axis away from world +Y)."""
    up = _normalised((matrix[1], matrix[5], matrix[9]))
    tilt = math.degrees(math.acos(max(-1.0, min(1.0, up[1]))))
    return math.degrees(math.atan2(matrix[2], matrix[0])), tilt


def falloff_factor(falloff: str, distance: float) -> float:
    """Nuke's distance attenuation for ``falloff_type`` at ``distance`` Nuke units."""
    return distance ** -FALLOFF_EXPONENTS[falloff]


def spot_cone(cone_angle: float, penumbra: float) -> tuple:
    """(engine cone_deg, blend) for Nuke's cone angle (full, degrees) and penumbra angle (degrees)."""
    half = max(0.0, min(cone_angle, 180.0)) / 2.0
    outer = min(half + max(penumbra, 0.0), 90.0)
    inner = max(half + min(penumbra, 0.0), 0.0)
    cos_outer = math.cos(math.radians(outer))
    if outer <= 0.0 or cos_outer >= 1.0:
        return 2.0 * outer, 0.0
    blend = (math.cos(math.radians(inner)) - cos_outer) / (1.0 - cos_outer)
    return 2.0 * outer, max(0.0, min(1.0, blend))


def _scaled(color: tuple, factor: float) -> list:
    return [float(c) * factor for c in color]


def convert(light: NukeLight, placement: Placement) -> tuple:
    """(lights-file entry or None, warnings) for one light; see the module docstring for units."""
    warnings = []
    if light.intensity < 0 or min(light.color) < 0:
        return None, [f"{light.name}: negative colour or intensity skipped"]
    if light.kind == "directional":
        return {"type": "sun", "direction": list(local_z_axis(light.matrix)),
                "rgb": _scaled(light.color, light.intensity), "angle_deg": 0.0}, warnings
    if light.kind == "environment":
        if not light.hdri:
            return None, [f"{light.name}: Environment map input must be a Read of a lat-long HDRI; skipped"]
        yaw, tilt = yaw_degrees(light.matrix)
        if tilt > 0.01:
            warnings.append(f"{light.name}: only the rotation about Y is used ({tilt:.1f} deg of tilt ignored)")
        if max(light.color) - min(light.color) > 1e-6 * max(max(light.color), 1e-12):
            warnings.append(f"{light.name}: environment tint not supported; strength uses the mean colour")
        strength = light.intensity * sum(light.color) / 3.0
        return {"type": "environment", "hdri": light.hdri, "rotate_deg": NUKE_LATLONG_ROTATION_DEG - yaw,
                "strength": strength}, warnings
    if light.falloff not in FALLOFF_EXPONENTS:
        return None, [f"{light.name}: unknown falloff_type {light.falloff!r}; skipped"]
    offset = [p - s for p, s in zip(translation(light.matrix), placement.subject)]
    distance = math.sqrt(sum(v * v for v in offset))
    if distance < 1e-9:
        return None, [f"{light.name}: light sits on the subject position; skipped"]
    if FALLOFF_EXPONENTS[light.falloff] != 2:
        warnings.append(f"{light.name}: falloff '{light.falloff}' matched at the subject only (use Quadratic "
                        "for physical inverse-square light)")
    factor = light.intensity * falloff_factor(light.falloff, distance) * (distance * placement.scale) ** 2
    entry = {"type": light.kind, "position": [v * placement.scale for v in offset], "rgb": _scaled(light.color, factor)}
    if light.kind == "spot":
        cone_deg, blend = spot_cone(light.cone_angle, light.penumbra)
        entry.update(direction=[-v for v in local_z_axis(light.matrix)], cone_deg=cone_deg, blend=blend)
        if light.cone_falloff:
            warnings.append(f"{light.name}: cone_falloff has no engine equivalent; ignored")
    return entry, warnings


# --- reading Nuke nodes ---------------------------------------------------------------------


def knob_floats(node, name: str, size: int, default: float, frame: float | None = None) -> tuple:
    """A knob's values as ``size`` floats at ``frame`` (default the current frame; keys and expressions
    evaluated there, Array_Knob.getValueAt); a single-valued colour knob holds one number."""
    knob = node.knob(name)
    if knob is None:
        return (default,) * size
    value = knob.getValue() if frame is None else knob.getValueAt(frame)
    if isinstance(value, (int, float)):
        return (float(value),) * size
    return tuple(float(v) for v in list(value)[:size])


def _text(node, name: str, default: str) -> str:
    knob = node.knob(name)
    return default if knob is None else str(knob.value())


def light_kind(node) -> str | None:
    """point / directional / spot / environment for a classic-3D light node, else None."""
    if _LIGHT_CLASS.fullmatch(node.Class()) is None:
        return None
    if node.knob("light_type") is not None:
        value = str(node["light_type"].value()).lower()
        return "directional" if value.startswith("dir") else ("spot" if value.startswith("spot") else "point")
    name = node.Class().lower()
    for prefix, kind in (("direct", "directional"), ("spot", "spot"), ("environment", "environment")):
        if name.startswith(prefix):
            return kind
    return "point"


def is_disabled(node, frame: float | None = None) -> bool:
    knob = node.knob("disable")
    return bool(knob is not None and (knob.value() if frame is None else knob.getValueAt(frame)))


def read_file_path(node) -> str | None:
    """The file a Read node reads at the current frame (expressions and #### expanded), else None."""
    if node is None or node.Class() != "Read" or is_disabled(node):
        return None
    return nuke.filename(node, nuke.REPLACE) or None


def environment_map(node) -> str | None:
    """The lat-long HDRI file of an Environment light (the first of its inputs that is a Read), as the
    engine opens it: through the site's filename filters."""
    for index in range(node.inputs()):
        path = read_file_path(node.input(index))
        if path:
            return os_path(path)
    return None


def read_light(node, kind: str, frame: float | None = None) -> NukeLight:
    """The conversion's view of a light node's knobs at ``frame`` (default the current frame)."""
    if node.knob("world_matrix") is None:
        raise ValueError(f"{node.name()}: no world_matrix knob (only classic 3D lights are supported)")
    matrix = knob_floats(node, "world_matrix", 16, 0.0, frame)
    falloff = re.sub(r"[\s_]+", "", _text(node, "falloff_type", "No Falloff")).lower()
    return NukeLight(name=node.name(), kind=kind, matrix=matrix, color=knob_floats(node, "color", 3, 1.0, frame),
                     intensity=knob_floats(node, "intensity", 1, 1.0, frame)[0], falloff=falloff,
                     cone_angle=knob_floats(node, "cone_angle", 1, 40.0, frame)[0],
                     penumbra=knob_floats(node, "cone_penumbra_angle", 1, 0.0, frame)[0],
                     cone_falloff=knob_floats(node, "cone_falloff", 1, 0.0, frame)[0],
                     hdri=environment_map(node) if kind == "environment" else None)


def upstream(start) -> tuple:
    """(light nodes, {full name: node} of every node visited) upstream of ``start`` (a Scene, a light, or
    anything passing a 3D scene): lights in input order, each once. Above a light only its parents
    (axes) and maps are visited, not collected: they move or feed it but are not in the scene."""
    found, seen, stack = [], {}, [(start, True)]
    while stack:
        node, collect = stack.pop()
        if node is None or node.fullName() in seen:
            continue
        seen[node.fullName()] = node
        is_light = light_kind(node) is not None
        if collect and is_light:
            found.append(node)
        stack.extend((node.input(i), collect and not is_light) for i in reversed(range(node.inputs())))
    return found, seen


def upstream_lights(start) -> list:
    return upstream(start)[0]


def scene_entries(start, placement: Placement, frame: float | None = None) -> tuple:
    """(lights-file entries, warnings) for the lights upstream of ``start`` enabled at ``frame``."""
    entries, warnings = [], []
    for node in upstream_lights(start):
        if is_disabled(node, frame):
            continue
        try:
            entry, notes = convert(read_light(node, light_kind(node), frame), placement)
        except ValueError as exc:
            entry, notes = None, [str(exc)]
        warnings.extend(notes)
        if entry is not None:
            entries.append(entry)
    return entries, warnings


def environment_entry(image_node, rotate_deg: float, strength: float) -> tuple:
    """(entry or None, warnings) for the gizmo's environment-image input, engine convention:
    radiance from direction d is strength * L0(R_y(rotate_deg) d), as ``relume relight --env --rotate``."""
    if image_node is None:
        return None, []
    path = read_file_path(image_node)
    if not path:
        return None, [f"{image_node.name()}: the env input must be a Read of a lat-long HDRI file; ignored"]
    return {"type": "environment", "hdri": os_path(path), "rotate_deg": float(rotate_deg),
            "strength": float(strength)}, []

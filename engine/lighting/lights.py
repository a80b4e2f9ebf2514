"""Lights files: scene lights in the engine frame, each reduced to directional samples.

A lights file is YAML: a list of lights (or a mapping with key ``lights``); they add up.
Units: sun ``rgb`` is irradiance (W/m^2); point and spot ``rgb`` is radiant intensity (W/sr);
area ``rgb`` is radiance (W/m^2/sr); environment radiance is the HDRI's values times strength.
Positions are metres from the subject's origin, engine frame (Y up, subject looking +Z).

Near lights (point, spot, area) are reduced to what arrives at the subject's origin: their
direction from the origin and inverse-square falloff at the origin. Across a head (radius about
0.1 m) a light at distance r really varies by (1 +- 0.1/r)^-2 in irradiance and by up to
atan(0.1/r) in direction: +-20 % and 6 degrees at 1 m, +-4 % and 1.1 degrees at 5 m. A light
stage's OLAT images are themselves taken with lights 1-2 m away, so closer lights are not
representable by any weighting of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from engine.errors import InputError
from engine.io.yaml_file import load_yaml
from engine.lighting.hdri import DirectionalSamples, environment_samples, load_hdri
from engine.lighting.sphere import cone_directions, disc_points, orthonormal_basis
from engine.stage.capture import unit_vectors

SOFT_LIGHT_SAMPLES = 64  # directions used for a light with angular extent (sun angle, radius)
AREA_SAMPLES = 256  # points used over an area light's surface


def _vector(data: dict, key: str, where: str, default: list[float] | None = None) -> np.ndarray:
    value = data.get(key, default)
    if value is None:
        raise InputError(where, f"missing '{key}'")
    try:
        vector = np.asarray(value, dtype=np.float64).reshape(3)
    except (TypeError, ValueError):
        raise InputError(where, f"'{key}' must be three numbers, got {value!r}") from None
    if not np.all(np.isfinite(vector)):
        raise InputError(where, f"'{key}' must be finite, got {value!r}")
    return vector


def _rgb(data: dict, where: str) -> np.ndarray:
    """The light's ``rgb``: three numbers, or one for grey."""
    if isinstance(data.get("rgb"), (int, float)):
        data = {**data, "rgb": [data["rgb"]] * 3}
    rgb = _vector(data, "rgb", where)
    if np.any(rgb < 0):
        raise InputError(where, f"'rgb' must not be negative, got {rgb.tolist()}")
    return rgb


def _direction(data: dict, where: str) -> np.ndarray:
    """The unit vector of the entry's ``direction``."""
    return unit_vectors(_vector(data, "direction", where), where, "direction")[0]


def _number(data: dict, key: str, where: str, default: float, low: float = -np.inf, high: float = np.inf) -> float:
    try:
        value = float(data.get(key, default))
    except (TypeError, ValueError):
        raise InputError(where, f"'{key}' must be a number, got {data.get(key)!r}") from None
    if not np.isfinite(value) or not (low <= value <= high):
        bounds = "finite" if (low, high) == (-np.inf, np.inf) else f"in [{low}, {high}]"
        raise InputError(where, f"'{key}' must be {bounds}, got {value}")
    return value


def _distance_and_direction(position: np.ndarray, where: str) -> tuple[float, np.ndarray]:
    distance = float(np.linalg.norm(position))
    if distance < 1e-6:
        raise InputError(where, "light sits at the subject's origin: no direction")
    return distance, position / distance


@dataclass(frozen=True)
class EnvironmentLight:
    """Lat-long HDRI: radiance from d is strength * L0(R_y(rotate_deg) d)."""

    hdri: Path
    rotate_deg: float = 0.0
    strength: float = 1.0
    TYPE: ClassVar[str] = "environment"

    @classmethod
    def from_dict(cls, data: dict, where: str, base: Path) -> EnvironmentLight:
        if "hdri" not in data:
            raise InputError(where, "missing 'hdri'")
        hdri = Path(str(data["hdri"])).expanduser()
        if not hdri.is_absolute():  # beside the lights file, else from the working folder
            hdri = base / hdri if (base / hdri).is_file() or not hdri.is_file() else hdri.resolve()
        return cls(hdri, _number(data, "rotate_deg", where, 0.0), _number(data, "strength", where, 1.0, 0.0))

    def to_dict(self) -> dict:
        return {"type": self.TYPE, "hdri": str(self.hdri), "rotate_deg": self.rotate_deg, "strength": self.strength}

    def samples(self) -> DirectionalSamples:
        return environment_samples(load_hdri(self.hdri), self.rotate_deg, self.strength)


@dataclass(frozen=True)
class SunLight:
    """Distant light: ``direction`` subject->sun, ``rgb`` irradiance, ``angle_deg`` its angular diameter."""

    direction: np.ndarray
    rgb: np.ndarray
    angle_deg: float = 0.0
    TYPE: ClassVar[str] = "sun"

    @classmethod
    def from_dict(cls, data: dict, where: str, base: Path) -> SunLight:
        return cls(_direction(data, where), _rgb(data, where), _number(data, "angle_deg", where, 0.0, 0.0, 180.0))

    def to_dict(self) -> dict:
        return {"type": self.TYPE, "direction": self.direction.tolist(), "rgb": self.rgb.tolist(),
                "angle_deg": self.angle_deg}

    def samples(self) -> DirectionalSamples:
        if self.angle_deg <= 0.0:
            return DirectionalSamples(self.direction[None], self.rgb[None])
        directions = cone_directions(self.direction, np.deg2rad(self.angle_deg) / 2, SOFT_LIGHT_SAMPLES)
        return DirectionalSamples(directions, np.tile(self.rgb / SOFT_LIGHT_SAMPLES, (SOFT_LIGHT_SAMPLES, 1)))


def _sphere_light_samples(position: np.ndarray, radius: float, irradiance: np.ndarray,
                          where: str) -> DirectionalSamples:
    """A (possibly spherical) light seen from the origin: its cone of directions, total irradiance."""
    distance, direction = _distance_and_direction(position, where)
    if radius <= 0.0:
        return DirectionalSamples(direction[None], irradiance[None])
    half_angle = np.arcsin(min(radius / distance, 1.0))
    directions = cone_directions(direction, half_angle, SOFT_LIGHT_SAMPLES)
    return DirectionalSamples(directions, np.tile(irradiance / SOFT_LIGHT_SAMPLES, (SOFT_LIGHT_SAMPLES, 1)))


@dataclass(frozen=True)
class PointLight:
    """Point (or sphere, radius > 0) light at ``position`` (m), ``rgb`` radiant intensity (W/sr)."""

    position: np.ndarray
    rgb: np.ndarray
    radius: float = 0.0
    where: str = "point"
    TYPE: ClassVar[str] = "point"

    @classmethod
    def from_dict(cls, data: dict, where: str, base: Path) -> PointLight:
        return cls(_vector(data, "position", where), _rgb(data, where), _number(data, "radius", where, 0.0, 0.0), where)

    def to_dict(self) -> dict:
        return {"type": self.TYPE, "position": self.position.tolist(), "rgb": self.rgb.tolist(), "radius": self.radius}

    def samples(self) -> DirectionalSamples:
        distance = float(np.linalg.norm(self.position))
        return _sphere_light_samples(self.position, self.radius, self.rgb / max(distance, 1e-6) ** 2, self.where)


def spot_mask(cos_angle: float, cone_deg: float, blend: float) -> float:
    """Spot cone attenuation: 0 outside the cone, smoothstep over the blend zone (Cycles' model).

    cos_angle: cosine between the spot's aim and the direction from the light to the subject.
    """
    cos_half = np.cos(np.deg2rad(cone_deg) / 2)
    if cos_angle <= cos_half:
        return 0.0
    smooth = (1.0 - cos_half) * blend
    if smooth <= 0.0:
        return 1.0
    t = min((cos_angle - cos_half) / smooth, 1.0)
    return float(t * t * (3.0 - 2.0 * t))


@dataclass(frozen=True)
class SpotLight:
    """Spot at ``position`` aimed along ``direction`` (light->scene); ``rgb`` W/sr on its axis."""

    position: np.ndarray
    direction: np.ndarray
    rgb: np.ndarray
    cone_deg: float = 45.0
    blend: float = 0.15
    radius: float = 0.0
    where: str = "spot"
    TYPE: ClassVar[str] = "spot"

    @classmethod
    def from_dict(cls, data: dict, where: str, base: Path) -> SpotLight:
        return cls(_vector(data, "position", where), _direction(data, where), _rgb(data, where),
                   _number(data, "cone_deg", where, 45.0, 0.0, 180.0), _number(data, "blend", where, 0.15, 0.0, 1.0),
                   _number(data, "radius", where, 0.0, 0.0), where)

    def to_dict(self) -> dict:
        return {"type": self.TYPE, "position": self.position.tolist(), "direction": self.direction.tolist(),
                "rgb": self.rgb.tolist(), "cone_deg": self.cone_deg, "blend": self.blend, "radius": self.radius}

    def samples(self) -> DirectionalSamples:
        distance, to_light = _distance_and_direction(self.position, self.where)
        mask = spot_mask(float(np.dot(self.direction, -to_light)), self.cone_deg, self.blend)
        return _sphere_light_samples(self.position, self.radius, self.rgb * mask / distance**2, self.where)


@dataclass(frozen=True)
class AreaLight:
    """One-sided area light facing ``direction``; ``rgb`` radiance; ``size`` (sx, sy) m along
    (right, ``up``); shape rectangle or ellipse (sx, sy are then the diameters)."""

    position: np.ndarray
    direction: np.ndarray
    up: np.ndarray
    size: tuple[float, float]
    rgb: np.ndarray
    shape: str = "rectangle"
    where: str = "area"
    TYPE: ClassVar[str] = "area"
    SHAPES: ClassVar[tuple[str, ...]] = ("rectangle", "ellipse")

    @classmethod
    def from_dict(cls, data: dict, where: str, base: Path) -> AreaLight:
        size = data.get("size", [1.0, 1.0])
        try:
            size = (float(size), float(size)) if isinstance(size, (int, float)) else tuple(float(s) for s in size)
        except (TypeError, ValueError):
            size = ()  # reported below
        shape = str(data.get("shape", "rectangle")).lower()
        if len(size) != 2 or min(size) <= 0:
            raise InputError(where, f"'size' must be one or two positive numbers, got {data.get('size')!r}")
        if shape not in cls.SHAPES:
            raise InputError(where, f"'shape' must be rectangle or ellipse, got {shape!r}")
        return cls(_vector(data, "position", where), _direction(data, where),
                   _vector(data, "up", where, [0.0, 1.0, 0.0]), size, _rgb(data, where), shape, where)

    def to_dict(self) -> dict:
        return {"type": self.TYPE, "position": self.position.tolist(), "direction": self.direction.tolist(),
                "up": self.up.tolist(), "size": list(self.size), "rgb": self.rgb.tolist(), "shape": self.shape}

    def samples(self) -> DirectionalSamples:
        normal = self.direction
        up = self.up - np.dot(self.up, normal) * normal
        if np.linalg.norm(up) < 1e-9:
            up = orthonormal_basis(normal)[1]
        up /= np.linalg.norm(up)
        right = np.cross(up, normal)
        if self.shape == "ellipse":
            unit = disc_points(AREA_SAMPLES) * 0.5
            area = np.pi * self.size[0] * self.size[1] / 4
        else:
            side = int(np.sqrt(AREA_SAMPLES))
            grid = (np.arange(side) + 0.5) / side - 0.5
            unit = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
            area = self.size[0] * self.size[1]
        points = self.position + unit[:, :1] * self.size[0] * right + unit[:, 1:] * self.size[1] * up
        distance = np.linalg.norm(points, axis=1)
        if np.any(distance < 1e-6):
            raise InputError(self.where, "area light passes through the subject's origin")
        directions = points / distance[:, None]
        cos_emit = np.clip(-(directions @ normal), 0.0, None)  # emitter faces the origin?
        irradiance = self.rgb[None] * (area / len(points)) * (cos_emit / distance**2)[:, None]
        return DirectionalSamples(directions, irradiance)


Light = EnvironmentLight | SunLight | PointLight | SpotLight | AreaLight
LIGHT_CLASSES: dict[str, type[Light]] = {cls.TYPE: cls for cls in (EnvironmentLight, SunLight, PointLight, SpotLight,
                                                                   AreaLight)}
LIGHT_TYPES = tuple(LIGHT_CLASSES)


def light_from_dict(data: dict, where: str, base: Path) -> Light:
    """Build one light from its lights-file mapping (the class its ``type`` names); relative HDRI paths
    resolve against ``base``."""
    if not isinstance(data, dict) or "type" not in data:
        raise InputError(where, "each light needs a 'type'")
    kind = str(data["type"]).lower()
    if kind not in LIGHT_CLASSES:
        raise InputError(f"{where} ({kind})", f"unknown light type {kind!r} (known: {', '.join(LIGHT_TYPES)})")
    return LIGHT_CLASSES[kind].from_dict(data, f"{where} ({kind})", base)


def lights_from_dicts(entries: list[dict], where: str | Path, base: Path | None = None) -> list[Light]:
    """Lights from parsed lights-file entries; ``where`` names the file in errors."""
    if not isinstance(entries, list) or not entries:
        raise InputError(where, "expected a non-empty list of lights")
    base = base or Path(".")
    return [light_from_dict(entry, f"{where}: light {i}", base) for i, entry in enumerate(entries)]


def frame_lights_from_dicts(mapping: dict, where: str | Path, base: Path | None = None) -> dict[int, list[Light]]:
    """Per-frame lights (animated lighting): frame number (int or its string) -> lights-file entries."""
    if not isinstance(mapping, dict):
        raise InputError(where, "must map frame numbers to lists of lights")
    frames = {}
    for key, entries in mapping.items():
        if not str(key).lstrip("-").isdigit() or not isinstance(entries, list):
            raise InputError(where, f"must map frame numbers to lists of lights, got {key!r}")
        frames[int(key)] = lights_from_dicts(entries, f"{where} {key}", base)
    return frames


@dataclass(frozen=True)
class LightsFile:
    """A lights file: ``lights`` light every frame except those in ``frames`` (frame -> their own lights),
    which is how hosts hand over animated lights."""

    lights: list[Light]
    frames: dict[int, list[Light]]

    def for_frame(self, frame: int) -> list[Light]:
        return self.frames.get(frame, self.lights)


def load_lights_file(path: str | Path) -> LightsFile:
    """Load a YAML lights file: a list, a mapping with key ``lights`` (and optionally ``frames``: frame
    number -> list of lights for that frame), or one light's mapping.

    A relative HDRI path is looked up beside the lights file first, then in the working folder.
    """
    path = Path(path)
    data = load_yaml(path, "lights file not found")
    frames = {}
    if isinstance(data, dict):
        if "type" in data:
            data = [data]
        else:
            frames = frame_lights_from_dicts(data.get("frames", {}), f"{path}: frames", path.parent)
            data = data.get("lights")
    return LightsFile(lights_from_dicts(data, path, path.parent), frames)


def load_lights(path: str | Path) -> list[Light]:
    """The lights of a lights file that light every frame (see :func:`load_lights_file`)."""
    return load_lights_file(path).lights

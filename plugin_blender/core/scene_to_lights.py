"""Blender lights and world, as plain data, to the engine's lights-file entries.

Frames: Blender is Z up. Every position and direction is first taken into the *subject's* frame
(the empty the artist places where the captured head is: its location and rotation, not its
scale), then converted with (x, y, z)_engine = (x_b, z_b, -y_b) (a proper rotation, so cross
products and handedness survive).

Units, as Cycles renders them (measured with Blender 5.0 Cycles on a white Lambertian plate, see
tests/blender/test_blender_extension.py and the add-on's README section):

- SUN: strength S is irradiance, E = S * colour (W/m^2). With Normalize off, S is radiance over
  the sun's disc: E = S * 2 pi (1 - cos(angle / 2)).
- POINT, SPOT: power P (W) gives radiant intensity I = P / (4 pi) * colour (W/sr); with Normalize
  off and radius r > 0, I = P r^2 * colour. The spot cone masks I with
  smoothstep((cos a - cos h) / ((1 - cos h) * blend)), h = spot_size / 2 (the engine's model).
- AREA: power P over area A (object scale included) gives radiance L = P / (pi A) * colour
  (W/m^2/sr); with Normalize off, L = P / pi * colour. One-sided, Lambertian (Spread 180 deg).
- Light Exposure multiplies the power by 2^exposure; light Temperature multiplies the colour.
- World: Background strength S and an Environment Texture on Generated coordinates, optionally
  through a Mapping node rotated about Z by T: {type: environment, rotate_deg: T + subject yaw}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

Vec3 = tuple[float, float, float]
Matrix4 = Sequence[Sequence[float]]  # row-major 4x4, Blender's matrix_world

NEAR_LIGHT_METRES = 1.0  # closer lights get a warning: the engine sees them from the subject's origin
ANGLE_EPS = 1e-4  # radians


class UnsupportedScene(Exception):
    """The scene has lighting the engine cannot reproduce; ``problems`` name each culprit."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class BlenderLight:
    """One Blender light object, read into plain values (radians, metres, watts)."""

    name: str
    kind: str  # SUN, POINT, SPOT, AREA
    matrix: Matrix4
    color: Vec3 = (1.0, 1.0, 1.0)  # light colour times its temperature colour, linear
    energy: float = 10.0  # W, or W/m^2 for SUN
    exposure: float = 0.0  # stops
    normalize: bool = True
    radius: float = 0.0  # POINT, SPOT: shadow_soft_size
    angle: float = 0.0  # SUN: angular diameter
    spot_size: float = math.radians(45.0)  # full cone angle
    spot_blend: float = 0.15
    square_spot: bool = False
    shape: str = "SQUARE"  # AREA: SQUARE, RECTANGLE, DISK, ELLIPSE
    size: float = 0.25
    size_y: float = 0.25
    spread: float = math.pi
    uses_nodes: bool = False


@dataclass(frozen=True)
class BlenderWorld:
    """The world's lighting, read into plain values.

    ``hdri``: absolute path of the lat-long image (Environment Texture, or for a uniform colour the
    constant image the caller writes once the conversion has succeeded); ``uniform``: that colour
    (linear RGB), else None; ``problem``: set when the node set-up is not one the engine reproduces
    (the reader says what it found).
    """

    hdri: str | None = None
    uniform: Vec3 | None = None
    strength: float = 1.0
    mapping_type: str = "POINT"
    location: Vec3 = (0.0, 0.0, 0.0)
    rotation: Vec3 = (0.0, 0.0, 0.0)  # Euler XYZ, radians
    scale: Vec3 = (1.0, 1.0, 1.0)
    problem: str | None = None


@dataclass
class Conversion:
    """Lights-file entries (engine frame) plus notes on approximations the artist should know."""

    lights: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _column(matrix: Matrix4, index: int) -> Vec3:
    return (float(matrix[0][index]), float(matrix[1][index]), float(matrix[2][index]))


def _length(v: Vec3) -> float:
    return math.sqrt(sum(c * c for c in v))


def _unit(v: Vec3) -> Vec3:
    length = _length(v)
    return (v[0] / length, v[1] / length, v[2] / length)


def _dot(a: Vec3, b: Vec3) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _rounded(v: Sequence[float]) -> list[float]:
    return [round(float(c), 9) + 0.0 for c in v]


@dataclass(frozen=True)
class SubjectFrame:
    """The subject's rigid frame in Blender world space: origin and orthonormal axes (scale dropped)."""

    origin: Vec3
    axes: tuple[Vec3, Vec3, Vec3]  # subject's X, Y, Z in world space

    @classmethod
    def from_matrix(cls, matrix: Matrix4) -> SubjectFrame:
        x = _column(matrix, 0)
        y = _column(matrix, 1)
        if _length(x) < 1e-12 or _length(y) < 1e-12:
            raise UnsupportedScene(["subject: its scale is zero"])
        x = _unit(x)
        y = _unit(tuple(yc - _dot(y, x) * xc for yc, xc in zip(y, x)))  # Gram-Schmidt: drops shear
        return cls(_column(matrix, 3), (x, y, _cross(x, y)))

    def direction(self, world: Vec3) -> list[float]:
        """A Blender world direction in the engine frame relative to the subject (unit length)."""
        local = tuple(_dot(world, axis) for axis in self.axes)
        x, y, z = _unit(local)
        return _rounded((x, z, -y))

    def position(self, world: Vec3) -> list[float]:
        """A Blender world point in the engine frame, metres from the subject's origin."""
        offset = tuple(w - o for w, o in zip(world, self.origin))
        x, y, z = (_dot(offset, axis) for axis in self.axes)
        return _rounded((x, z, -y))

    def yaw_degrees(self) -> float | None:
        """Rotation of the subject about world Z in degrees, or None when it is also tilted."""
        if abs(self.axes[2][2] - 1.0) > 1e-6:
            return None
        return math.degrees(math.atan2(self.axes[0][1], self.axes[0][0]))


def _power(light: BlenderLight) -> float:
    return light.energy * 2.0 ** light.exposure


def _rgb(light: BlenderLight, scale: float) -> list[float]:
    return _rounded([c * scale for c in light.color])


def _point_intensity(light: BlenderLight, problems: list[str], label: str) -> float:
    """Radiant intensity (W/sr) per unit colour of a point or spot light."""
    if light.normalize:
        return _power(light) / (4.0 * math.pi)
    if light.radius <= 0.0:
        problems.append(f"{label}: Normalize is off with radius 0, which has no defined intensity; "
                        "turn Normalize on or give the light a radius")
        return 0.0
    return _power(light) * light.radius**2


def _sun(light: BlenderLight, frame: SubjectFrame, problems: list[str], label: str) -> dict:
    irradiance = _power(light)
    if not light.normalize:
        if light.angle <= 0.0:
            problems.append(f"{label}: Normalize is off with angle 0, which has no defined irradiance; "
                            "turn Normalize on or give the sun an angle")
        irradiance *= 2.0 * math.pi * (1.0 - math.cos(light.angle / 2.0))
    return {"type": "sun", "direction": frame.direction(_column(light.matrix, 2)), "rgb": _rgb(light, irradiance),
            "angle_deg": round(math.degrees(light.angle), 9)}


def _point(light: BlenderLight, frame: SubjectFrame, problems: list[str], label: str) -> dict:
    return {"type": "point", "position": frame.position(_column(light.matrix, 3)),
            "rgb": _rgb(light, _point_intensity(light, problems, label)), "radius": round(light.radius, 9)}


def _spot(light: BlenderLight, frame: SubjectFrame, problems: list[str], label: str) -> dict:
    if light.square_spot:
        problems.append(f"{label}: square spots are not supported (turn off Square)")
    scale_x, scale_y = _length(_column(light.matrix, 0)), _length(_column(light.matrix, 1))
    if abs(scale_x - scale_y) > 1e-4 * max(scale_x, scale_y):
        problems.append(f"{label}: non-uniform X/Y scale makes an elliptical cone, which is not supported")
    aim = tuple(-c for c in _column(light.matrix, 2))  # spots shine along their local -Z
    return {"type": "spot", "position": frame.position(_column(light.matrix, 3)), "direction": frame.direction(aim),
            "rgb": _rgb(light, _point_intensity(light, problems, label)),
            "cone_deg": round(math.degrees(light.spot_size), 9), "blend": round(light.spot_blend, 9),
            "radius": round(light.radius, 9)}


def _area(light: BlenderLight, frame: SubjectFrame, problems: list[str], label: str) -> dict:
    if light.spread < math.pi - ANGLE_EPS:
        problems.append(f"{label}: Spread below 180 deg is not supported (the engine models Lambertian area lights)")
    if light.shape not in ("SQUARE", "RECTANGLE", "DISK", "ELLIPSE"):
        problems.append(f"{label}: unknown area shape {light.shape!r}")
    two_sizes = light.shape in ("RECTANGLE", "ELLIPSE")
    size_x = light.size * _length(_column(light.matrix, 0))
    size_y = (light.size_y if two_sizes else light.size) * _length(_column(light.matrix, 1))
    ellipse = light.shape in ("DISK", "ELLIPSE")
    area = size_x * size_y * (math.pi / 4.0 if ellipse else 1.0)
    if area <= 0.0:
        problems.append(f"{label}: zero size")
        area = 1.0
    radiance = _power(light) / math.pi / (area if light.normalize else 1.0)
    facing = tuple(-c for c in _column(light.matrix, 2))  # area lights emit along their local -Z
    return {"type": "area", "position": frame.position(_column(light.matrix, 3)),
            "direction": frame.direction(facing), "up": frame.direction(_column(light.matrix, 1)),
            "size": [round(size_x, 9), round(size_y, 9)], "shape": "ellipse" if ellipse else "rectangle",
            "rgb": _rgb(light, radiance)}


_CONVERTERS = {"SUN": _sun, "POINT": _point, "SPOT": _spot, "AREA": _area}


def light_entry(light: BlenderLight, frame: SubjectFrame, problems: list[str], warnings: list[str]) -> dict | None:
    """One light's lights-file entry; appends to ``problems`` what cannot be reproduced."""
    label = f"light '{light.name}' ({light.kind})"
    converter = _CONVERTERS.get(light.kind)
    if converter is None:
        problems.append(f"{label}: light type not supported")
        return None
    if light.uses_nodes:
        problems.append(f"{label}: light node trees are not supported (turn off Use Nodes)")
    if light.energy < 0.0 or min(light.color) < 0.0:
        problems.append(f"{label}: negative power or colour is not supported")
    entry = converter(light, frame, problems, label)
    if "position" in entry:
        distance = _length(tuple(entry["position"]))
        if distance < 1e-6:
            problems.append(f"{label}: sits at the subject's origin, so it has no direction")
        elif distance < NEAR_LIGHT_METRES:
            warnings.append(f"{label} is {distance:.2f} m from the subject: the engine lights the whole "
                            "subject as seen from its origin, so expect falloff and direction errors")
    return entry


def world_entry(world: BlenderWorld, frame: SubjectFrame, problems: list[str]) -> dict | None:
    """The world's environment entry, or None when the world adds no light."""
    if world.problem:
        problems.append(f"world: {world.problem}")
        return None
    if world.hdri is None or world.strength == 0.0:
        return None
    if world.strength < 0.0:
        problems.append("world: negative Background strength is not supported")
    rx, ry, rz = world.rotation
    if any(abs(math.remainder(a, 2.0 * math.pi)) > ANGLE_EPS for a in (rx, ry)):
        problems.append("world: the Mapping node may rotate about Z only (X and Y rotation must be 0)")
    if any(abs(s - 1.0) > 1e-6 for s in world.scale):
        problems.append("world: the Mapping node's scale must be 1")
    if world.mapping_type in ("POINT", "TEXTURE") and any(abs(c) > 1e-9 for c in world.location):
        problems.append("world: the Mapping node's location must be 0")
    yaw = frame.yaw_degrees()
    if yaw is None:
        problems.append("subject: it is tilted; with a world HDRI the subject may rotate about Z only")
        yaw = 0.0
    rotate = -math.degrees(rz) if world.mapping_type == "TEXTURE" else math.degrees(rz)
    return {"type": "environment", "hdri": world.hdri, "rotate_deg": round(rotate + yaw, 9),
            "strength": round(float(world.strength), 9)}


def scene_to_lights(lights: Sequence[BlenderLight], world: BlenderWorld | None, subject: Matrix4,
                    emitters: Sequence[str] = ()) -> Conversion:
    """Convert the scene's lighting; raises :class:`UnsupportedScene` listing every problem.

    ``emitters`` names mesh objects whose materials emit light (never supported: the light stage
    cannot tell where on a mesh the light comes from, so the artist must replace them).
    """
    problems = [f"object '{name}': emissive materials on meshes are not supported (use a light)" for name in emitters]
    frame = SubjectFrame.from_matrix(subject)
    result = Conversion()
    for light in lights:
        entry = light_entry(light, frame, problems, result.warnings)
        if entry is not None:
            result.lights.append(entry)
    if world is not None:
        entry = world_entry(world, frame, problems)
        if entry is not None:
            result.lights.append(entry)
    if not problems and not result.lights:
        problems.append("nothing lights the scene: add lights or a world with an Environment Texture")
    if problems:
        raise UnsupportedScene(problems)
    return result

"""Lat-long HDRI environments: loading, validation and sampling as directional irradiance.

Mapping (engine frame): the pixel at (u, v) holds the radiance arriving *from* direction
``latlong_to_directions(u, v)``; the top row looks up (+Y). This equals Blender's Environment
Texture after the Z-up to Y-up conversion (x, y, z)_engine = (x_b, z_b, -y_b).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.io.exr import read_image
from engine.lighting.sphere import latlong_solid_angles, latlong_to_directions, rotation_y

MAX_SAMPLE_WIDTH = 2048  # larger HDRIs are box-filtered (energy preserving) to this width
MIN_SAMPLE_WIDTH = 1024  # smaller HDRIs are supersampled so stage-light cells are resolved


NEGATIVE_TOLERANCE = 0.01  # negatives down to -1 % of the mean radiance are filter ringing: clamped


def validate_latlong(path: Path, radiance: np.ndarray) -> np.ndarray:
    """The HDRI's radiance, checked: raise InputError when it is not a usable lat-long environment.

    Real HDRIs (Blender's own among them) hold tiny negative values left by resampling filters;
    those down to -NEGATIVE_TOLERANCE x the mean radiance are clamped to zero, anything more
    negative is an error.
    """
    height, width = radiance.shape[:2]
    if width != 2 * height:
        raise InputError(path, f"HDRI must be a 2:1 lat-long image, got {width}x{height}")
    finite = np.isfinite(radiance)
    if not finite.all():
        bad = np.argwhere(~finite.all(axis=2))[0]
        raise InputError(path, f"HDRI has NaN or Inf values (first at row {bad[0]}, column {bad[1]})")
    floor = -NEGATIVE_TOLERANCE * max(float(radiance.mean()), 0.0)
    if (radiance < floor).any():
        bad = np.argwhere((radiance < floor).any(axis=2))[0]
        raise InputError(path, f"HDRI has negative radiance {radiance[bad[0], bad[1]].min():.4g} "
                         f"(first at row {bad[0]}, column {bad[1]})")
    return np.maximum(radiance, 0.0)


@dataclass(frozen=True)
class HdriFile:
    """One version of an HDRI file on disk: the key of everything computed from its pixels.

    Resolved path, device and inode (a file replaced by a rename is another inode), size, and the
    modification and status-change times (ns). Tools that copy a file's times (``cp -p``, ``rsync -t``,
    tar) set the modification time but cannot set the status-change time, so a new version with the
    old size and modification time is still told apart. Not told apart: two writes in place, of the
    same size, within one tick of the filesystem's timestamps (milliseconds on ext4, NTFS and APFS; 2 s
    on FAT) with a read between them.
    """

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | Path) -> HdriFile:
        """The version of ``path`` on disk now; InputError when there is no such file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "HDRI not found")
        resolved = path.resolve()
        stat = resolved.stat()
        return cls(str(resolved), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def radiance(self) -> np.ndarray:
        """This version's validated radiance, (H, W, 3) float64, read-only (the last few versions are kept)."""
        return _load_version(self)

    def irradiance(self) -> np.ndarray:
        """:func:`latlong_irradiance` of this version, read-only (kept like :meth:`radiance`: turning the world
        then costs no resampling)."""
        return _irradiance_of(self)


@lru_cache(maxsize=4)
def _load_version(version: HdriFile) -> np.ndarray:
    radiance = validate_latlong(Path(version.path), read_image(version.path).rgb.astype(np.float64))
    radiance.setflags(write=False)
    return radiance


@lru_cache(maxsize=4)
def _irradiance_of(version: HdriFile) -> np.ndarray:
    irradiance = latlong_irradiance(version.radiance())
    irradiance.setflags(write=False)
    return irradiance


def load_hdri(path: str | Path) -> np.ndarray:
    """Load and validate a lat-long HDRI: (H, W, 3) float64 radiance, row 0 = top (+Y)."""
    return HdriFile.of(path).radiance()


def resample_for_integration(radiance: np.ndarray) -> np.ndarray:
    """Bring an HDRI to a width in [MIN_SAMPLE_WIDTH, MAX_SAMPLE_WIDTH] for integration.

    Downsampling averages square blocks weighted by each row's solid angle (total energy kept); the block
    side is the smallest that divides both sides, so an awkward size (2050 x 1025: 5 x 5 blocks) can land
    below MIN_SAMPLE_WIDTH and is then upsampled like a small HDRI. Upsampling repeats pixels
    (piecewise-constant radiance, so energy is kept exactly).
    """
    height, width = radiance.shape[:2]
    if width > MAX_SAMPLE_WIDTH:
        factor = int(np.ceil(width / MAX_SAMPLE_WIDTH))
        while height % factor or width % factor:
            factor += 1
        row_weight = latlong_solid_angles(height, width)[:, None, None]
        weighted = (radiance * row_weight).reshape(height // factor, factor, width // factor, factor, 3)
        weights = np.broadcast_to(row_weight, (height, width, 1)).reshape(height // factor, factor, width // factor, factor, 1)
        radiance = weighted.sum(axis=(1, 3)) / weights.sum(axis=(1, 3))
        width = radiance.shape[1]
    if width < MIN_SAMPLE_WIDTH:
        factor = int(np.ceil(MIN_SAMPLE_WIDTH / width))
        return np.repeat(np.repeat(radiance, factor, axis=0), factor, axis=1)
    return radiance


@dataclass(frozen=True)
class DirectionalSamples:
    """Light arriving at the subject's origin as a set of directions.

    directions: (N, 3) unit vectors subject->light (engine frame).
    irradiance: (N, 3) RGB irradiance each direction delivers (radiance x sr, W/m^2).
    """

    directions: np.ndarray
    irradiance: np.ndarray

    @staticmethod
    def concatenate(parts: list[DirectionalSamples]) -> DirectionalSamples:
        if not parts:
            return DirectionalSamples(np.zeros((0, 3)), np.zeros((0, 3)))
        return DirectionalSamples(np.concatenate([p.directions for p in parts]),
                                  np.concatenate([p.irradiance for p in parts]))


def latlong_irradiance(radiance: np.ndarray) -> np.ndarray:
    """Irradiance (H, W, 3) each pixel of a lat-long HDRI puts on the subject (radiance x its solid angle),
    after :func:`resample_for_integration`; row 0 looks along +Y, column u = 0.5 + atan2(z, x) / (2 pi)."""
    radiance = resample_for_integration(radiance)
    height, width = radiance.shape[:2]
    return radiance * latlong_solid_angles(height, width)[:, None, None]


def latlong_directions(height: int, width: int) -> np.ndarray:
    """Unit directions (H W, 3) of the pixel centres of a (height, width) lat-long image, row by row."""
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    return latlong_to_directions(u[None, :], v[:, None]).reshape(-1, 3)


def environment_samples(radiance: np.ndarray, rotate_deg: float, strength: float) -> DirectionalSamples:
    """Every pixel of a lat-long HDRI as a directional sample.

    Radiance arriving from engine direction d is strength * L0(R_y(rotate_deg) d), so the pixel
    that holds L0(p) lights the subject from d = R_y(rotate_deg)^T p.
    """
    irradiance = latlong_irradiance(radiance)
    height, width = irradiance.shape[:2]
    directions = latlong_directions(height, width) @ rotation_y(rotate_deg)  # row-vector form of R^T p
    return DirectionalSamples(directions, irradiance.reshape(-1, 3) * strength)
"""Stage-light weights: how much of each OLAT image the target lighting calls for.

The relit image is sum_l weights[l] * OLAT_l (per RGB channel). Every light is reduced to
directional samples (direction, irradiance at the subject); each sample's irradiance is shared
among stage lights by an interpolation scheme, then divided by each stage light's own
irradiance ``rgb``. Two schemes:

- ``voronoi``: all of a sample goes to the nearest stage light, i.e. each stage light receives
  the integral over its spherical Voronoi cell. Exact energy, but a sharp light snaps to one
  stage light and shadows jump as it moves.
- ``barycentric``: the sample is split among the three stage lights of the triangle (of the
  stage dome's convex hull) its direction passes through, by barycentric coordinates. Moving
  lights blend smoothly. Both schemes conserve energy: the shares of every sample sum to one.

Defaults (measured against Cycles in tests/engine/test_cycles_ground_truth.py): barycentric for
every light type.

SciPy (about 80 ms to import) is imported where a triangulation or an HDRI's locations on the stage are
first built, not with this module: a ``relume relight`` whose environment integral is kept never needs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import InputError, RelumeError
from engine.lighting.hdri import DirectionalSamples, HdriFile, latlong_directions
from engine.lighting.lights import EnvironmentLight, Light
from engine.stage.cache import CacheDamaged, checksum, load_checked
from engine.stage.capture import Capture
from relume_host.atomic import write_bytes_atomic
from relume_host.vocabulary import DEFAULT_WEIGHT_METHOD, WeightMethod

if TYPE_CHECKING:
    from scipy import sparse

log = logging.getLogger(__name__)

METHODS = tuple(m.value for m in WeightMethod)
ENVIRONMENT_CACHE_VERSION = 2  # 2: rotation turns columns (integrate_environment)
ENVIRONMENTS_IN_MEMORY = 16
_ENVIRONMENTS: dict[str, np.ndarray] = {}       # key -> received (L, 3), most recently used last
_ENVIRONMENTS_LOCK = threading.Lock()           # the service integrates on several request threads
MAX_EXPOSURE_EV = 24    # 2**24 = 1.7e7: beyond it a plate's values leave half float's range (65504)
CHUNK_BYTES = 2 << 20  # largest (directions x stage lights or facets) float64 product made at once


def _chunks(count: int, columns: int) -> Iterator[slice]:
    """Row slices of a (``count``, ``columns``) float64 product that keep each piece within CHUNK_BYTES.

    Pieces this small stay in the processor's caches: a 4096 x 2048 HDRI (2.1 M directions once resampled)
    on a 150-light stage integrated in 2.2 s against 4.6 s in the 64 K-row pieces used before, with the same
    result bit for bit (A/B in one process on a shared 2-core AMD EPYC; 0.5-8 MB pieces all within 10 %).
    """
    rows = max(1, CHUNK_BYTES // (8 * columns))
    return (slice(start, start + rows) for start in range(0, count, rows))


class StageTriangulation:
    """Convex hull of the stage's light directions, with a fast point-location per direction.

    A ray from the origin along d leaves the hull through the facet f that maximises
    (n_f . d) / h_f (n_f the facet's outward normal, h_f its distance from the origin), so point
    location is one matrix product. When the stage does not surround the origin (a dome with no
    lights below), a phantom vertex is added opposite the dome; its share is handed back to the
    facet's real vertices, so light from the uncovered part goes to the nearest rim lights.
    """

    def __init__(self, directions: np.ndarray) -> None:
        from scipy.spatial import ConvexHull  # here, not at the top: see the module docstring

        self.light_count = len(directions)
        points = np.asarray(directions, dtype=np.float64)
        mean = points.mean(axis=0)
        hull = ConvexHull(points)
        if np.min(-hull.equations[:, 3]) < 0.05:  # origin on or near the hull's boundary
            phantom = -mean / max(np.linalg.norm(mean), 1e-9)
            points = np.vstack([points, phantom])
            hull = ConvexHull(points)
        self.points = points
        self.facets = hull.simplices  # (F, 3) vertex indices
        self.plane_normals = hull.equations[:, :3]
        self.plane_offsets = -hull.equations[:, 3]  # > 0: origin inside
        corner_matrices = np.transpose(points[self.facets], (0, 2, 1))  # columns are the corners
        self.inverse_corners = np.linalg.inv(corner_matrices)  # (F, 3, 3)

    def locate(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage-light indices (N, 3) and barycentric weights (N, 3) summing to 1 per direction."""
        facet = np.empty(len(directions), dtype=np.int64)
        scaled_normals = (self.plane_normals / self.plane_offsets[:, None]).T
        for rows in _chunks(len(directions), len(self.facets)):
            facet[rows] = np.argmax(directions[rows] @ scaled_normals, axis=1)
        coords = np.einsum("nij,nj->ni", self.inverse_corners[facet], directions)
        coords = np.clip(coords, 0.0, None)
        indices = self.facets[facet]
        coords[indices >= self.light_count] = 0.0  # phantom share goes to the real corners
        total = coords.sum(axis=1, keepdims=True)
        lone = total[:, 0] <= 0.0
        if np.any(lone):  # only the phantom corner: fall back to the nearest real light
            nearest = np.argmax(directions[lone] @ self.points[: self.light_count].T, axis=1)
            indices[lone] = nearest[:, None]
            coords[lone] = [1.0, 0.0, 0.0]
            total[lone] = 1.0
        return np.minimum(indices, self.light_count - 1), coords / total


@lru_cache(maxsize=8)
def _triangulation(key: bytes, count: int) -> StageTriangulation:
    return StageTriangulation(np.frombuffer(key, dtype=np.float64).reshape(count, 3))


def triangulation_for(stage_directions: np.ndarray) -> StageTriangulation:
    """Cached triangulation of a stage's light directions."""
    array = np.ascontiguousarray(stage_directions, dtype=np.float64)
    return _triangulation(array.tobytes(), len(array))


def locate_on_stage(directions: np.ndarray, stage_directions: np.ndarray,
                    method: str = DEFAULT_WEIGHT_METHOD.value) -> tuple[np.ndarray, np.ndarray]:
    """Which stage lights (N, K) share the light from each of ``directions`` (N, 3), and their shares (N, K),
    summing to 1 per direction: K = 3 for barycentric, 1 (the nearest light) for voronoi."""
    if method not in METHODS:
        raise ValueError(f"unknown interpolation {method!r}; use one of {METHODS}")
    if method == WeightMethod.BARYCENTRIC:
        from scipy.spatial import QhullError  # here, not at the top: see the module docstring

        try:
            return triangulation_for(stage_directions).locate(directions)
        except QhullError:  # all stage lights on one great circle or fewer than four: no dome to triangulate
            log.warning("stage lights span no dome; sharing light by nearest stage light instead")
    stage = np.asarray(stage_directions, dtype=np.float64).T
    nearest = np.empty(len(directions), dtype=np.int64)
    for rows in _chunks(len(nearest), len(stage_directions)):
        nearest[rows] = np.argmax(directions[rows] @ stage, axis=1)
    return nearest[:, None], np.ones((len(nearest), 1))


def _splat(indices: np.ndarray, shares: np.ndarray, irradiance: np.ndarray, light_count: int) -> np.ndarray:
    """Irradiance (L, 3) the stage lights receive when each sample's ``irradiance`` (N, 3) is shared out."""
    received = np.zeros((light_count, 3))
    for corner in range(indices.shape[1]):
        for channel in range(3):
            received[:, channel] += np.bincount(indices[:, corner], shares[:, corner] * irradiance[:, channel],
                                                minlength=light_count)
    return received


def splat_irradiance(samples: DirectionalSamples, stage_directions: np.ndarray, method: str = DEFAULT_WEIGHT_METHOD.value) -> np.ndarray:
    """Irradiance (L, 3) each stage light direction receives from ``samples``."""
    if method not in METHODS:
        raise ValueError(f"unknown interpolation {method!r}; use one of {METHODS}")
    if len(samples.directions) == 0:
        return np.zeros((len(stage_directions), 3))
    indices, shares = locate_on_stage(samples.directions, stage_directions, method)
    return _splat(indices, shares, samples.irradiance, len(stage_directions))


@lru_cache(maxsize=2)
def _latlong_on_stage(height: int, width: int, stage_key: bytes, method: str) -> sparse.csr_matrix:
    from scipy import sparse  # here, not at the top: see the module docstring

    stage = np.frombuffer(stage_key, dtype=np.float64).reshape(-1, 3)
    indices, shares = locate_on_stage(latlong_directions(height, width), stage, method)
    pixels = np.repeat(np.arange(len(indices)), indices.shape[1])
    return sparse.csr_matrix((shares.ravel(), (indices.ravel(), pixels)), shape=(len(stage), len(indices)))


def latlong_on_stage(height: int, width: int, stage_directions: np.ndarray, method: str) -> sparse.csr_matrix:
    """Where the pixel centres of an unrotated (height, width) lat-long image land on the stage, as an
    (L, height x width) sparse matrix of :func:`locate_on_stage`'s shares: times the pixels' irradiance
    (row by row, (H W, 3)) it gives what each stage light receives. Kept for the last two image sizes and
    stages: it depends on neither the HDRI's pixels nor its rotation, and finding it is most of what
    integrating one costs (2.1 M directions for a 4K HDRI)."""
    key = np.ascontiguousarray(stage_directions, dtype=np.float64).tobytes()
    return _latlong_on_stage(height, width, key, method)


def forget_latlong_locations() -> None:
    """Drop what :func:`latlong_on_stage` keeps (a benchmark's or a test's cold start)."""
    _latlong_on_stage.cache_clear()


def rotate_columns(image: np.ndarray, rotate_deg: float) -> np.ndarray:
    """A lat-long ``image`` (H, W, C) turned ``rotate_deg`` about +Y (engine frame), as
    :func:`engine.lighting.hdri.environment_samples` turns its directions: what column c held is now
    at column c + s, s = rotate_deg / 360 x W; a fraction of a column is shared between the two nearest
    columns linearly (each pixel's light is kept whole)."""
    shift = (float(rotate_deg) / 360.0 % 1.0) * image.shape[1]
    whole, fraction = int(np.floor(shift)), shift - np.floor(shift)
    turned = np.roll(image, whole, axis=1)
    if fraction == 0.0:
        return turned
    return (1.0 - fraction) * turned + fraction * np.roll(turned, 1, axis=1)


def stage_weights(
    lights: Sequence[Light],
    stage_directions: np.ndarray,
    stage_rgb: np.ndarray,
    method: str = DEFAULT_WEIGHT_METHOD.value,
    exposure_ev: float = 0.0,
    cache: Path | None = None,
) -> np.ndarray:
    """Per-stage-light RGB weights (L, 3) reproducing ``lights`` (which add up).

    stage_directions: (L, 3) unit subject->light vectors; stage_rgb: (L, 3) irradiance each stage
    light put on the subject. exposure_ev scales the result by 2**exposure_ev. ``cache``: a folder
    where environment integrals are kept between calls (:func:`environment_received`).
    """
    if not (np.isfinite(exposure_ev) and abs(exposure_ev) <= MAX_EXPOSURE_EV):
        raise InputError("exposure", f"must be between -{MAX_EXPOSURE_EV} and {MAX_EXPOSURE_EV} stops, got "
                                     f"{exposure_ev}")
    stage_directions = np.asarray(stage_directions, dtype=np.float64)
    received = np.zeros((len(stage_directions), 3))
    others = [light for light in lights if not isinstance(light, EnvironmentLight)]
    if others:
        received += splat_irradiance(DirectionalSamples.concatenate([light.samples() for light in others]),
                                     stage_directions, method)
    for light in lights:
        if isinstance(light, EnvironmentLight):      # the splat is linear: lights add, strength scales
            received += light.strength * environment_received(light.hdri, light.rotate_deg, stage_directions, method,
                                                              cache)
    return received / np.asarray(stage_rgb, dtype=np.float64) * (2.0 ** exposure_ev)


def integrate_environment(hdri: HdriFile, rotate_deg: float, stage_directions: np.ndarray, method: str) -> np.ndarray:
    """The irradiance each stage light receives (L, 3; the HDRI's radiance x sr) from ``hdri`` at strength 1,
    rotated ``rotate_deg`` (degrees about +Y, engine frame): every pixel splatted onto ``stage_directions``
    ((L, 3) unit subject->light vectors, engine frame) by ``method``, nothing of the HDRI kept.

    The rotation turns the image's columns (:func:`rotate_columns`) instead of its directions, so where each
    pixel lands on the stage (:func:`latlong_on_stage`) is found once per image size and stage: a new
    rotation of a 4K HDRI costs the shares, not the point location. Against turning the directions
    (:func:`splat_irradiance` of :func:`environment_samples`): equal to rounding for a whole number of
    columns; otherwise within about 1e-4 (barycentric) or 5e-3 (voronoi, whose cell edges cut pixels) of
    the total (``tests/engine/test_weights.py``); both are pixel-sized discretisations of one integral."""
    irradiance = hdri.irradiance()
    height, width = irradiance.shape[:2]
    return latlong_on_stage(height, width, stage_directions, method) @ rotate_columns(irradiance, rotate_deg).reshape(-1, 3)


def environment_received(hdri: Path, rotate_deg: float, stage_directions: np.ndarray, method: str,
                         cache: Path | None = None) -> np.ndarray:
    """:func:`integrate_environment` of the HDRI file ``hdri`` as it is on disk now, kept between calls.

    Integrating an HDRI takes a while the first time (150-light stage, 2-core machine: 0.23 s for 1024 x 512,
    1.2 s for 4096 x 2048, resampled to 2048 x 1024; another rotation 12 / 88 ms, :func:`latlong_on_stage`
    being kept), and the result only depends on the file's version
    (:class:`HdriFile`), the rotation, the stage's light directions and the method: it is kept in memory
    (the last ENVIRONMENTS_IN_MEMORY, for the service and live relighting, where an edit that leaves the
    world alone must not integrate it again) and, with ``cache``, as ``cache/environment/<key>.<hash>.npy``
    (a later CLI call; a file whose bytes do not match the hash in its name is ignored). A new version of
    the file is a new key, so it is integrated again.
    """
    version = HdriFile.of(hdri)
    digest = hashlib.sha256(f"{ENVIRONMENT_CACHE_VERSION}|{version}|{float(rotate_deg)!r}|{method}".encode())
    digest.update(np.ascontiguousarray(stage_directions, dtype=np.float64).tobytes())
    key = digest.hexdigest()[:32]
    with _ENVIRONMENTS_LOCK:
        received = _ENVIRONMENTS.pop(key, None)      # put back last below: the least recently used goes first
    folder = None if cache is None else cache / "environment"
    if received is None and folder is not None:
        for stored in folder.glob(f"{key}.*.npy"):          # <key>.<hash of the file's bytes>.npy
            with contextlib.suppress(CacheDamaged, ValueError):
                received = load_checked(stored, int(stored.name.split(".")[1], 16))
    if received is None:
        received = integrate_environment(version, rotate_deg, stage_directions, method)
        if folder is not None:
            with contextlib.suppress(OSError, RelumeError):     # a read-only capture: just not kept
                buffer = io.BytesIO()
                np.save(buffer, received)
                write_bytes_atomic(folder / f"{key}.{checksum(buffer.getvalue()):016x}.npy", buffer.getvalue())
    with _ENVIRONMENTS_LOCK:
        _ENVIRONMENTS[key] = received
        while len(_ENVIRONMENTS) > ENVIRONMENTS_IN_MEMORY:
            _ENVIRONMENTS.pop(next(iter(_ENVIRONMENTS)))
    return received


def capture_weights(capture: Capture, lights: Sequence[Light], method: str = DEFAULT_WEIGHT_METHOD.value,
                    exposure_ev: float = 0.0, cache: Path | None = None) -> np.ndarray:
    """:func:`stage_weights` for a capture's calibrated stage lights; ``cache`` (the capture's cache
    folder, :func:`engine.stage.cache.cache_folder`) keeps environment integrals between calls."""
    return stage_weights(lights, capture.directions, capture.rgb, method, exposure_ev, cache)

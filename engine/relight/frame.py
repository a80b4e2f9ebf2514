"""One relit frame: RGBA from a capture, per-stage-light weights and the frame number."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError, OutputError
from engine.io.half import half_to_float
from engine.relight.ingest import ingest_frame
from engine.relight.lowrank import build_lowrank, relight_lowrank
from engine.relight.olat_reader import frame_alpha, iter_olat_images
from engine.relight.tiled import weighted_tile_sum
from engine.stage.cache import CacheDamaged, FrameCache, cache_folder
from engine.stage.capture import Capture

log = logging.getLogger(__name__)


def relight_from_files(capture: Capture, frame: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stream the frame's EXRs once: (H, W, 3) float32 relit colour and (H, W) alpha.

    Holds one accumulator and a few decoded images, never the whole stack.
    """
    accumulator = pixels = alpha = None
    for index, image in iter_olat_images(capture, frame):
        if accumulator is None:
            accumulator = np.zeros(image.rgb.shape, dtype=np.float32)
            pixels = np.empty(image.rgb.shape, dtype=np.float32)
            alpha = frame_alpha(capture, frame, image)
        half_to_float(image.rgb, pixels)
        pixels *= weights[index].astype(np.float32)
        accumulator += pixels
    return accumulator, np.asarray(alpha, dtype=np.float32)


def relight_from_cache(cache: FrameCache, weights: np.ndarray, rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) relit colour and (H, W) alpha from a cached frame (full or rank-``rank`` form), every byte
    checked against the cache's checksums (:class:`CacheDamaged` on a mismatch)."""
    if rank:
        colour = relight_lowrank(cache, rank, weights)
    else:
        colour = weighted_tile_sum(cache.stack_path, cache.layout(), weights, cache.tile_checksums())
    return colour, cache.alpha().astype(np.float32)


@dataclass(frozen=True)
class CacheOptions:
    """How a relight uses the decoded OLAT cache (:mod:`engine.stage.cache`).

    ``enabled``: read the frame from the cache, building it first when missing or stale (False: stream the
    EXRs); ``folder``: where the cache lives (None: the capture's own, see :func:`cache_folder`); ``rank``:
    relight from the rank-``rank`` low-rank form, built if missing (None: the full stack); ``rebuild``: a
    damaged cache is rebuilt from the EXRs (False: an InputError).
    """

    enabled: bool = True
    folder: str | Path | None = None
    rank: int | None = None
    rebuild: bool = True


NO_CACHE = CacheOptions(enabled=False)


def relight_frame(capture: Capture, weights: np.ndarray, frame: int, cache: CacheOptions = CacheOptions()) -> np.ndarray:
    """Relit RGBA (H, W, 4) float32 of ``frame``: sum_l weights[l] * OLAT_l, alpha carried through.

    With the cache enabled a missing or stale cache is built first (later relights of the plate then decode
    no EXR); when it cannot be written (no permission, too little free space, a full disk or a file-size
    limit while writing) the EXRs are streamed instead. A damaged cache (its bytes do not match their
    checksums) is rebuilt from the EXRs, or without ``cache.rebuild`` is an InputError.
    """
    colour = alpha = None
    rank, rebuild = cache.rank, cache.rebuild
    if cache.enabled:
        folder = cache_folder(capture, cache.folder)
        try:
            try:
                colour, alpha = _relight_cached(capture, frame, folder, weights, rank, force=False)
            except CacheDamaged as exc:
                if not rebuild:
                    raise InputError(exc.path, f"frame {frame}: damaged cache ({exc.reason}); run `relume ingest "
                                     "--force` or relight without --no-rebuild") from None
                log.warning("%s; rebuilding frame %d from the EXRs", exc, frame)
                colour, alpha = _relight_cached(capture, frame, folder, weights, rank, force=True)
        except (OutputError, OSError) as exc:      # unwritable, disk full, file-size limit
            log.warning("cache not written (%s); relighting from the EXR files", exc)
    if colour is None:
        colour, alpha = relight_from_files(capture, frame, weights)
    return np.concatenate([colour, alpha[:, :, None]], axis=2)


def _relight_cached(capture: Capture, frame: int, folder: Path, weights: np.ndarray, rank: int | None,
                    force: bool) -> tuple[np.ndarray, np.ndarray]:
    cache = ingest_frame(capture, frame, folder, force=force)
    if rank and not cache.has_lowrank(rank):          # a forced ingest drops the old low-rank forms
        build_lowrank(cache, rank)
    return relight_from_cache(cache, weights, rank)

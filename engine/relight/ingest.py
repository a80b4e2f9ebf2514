"""``relume ingest``: decode a frame's OLAT EXRs once into the tiled float16 cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.disk_space import check_free_space
from engine.relight.olat_reader import frame_alpha, iter_olat_images
from engine.stage.cache import FrameCache, FrameLayout, open_stack_writer, save_array, source_fingerprint
from engine.stage.capture import Capture
from relume_host.atomic import remove_stale_temporaries


def ingest_frame(capture: Capture, frame: int, folder: Path, force: bool = False, verify: bool = False) -> FrameCache:
    """Cache ``frame`` of ``capture`` under ``folder``; a current cache is kept (``force`` rebuilds it).

    Raises :class:`CacheDamaged` when the current cache fails the cheap checks (file sizes, headers,
    alpha; with ``verify`` also every tile's checksum): the caller rebuilds (``force``) or refuses.
    Before building, the frame's old cache files and a dead run's temporary files are removed and the free
    space is checked (OutputError when the frame's cache would not fit).
    """
    cache = FrameCache(folder, frame)
    fingerprint = source_fingerprint(capture, frame)
    if not force and cache.is_current(fingerprint):
        cache.check()
        if verify:
            cache.verify()
        return cache
    cache.discard()
    remove_stale_temporaries(folder)
    images = iter_olat_images(capture, frame)
    _, first = next(images)
    layout = FrameLayout(first.shape[0], first.shape[1], capture.light_count)
    check_free_space(cache.stack_path, int(np.prod(layout.shape())) * 2 + layout.height * layout.width * 2)
    with open_stack_writer(cache.stack_path, layout) as writer:
        writer.write_row(0, first.rgb)
        alpha = frame_alpha(capture, frame, first)
        for index, image in images:
            writer.write_row(index, image.rgb)
        tiles_xxh3 = writer.tile_hashes()
    alpha_xxh3 = save_array(cache.alpha_path, np.asarray(alpha, dtype=np.float16))
    cache.write_new_meta(layout, fingerprint, tiles_xxh3, alpha_xxh3)
    return cache

"""When building the OLAT cache pays: never for more than a budget of disk.

The cache is the decoded float16 stack: about 15 GB per 4K frame at 150 lights, so a 200-frame 4K
shot relit once in batch would build about 3 TB, which no artist's disk holds and which a one-off
relight never pays back (decoding the EXRs once is what building it costs anyway). A job whose
frames are not cached yet builds their cache only when it fits in the budget: ``$RELUME_CACHE_BUDGET_GB``
(default 100) and half the free space of the cache's disk. Otherwise the job streams the EXRs and
says so. The service and live relighting (one frame at a time, relit again and again) always fit;
``relume ingest`` caches on purpose whatever the budget.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.io.disk_space import disk_usage
from engine.io.exr import image_size
from engine.stage.cache import FrameCache, FrameLayout, cache_folder, source_fingerprint
from engine.stage.capture import Capture

log = logging.getLogger(__name__)

BUDGET_ENV = "RELUME_CACHE_BUDGET_GB"
DEFAULT_BUDGET_GB = 100.0


def cache_pays(capture: Capture, frames: Sequence[int], cache_dir: str | Path | None = None) -> bool:
    """Whether relighting ``frames`` should build their missing caches; False (with a warning naming
    the cost) when those would exceed the budget. Frames already cached cost nothing."""
    folder = cache_folder(capture, cache_dir)
    try:
        missing = [f for f in frames if not FrameCache(folder, f).is_current(source_fingerprint(capture, f))]
    except InputError:
        return True                  # a frame's files are bad: the relight itself says which
    if not missing:
        return True
    height, width = image_size(capture.olat_path(0, missing[0]))
    layout = FrameLayout(height, width, capture.light_count)
    need = len(missing) * (int(np.prod(layout.shape())) * 2 + height * width * 2)
    budget = min(float(os.environ.get(BUDGET_ENV, DEFAULT_BUDGET_GB)) * 1e9, disk_usage(folder).free / 2)
    if need <= budget:
        return True
    log.warning("not caching: %d frame(s) would take %.2f GB in %s (budget %.2f GB, see %s); relighting from the "
                "EXR files (`relume ingest` caches on purpose)", len(missing), need / 1e9, folder, budget / 1e9,
                BUDGET_ENV)
    return False

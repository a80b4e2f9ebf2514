"""engine.relight.tiled: the cache's weighted sum, the C tile kernel against numpy and float64."""

from __future__ import annotations

import platform
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import engine.relight.tiled as tiled
from engine.relight.ingest import ingest_frame
from engine.relight.tiled import DEFAULT_KERNEL, numpy_tile_sum, weighted_tile_sum
from engine.stage.cache import CacheDamaged
from support.damage import flip_byte

FRAME = 1001
C_KERNEL = pytest.mark.skipif(DEFAULT_KERNEL != "c", reason="the C tile kernel is not built here")


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("cc") is None
                    or not {"avx2", "fma", "f16c"} <= cpu_flags(),
                    reason="needs x86-64 with AVX2/FMA/F16C and a C compiler")
def test_the_c_kernel_is_built_where_it_can_be() -> None:
    """`pip install -e .` builds the optional extension; a silent fallback to numpy would leave it untested."""
    assert DEFAULT_KERNEL == "c"


def random_tile(rows: int, pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(3, rows, pixels) float16 tile of HDR values (up to 6e4, with exact zeros) and (3, rows) float32 weights."""
    rng = np.random.default_rng(seed)
    tile = (rng.random((3, rows, pixels)) ** 4 * 6e4 * (rng.random((3, rows, pixels)) > 0.1)).astype(np.float16)
    return tile, rng.random((3, rows)).astype(np.float32)


def float64_sum(tile: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.einsum("cr,crp->pc", weights.astype(np.float64), tile.astype(np.float64))


@C_KERNEL
@pytest.mark.parametrize("rows", [1, 3, 4, 5, 32, 150])
@pytest.mark.parametrize("pixels", [1, 7, 8, 13, 4096])
def test_c_kernel_equals_the_float64_sum(rows: int, pixels: int) -> None:
    """Every remainder of the 4-row and 8-pixel blocking, against float64 and against the numpy kernel."""
    tile, weights = random_tile(rows, pixels, rows * 10000 + pixels)
    out = np.full((pixels, 3), np.nan, dtype=np.float32)
    tiled._compiled_weighted_sum(tile, weights, out)
    expected = float64_sum(tile, weights)
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-30)
    by_numpy = np.empty_like(out)
    numpy_tile_sum(rows, pixels)(tile, weights, by_numpy)
    np.testing.assert_allclose(out, by_numpy, rtol=2e-6)


@C_KERNEL
def test_c_kernel_carries_inf_and_nan_like_numpy() -> None:
    tile, weights = random_tile(5, 19, 3)
    tile[0, 2, 4], tile[1, 0, 9], tile[2, 4, 18] = np.inf, np.nan, -np.inf
    weights[0, 3] = 0.0
    tile[0, 3, 11] = np.inf                                     # times a zero weight: NaN in both
    out, by_numpy = np.empty((19, 3), np.float32), np.empty((19, 3), np.float32)
    tiled._compiled_weighted_sum(tile, weights, out)
    numpy_tile_sum(5, 19)(tile, weights, by_numpy)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(by_numpy))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(by_numpy))
    assert np.isinf(out[4, 0]) and np.isnan(out[9, 1]) and np.isinf(out[18, 2]) and np.isnan(out[11, 0])


@C_KERNEL
def test_c_kernel_refuses_what_does_not_fit() -> None:
    tile, weights = random_tile(4, 16, 0)
    out = np.empty((16, 3), np.float32)
    kernel = tiled._compiled_weighted_sum
    with pytest.raises(ValueError, match="float16"):
        kernel(tile.astype(np.float32), weights, out)
    with pytest.raises(ValueError, match="float32"):
        kernel(tile, weights.astype(np.float64), out)
    with pytest.raises(ValueError, match="sizes do not fit"):
        kernel(tile, weights, np.empty((15, 3), np.float32))
    with pytest.raises(ValueError, match="sizes do not fit"):
        kernel(tile, np.ones((3, 5), np.float32), out)
    with pytest.raises((ValueError, BufferError), match="contiguous"):
        kernel(tile[:, :, ::2], weights, np.empty((8, 3), np.float32))
    out.flags.writeable = False
    with pytest.raises((ValueError, BufferError), match="writable|read-only"):
        kernel(tile, weights, out)


@C_KERNEL
def test_c_kernel_lets_other_threads_run() -> None:
    """It releases the GIL. With a switch interval far longer than the test, the main thread never hands the GIL
    over by itself, so a counting thread advances during the kernel call only if the kernel lets it go. The
    tile is large enough (about 10 ms, 1/20 of the interval) for the waiting thread to wake on a loaded machine:
    at 4096 pixels (0.4 ms) it sometimes had not yet run when the kernel returned."""
    tile, weights = random_tile(150, 65536, 1)
    out = np.empty((65536, 3), np.float32)
    counted, running = [0], threading.Event()

    def count() -> None:
        running.set()
        while running.is_set():
            counted[0] += 1

    thread, interval = threading.Thread(target=count), sys.getswitchinterval()
    sys.setswitchinterval(0.2)
    try:
        thread.start()
        running.wait()
        before = counted[0]
        tiled._compiled_weighted_sum(tile, weights, out)
        during = counted[0] - before
    finally:
        running.clear()
        thread.join()
        sys.setswitchinterval(interval)
    assert during > 0, "the counting thread did not run while the kernel summed a tile"


def test_both_kernels_relight_a_cached_frame_alike(make_capture, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = make_capture(height=80, width=70, lights=9)          # 5600 pixels: a full tile and a padded one
    cache = ingest_frame(capture, FRAME, capture.folder / "cache")
    weights = np.random.default_rng(2).random((capture.light_count, 3))
    args = (cache.stack_path, cache.layout(), weights, cache.tile_checksums())
    by_numpy = weighted_tile_sum(*args, kernel="numpy")
    stack = np.load(cache.stack_path).astype(np.float64)                    # (tiles, 3, lights, pixels)
    expected = cache.layout().untile(np.einsum("rc,tcrp->tcp", weights, stack))
    np.testing.assert_allclose(by_numpy, expected, rtol=2e-6, atol=1e-7)
    if DEFAULT_KERNEL == "c":
        np.testing.assert_allclose(weighted_tile_sum(*args, kernel="c"), by_numpy, rtol=2e-6, atol=1e-7)
    monkeypatch.setattr(tiled, "_compiled_weighted_sum", None)
    with pytest.raises(ValueError, match="not available"):
        weighted_tile_sum(*args, kernel="c")


@pytest.mark.parametrize("kernel", ["c", "numpy"])
def test_a_flipped_byte_is_caught_by_either_kernel(make_capture, kernel: str) -> None:
    if kernel == "c" and DEFAULT_KERNEL != "c":
        pytest.skip("the C tile kernel is not built here")
    capture = make_capture(height=64, width=64, lights=6)
    cache = ingest_frame(capture, FRAME, capture.folder / "cache")
    flip_byte(cache.stack_path, 100)
    with pytest.raises(CacheDamaged, match="tile 0 does not match its checksum"):
        weighted_tile_sum(cache.stack_path, cache.layout(), np.ones((6, 3)), cache.tile_checksums(), kernel=kernel)

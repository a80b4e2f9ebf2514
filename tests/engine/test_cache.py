"""The decoded OLAT cache: layout, equality with the EXR path, reuse, staleness, low-rank form."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

import engine.relight.ingest as ingest_module
import engine.relight.olat_reader as olat_reader
import engine.stage.cache as cache_module
from engine.errors import InputError
from engine.io.exr import read_image, write_image
from engine.lighting.lights import EnvironmentLight
from engine.lighting.weights import capture_weights
from engine.relight.frame import NO_CACHE, CacheOptions, relight_frame
from engine.relight.ingest import ingest_frame
from engine.relight.lowrank import build_lowrank
from engine.stage.cache import (
    TILE_PIXELS,
    CacheDamaged,
    FrameCache,
    FrameLayout,
    cache_folder,
    open_stack_writer,
    source_fingerprint,
)
from engine.stage.capture import Capture
from support.damage import flip_byte

FRAME = 1001
shutil_usage = namedtuple("shutil_usage", "total used free")


def random_weights(capture: Capture, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((capture.light_count, 3)) / capture.light_count


def forbid_exr_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any OLAT decode fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an EXR was decoded: {args[0]}")

    monkeypatch.setattr(olat_reader, "read_image", refuse)


@pytest.mark.parametrize(("height", "width", "tile_pixels"), [(37, 53, TILE_PIXELS), (70, 75, TILE_PIXELS),
                                                              (13, 11, 16), (64, 64, 4096), (5, 7, 35)])
def test_tile_layout_roundtrip(height: int, width: int, tile_pixels: int) -> None:
    layout = FrameLayout(height, width, light_count=3, tile_pixels=tile_pixels)
    image = np.random.default_rng(1).random((height, width, 3)).astype(np.float16)
    tiles = np.full((layout.tile_count, 3, tile_pixels), np.nan, dtype=np.float16)   # padding must be written
    layout.tile_into(image, tiles)
    assert layout.tile_count * tile_pixels >= height * width > (layout.tile_count - 1) * tile_pixels
    np.testing.assert_array_equal(layout.untile(tiles), image)
    np.testing.assert_array_equal(np.moveaxis(tiles, 1, 2).reshape(-1, 3)[height * width:], 0)  # zero padding


@pytest.mark.parametrize("batch_rows", [1, 4, 6])  # one light per write; 4 + a partial 2; all at once
def test_ingest_writes_a_memory_mappable_stack_equal_to_the_exrs(make_capture, batch_rows: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    capture = make_capture(lights=6, height=70, width=75)  # 5250 pixels: two tiles, the last one padded
    monkeypatch.setattr(cache_module, "ROW_BATCH_BYTES", batch_rows * 2 * 3 * TILE_PIXELS * 2)
    monkeypatch.setattr(cache_module, "MIN_BATCH_ROWS", 1)
    cache = ingest_frame(capture, FRAME, cache_folder(capture))
    assert cache.stack_path.parent == capture.folder / ".relume_cache"
    layout = cache.layout()
    stack = np.load(cache.stack_path, mmap_mode="r")
    assert isinstance(stack, np.memmap) and stack.dtype == np.float16
    assert stack.shape == (2, 3, 6, TILE_PIXELS) == layout.shape()
    for light in range(capture.light_count):
        image = read_image(capture.olat_path(light, FRAME), "half")
        np.testing.assert_array_equal(layout.untile(np.asarray(stack[:, :, light, :])), image.rgb)
    first = read_image(capture.olat_path(0, FRAME), "half")
    np.testing.assert_array_equal(np.load(cache.alpha_path), first.alpha)
    meta = json.loads(cache.meta_path.read_text())
    assert (meta["height"], meta["width"], meta["light_count"]) == (70, 75, 6)
    assert cache.is_current(source_fingerprint(capture, FRAME))


def test_stack_writer_gathers_rows_in_any_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows given out of order, in batches of 3, land where a row-by-row writer puts them."""
    layout = FrameLayout(9, 10, light_count=7, tile_pixels=16)   # 90 pixels: 6 tiles, the last one padded
    rows = np.random.default_rng(2).random((7, 9, 10, 3)).astype(np.float16)
    monkeypatch.setattr(cache_module, "ROW_BATCH_BYTES", 3 * layout.tile_count * 3 * 16 * 2)
    with open_stack_writer(tmp_path / "stack.npy", layout) as writer:
        for row in (3, 4, 0, 1, 2, 6, 5):
            writer.write_row(row, rows[row])
    stack = np.load(tmp_path / "stack.npy")
    for row in range(7):
        np.testing.assert_array_equal(layout.untile(stack[:, :, row]), rows[row])


@pytest.mark.parametrize(("batch_bytes_rows", "lights", "capacity"), [(0, 7, 2), (5, 7, 5), (40, 7, 7), (1, 1, 1)])
def test_stack_writer_batch_is_capped_by_bytes_with_a_floor_of_two_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes_rows: int, lights: int, capacity: int) -> None:
    """Rows per write: as many as ``ROW_BATCH_BYTES`` holds, at least two (a 4K row alone would be 8 KB
    writes), at most the stack's."""
    layout = FrameLayout(9, 10, light_count=lights, tile_pixels=16)
    monkeypatch.setattr(cache_module, "ROW_BATCH_BYTES", batch_bytes_rows * layout.tile_count * 3 * 16 * 2)
    with open_stack_writer(tmp_path / "stack.npy", layout) as writer:
        assert writer.batch_capacity == capacity
        for row in range(lights):
            writer.write_row(row, np.zeros((9, 10, 3), np.float16))


def test_relight_from_cache_equals_relight_from_files(sphere_capture: Path) -> None:
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture)
    from_files = relight_frame(capture, weights, FRAME, NO_CACHE)
    assert not (sphere_capture / ".relume_cache").exists()
    from_cache = relight_frame(capture, weights, FRAME)
    assert (sphere_capture / ".relume_cache" / f"olat.{FRAME}.npy").is_file()
    assert from_cache.shape == from_files.shape == (32, 32, 4)
    # same float16 inputs, float32 sums in another order
    np.testing.assert_allclose(from_cache, from_files, rtol=1e-5, atol=1e-6)
    assert from_files[..., :3].max() > 0.01  # not trivially black


def test_cache_is_reused_without_decoding_an_exr(sphere_capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 1)
    expected = relight_frame(capture, weights, FRAME)  # builds the cache
    stack = sphere_capture / ".relume_cache" / f"olat.{FRAME}.npy"
    built = stack.stat().st_mtime_ns
    forbid_exr_reads(monkeypatch)
    again = relight_frame(capture, weights, FRAME)
    np.testing.assert_array_equal(again, expected)
    assert stack.stat().st_mtime_ns == built
    with pytest.raises(AssertionError, match="an EXR was decoded"):  # the guard does bite
        relight_frame(capture, weights, FRAME, NO_CACHE)


def test_stale_cache_is_rebuilt_when_an_exr_changes(sphere_capture: Path) -> None:
    capture = Capture.load(sphere_capture)
    weights = np.zeros((capture.light_count, 3))
    weights[4] = 1.0
    before = relight_frame(capture, weights, FRAME)
    build_lowrank(ingest_frame(capture, FRAME, cache_folder(capture)), capture.light_count)
    path = capture.olat_path(4, FRAME)
    image = read_image(path)
    write_image(path, np.concatenate([image.rgb * 3.0, image.alpha[..., None]], axis=2))
    after = relight_frame(capture, weights, FRAME)
    np.testing.assert_allclose(after[..., :3], 3.0 * before[..., :3], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(after, relight_frame(capture, weights, FRAME, NO_CACHE), rtol=1e-5, atol=1e-6)
    # the full-rank form built from the old stack is not reused either (it would give ``before``)
    full_rank = relight_frame(capture, weights, FRAME, CacheOptions(rank=capture.light_count))
    np.testing.assert_allclose(full_rank[..., :3], after[..., :3], atol=2e-3 * after[..., :3].max())


def test_lowrank_full_rank_equals_full_stack(sphere_capture: Path) -> None:
    capture = Capture.load(sphere_capture)
    cache = ingest_frame(capture, FRAME, cache_folder(capture))
    error = build_lowrank(cache, capture.light_count)
    assert error == pytest.approx(0.0, abs=1e-3)
    weights = random_weights(capture, 2)
    full = relight_frame(capture, weights, FRAME)
    low = relight_frame(capture, weights, FRAME, CacheOptions(rank=capture.light_count))
    scale = np.abs(full[..., :3]).max()
    np.testing.assert_allclose(low[..., :3], full[..., :3], atol=2e-3 * scale)  # float16 coefficients
    np.testing.assert_array_equal(low[..., 3], full[..., 3])


@pytest.mark.parametrize("rank", [3, 8])
def test_lowrank_reported_error_matches_measured_error(sphere_capture: Path, rank: int) -> None:
    capture = Capture.load(sphere_capture)
    cache = ingest_frame(capture, FRAME, cache_folder(capture))
    reported = build_lowrank(cache, rank)
    assert json.loads(cache.meta_path.read_text())["lowrank"][str(rank)]["relative_error"] == reported
    stack = np.load(cache.stack_path).astype(np.float64)  # (tiles, 3, L, P)
    coefficients_path, basis_path = cache.lowrank_paths(rank)
    basis = np.load(basis_path).astype(np.float64)  # (L, K)
    coefficients = np.load(coefficients_path).astype(np.float64)  # (tiles, 3, K, P)
    assert basis.shape == (capture.light_count, rank) and coefficients.shape[2] == rank
    np.testing.assert_allclose(basis.T @ basis, np.eye(rank), atol=1e-5)
    reconstructed = np.einsum("lk,tckp->tclp", basis, coefficients)
    measured = np.linalg.norm(reconstructed - stack) / np.linalg.norm(stack)
    assert 0.01 < reported < 0.9
    assert measured == pytest.approx(reported, rel=0.05, abs=2e-3)
    # and the relit image from the rank-K form is off by about that much
    weights = random_weights(capture, 3)
    full = relight_frame(capture, weights, FRAME)[..., :3]
    low = relight_frame(capture, weights, FRAME, CacheOptions(rank=rank))[..., :3]
    assert np.linalg.norm(low - full) / np.linalg.norm(full) < 2 * reported


def test_lowrank_rank_out_of_range_is_an_input_error(sphere_capture: Path) -> None:
    capture = Capture.load(sphere_capture)
    cache = ingest_frame(capture, FRAME, cache_folder(capture))
    for rank in (0, capture.light_count + 1):
        with pytest.raises(InputError, match="^rank: "):
            build_lowrank(cache, rank)


def test_cache_dir_environment_variable(sphere_capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELUME_CACHE_DIR", str(tmp_path / "shared_cache"))
    capture = Capture.load(sphere_capture)
    relight_frame(capture, random_weights(capture), FRAME)
    assert not (sphere_capture / ".relume_cache").exists()
    assert len(list((tmp_path / "shared_cache").glob(f"capture-*/olat.{FRAME}.npy"))) == 1


def test_one_capture_spelt_four_ways_is_ingested_once(sphere_capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sphere_capture.parent)
    name = sphere_capture.name
    (sphere_capture.parent / "x").mkdir()
    weights = random_weights(Capture.load(name), 2)
    expected = relight_frame(Capture.load(name), weights, FRAME)  # builds the cache
    stack = sphere_capture / ".relume_cache" / f"olat.{FRAME}.npy"
    built = stack.stat().st_mtime_ns
    forbid_exr_reads(monkeypatch)
    for spelling in (f"./{name}", f"{name}/capture.yaml", f"x/../{name}", str(sphere_capture)):
        np.testing.assert_array_equal(relight_frame(Capture.load(spelling), weights, FRAME), expected)
    assert stack.stat().st_mtime_ns == built


# ---------------------------------------------------------------------- a damaged cache never gives wrong pixels
def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


DAMAGE = {
    "flipped stack byte": lambda c: flip_byte(c / f"olat.{FRAME}.npy", 7000),   # a pixel of the last light
    "truncated stack": lambda c: _truncate(c / f"olat.{FRAME}.npy", 300000),
    "truncated stack header": lambda c: _truncate(c / f"olat.{FRAME}.npy", 20),
    "flipped alpha byte": lambda c: flip_byte(c / f"alpha.{FRAME}.npy", 10),
    "truncated alpha": lambda c: _truncate(c / f"alpha.{FRAME}.npy", 100),
    "garbled sidecar": lambda c: _truncate(c / f"olat.{FRAME}.json", 40),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_cache_is_rebuilt_and_the_pixels_are_right(sphere_capture: Path, damage: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 3)
    truth = relight_frame(capture, weights, FRAME, NO_CACHE)
    np.testing.assert_allclose(relight_frame(capture, weights, FRAME), truth, rtol=1e-5, atol=1e-6)  # builds
    DAMAGE[damage](sphere_capture / ".relume_cache")
    relit = relight_frame(capture, weights, FRAME)
    np.testing.assert_allclose(relit, truth, rtol=1e-5, atol=1e-6)
    assert ingest_frame(capture, FRAME, cache_folder(capture)).is_current(source_fingerprint(capture, FRAME))


@pytest.mark.parametrize("damage", ["flipped stack byte", "flipped alpha byte", "truncated stack"])
def test_damaged_cache_is_an_error_under_no_rebuild(sphere_capture: Path, damage: str) -> None:
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 4)
    relight_frame(capture, weights, FRAME)
    DAMAGE[damage](sphere_capture / ".relume_cache")
    with pytest.raises(InputError, match=f"frame {FRAME}: damaged cache"):
        relight_frame(capture, weights, FRAME, CacheOptions(rebuild=False))


def test_ingest_checks_every_tile_before_calling_a_cache_current(sphere_capture: Path, cli) -> None:
    capture = Capture.load(sphere_capture)
    folder = cache_folder(capture)
    cache = ingest_frame(capture, FRAME, folder)
    expected = np.load(cache.stack_path)
    flip_byte(cache.stack_path, 7000)
    ingest_frame(capture, FRAME, folder)                                # the cheap checks cannot see a flipped byte...
    with pytest.raises(CacheDamaged, match="olat.1001.npy: tile 0 does not match its checksum"):
        ingest_frame(capture, FRAME, folder, verify=True)               # ...reading every tile does
    result = cli("ingest", sphere_capture)                              # and `relume ingest` rebuilds the frame
    assert result.returncode == 0, result.stderr
    assert f"frame {FRAME}: damaged cache, rebuilt from the EXRs" in result.stdout + result.stderr
    np.testing.assert_array_equal(np.load(cache.stack_path), expected)


def test_damaged_lowrank_form_is_rebuilt(sphere_capture: Path) -> None:
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 5)
    rank = capture.light_count // 2
    expected = relight_frame(capture, weights, FRAME, CacheOptions(rank=rank))
    coefficients, basis = FrameCache(cache_folder(capture), FRAME).lowrank_paths(rank)
    for path in (coefficients, basis):
        flip_byte(path, 7)
        np.testing.assert_allclose(relight_frame(capture, weights, FRAME, CacheOptions(rank=rank)), expected, rtol=1e-5, atol=1e-6)


def test_each_tile_is_checked_where_it_is_read(make_capture) -> None:
    capture = make_capture(height=80, width=80, lights=6)                     # 6400 pixels: two tiles
    weights = random_weights(capture, 6)
    truth = relight_frame(capture, weights, FRAME, NO_CACHE)
    relight_frame(capture, weights, FRAME)
    flip_byte(capture.folder / ".relume_cache" / f"olat.{FRAME}.npy", 3)          # the last tile
    with pytest.raises(InputError, match="tile 1 does not match its checksum"):
        relight_frame(capture, weights, FRAME, CacheOptions(rebuild=False))
    np.testing.assert_allclose(relight_frame(capture, weights, FRAME), truth, rtol=1e-5, atol=1e-6)


def test_a_low_rank_form_is_never_built_from_a_damaged_stack(sphere_capture: Path) -> None:
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 7)
    rank = capture.light_count // 3
    expected = relight_frame(capture, weights, FRAME, CacheOptions(rank=rank))
    ingest_frame(capture, FRAME, cache_folder(capture), force=True)              # drops the low-rank form
    DAMAGE["flipped stack byte"](sphere_capture / ".relume_cache")
    np.testing.assert_allclose(relight_frame(capture, weights, FRAME, CacheOptions(rank=rank)), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- disk limits
def test_a_file_size_limit_while_building_the_cache_falls_back_to_streaming(sphere_capture: Path,
                                                                          tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes writes past 300 KB fail with EFBIG (Python ignores SIGXFSZ): the 740 KB stack
    cannot be written, the relight streams the EXRs instead and leaves no temporary file."""
    from engine.demo_scene import procedural_sky

    sky = tmp_path / "sky.exr"
    write_image(sky, procedural_sky(16), "float")
    out = tmp_path / "out" / "relit.####.exr"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))

    done = subprocess.run([sys.executable, "-m", "engine", "-q", "relight", str(sphere_capture), "--env", str(sky),
                           "--out", str(out)], preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cache not written" in done.stderr and "File too large" in done.stderr
    capture = Capture.load(sphere_capture)
    streamed = relight_frame(capture, capture_weights(capture, [EnvironmentLight(sky)]), FRAME, NO_CACHE)
    np.testing.assert_allclose(read_image(tmp_path / "out" / f"relit.{FRAME}.exr").rgb, streamed[..., :3],
                               rtol=1e-3, atol=1e-4)
    left = [p.name for p in (sphere_capture / ".relume_cache").rglob("*") if p.is_file()]
    assert not [name for name in left if name.startswith(("olat.", "alpha.")) or ".tmp" in name], left


def test_too_little_free_space_streams_without_writing(sphere_capture: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import engine.io.disk_space as disk_space

    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda folder: shutil_usage(total=10**9, used=10**9 - 20_000,
                                                                                  free=20_000))
    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 8)
    relit = relight_frame(capture, weights, FRAME)
    np.testing.assert_allclose(relit, relight_frame(capture, weights, FRAME, NO_CACHE), rtol=1e-6, atol=1e-7)
    assert "GB free on its disk" in caplog.text
    assert not (sphere_capture / ".relume_cache" / f"olat.{FRAME}.npy").exists()


def test_a_rebuild_removes_the_old_cache_before_writing(sphere_capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-ingesting needs disk room for one stack, not two: the old stack, alpha, sidecar and low-rank
    forms are gone when the free space is checked, and the rebuilt cache is whole."""
    capture = Capture.load(sphere_capture)
    cache = ingest_frame(capture, FRAME, cache_folder(capture))
    build_lowrank(cache, 2)
    old = [cache.stack_path, cache.alpha_path, cache.meta_path, *cache.lowrank_paths(2)]
    present_at_check = []
    check_free_space = ingest_module.check_free_space
    monkeypatch.setattr(ingest_module, "check_free_space",
                        lambda target, size: (present_at_check.extend(p.exists() for p in old), check_free_space(target, size)))
    ingest_frame(capture, FRAME, cache_folder(capture), force=True)
    assert present_at_check == [False] * len(old)
    assert not any(p.exists() for p in cache.lowrank_paths(2)) and not cache.has_lowrank(2)
    cache.verify()
    np.testing.assert_array_equal(cache.alpha(), read_image(capture.olat_path(0, FRAME), "half").alpha)


def test_a_dead_runs_temporary_files_are_removed(sphere_capture: Path) -> None:
    from relume_host.atomic import _HOST

    folder = sphere_capture / ".relume_cache"
    folder.mkdir()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = folder / f".olat.{FRAME}.npy.{_HOST}-{finished.pid}.0123456789ab.tmp.npy"
    alive = folder / f".olat.{FRAME}.npy.{_HOST}-{os.getpid()}.0123456789ab.tmp.npy"
    elsewhere = folder / f".olat.{FRAME}.npy.otherhost-{finished.pid}.0123456789ab.tmp.npy"
    for path in (dead, alive, elsewhere):
        path.write_bytes(b"\0" * 1000)
    capture = Capture.load(sphere_capture)
    relight_frame(capture, random_weights(capture), FRAME)
    assert not dead.exists() and alive.exists() and elsewhere.exists()


def test_low_rank_form_of_bright_olats_stays_in_half_float_range(sphere_capture: Path) -> None:
    """OLAT values up to 6e4 are valid half floats, but their coefficients on the basis exceed 65504 unless
    scaled: the form must relight them finite and close to the full stack."""
    capture = Capture.load(sphere_capture)
    for index in range(capture.light_count):
        image = read_image(capture.olat_path(index, FRAME))
        bright = image.rgb * (60000.0 / max(float(image.rgb.max()), 1e-6))
        write_image(capture.olat_path(index, FRAME), np.concatenate([bright, image.alpha[..., None]], axis=2))
    weights = random_weights(capture, 9)
    full = relight_frame(capture, weights, FRAME)[..., :3]
    low = relight_frame(capture, weights, FRAME, CacheOptions(rank=capture.light_count))[..., :3]
    assert np.isfinite(low).all()
    np.testing.assert_allclose(low, full, rtol=1e-2, atol=1e-3 * float(full.max()))


def test_a_batch_whose_cache_exceeds_the_budget_streams_and_says_so(sphere_capture: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from engine.relight.job import RelightJob

    capture = Capture.load(sphere_capture)
    weights = random_weights(capture, 10)
    stack = sphere_capture / ".relume_cache" / f"olat.{FRAME}.npy"
    monkeypatch.setenv("RELUME_CACHE_BUDGET_GB", "0.0001")            # 100 kB: one 740 kB frame does not fit
    RelightJob(capture, weights, str(tmp_path / "a" / "r.####.exr"), [FRAME]).run(progress=False)
    assert "not caching: 1 frame(s) would take 0.00 GB" in caplog.text and not stack.exists()
    streamed = read_image(tmp_path / "a" / f"r.{FRAME}.exr").rgb
    ingest_frame(capture, FRAME, cache_folder(capture))               # cached on purpose: then it is used
    forbid_exr_reads(monkeypatch)
    RelightJob(capture, weights, str(tmp_path / "b" / "r.####.exr"), [FRAME]).run(progress=False)
    np.testing.assert_array_equal(read_image(tmp_path / "b" / f"r.{FRAME}.exr").rgb, streamed)


def test_read_ahead_keeps_every_core_busy_within_its_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Images decoded ahead: 4 per core at 1K, never more than 256 MB of them, and at least two (4K)."""
    one_k, four_k = 1024 * 1024 * 4 * 2, 4096 * 4096 * 4 * 2         # half-float RGBA
    for cores, image, expected in ((2, one_k, 8), (16, one_k, 32), (2, four_k, 2), (1, 100, 4)):
        monkeypatch.setattr(olat_reader, "usable_cores", lambda cores=cores: cores)
        assert olat_reader.read_ahead(image) == expected

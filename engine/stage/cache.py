"""Decoded OLAT stacks on disk, so relighting a plate again decodes no EXR.

One frame is one ``.npy`` file of float16, shape (tiles, 3, L, TILE_PIXELS): the frame's pixels
in row-major order cut into tiles of TILE_PIXELS; within a tile each colour channel holds every
stage light's values contiguously. Relighting a tile is then three (1 x L) @ (L x TILE_PIXELS)
products on one contiguous block of bytes, read once. The file is memory-mappable with
``np.load(path, mmap_mode="r")``; alpha sits beside it as (H, W) float16 and a JSON sidecar
records the size and a fingerprint of the source files, so a changed capture is re-ingested.

Trust: the sidecar also holds an XXH3-64 hash of every tile of the stack (and of the low-rank
coefficients) and of the alpha and basis files. Relighting checks each tile's hash as it reads
the tile (XXH3 runs at about 30 GB/s on one core, several times the speed of the relight's own
pass over the tile), and a file of the wrong size or header fails the cheap checks; a mismatch raises :class:`CacheDamaged`, and the relight rebuilds
that frame from the EXRs (:func:`engine.relight.frame.relight_frame`). Wrong pixels never leave.

Low-rank form (optional): the stack S_c (L x pixels) of every channel shares one light basis
U (L x K) from the eigenvectors of sum_c S_c S_c^T; stored are U and the coefficients
B_c = U^T S_c ((tiles, 3, K, TILE_PIXELS) float16). Relighting costs K/L of the full read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import xxhash

from engine.errors import InputError
from engine.stage.capture import Capture
from relume_host.atomic import atomic_path, write_bytes_atomic

TILE_PIXELS = 4096
FORMAT_VERSION = 2           # 2: XXH3-64 hash of every tile and file
DEFAULT_CACHE_FOLDER = ".relume_cache"


def checksum(data) -> int:
    """XXH3-64 of a bytes-like object (numpy arrays included, without a copy)."""
    return xxhash.xxh3_64_intdigest(data)


class CacheDamaged(Exception):
    """A cache file does not hold what its sidecar says (flipped bytes, truncation, bad header)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclass(frozen=True)
class FrameLayout:
    """Geometry of one frame's tiled stack."""

    height: int
    width: int
    light_count: int
    tile_pixels: int = TILE_PIXELS

    @property
    def tile_count(self) -> int:
        return -(-self.height * self.width // self.tile_pixels)

    def shape(self, rank: int | None = None) -> tuple[int, int, int, int]:
        return (self.tile_count, 3, rank or self.light_count, self.tile_pixels)

    def untile(self, tiles: np.ndarray) -> np.ndarray:
        """(tiles, C, TILE_PIXELS) -> (H, W, C) image."""
        channels = tiles.shape[1]
        flat = np.moveaxis(tiles, 1, 2).reshape(-1, channels)[: self.height * self.width]
        return flat.reshape(self.height, self.width, channels)

    def tile_into(self, image: np.ndarray, out: np.ndarray) -> None:
        """Write the (H, W, C) image into ``out`` (tiles, C, TILE_PIXELS), which may be a strided view (a row of
        a stack), in one pass: the full tiles, then the last one zero padded. :meth:`untile` undoes it."""
        channels, pixels = image.shape[2], self.height * self.width
        flat = image.reshape(pixels, channels)
        full, rest = divmod(pixels, self.tile_pixels)
        for channel in range(channels):      # a channel at a time: 1.4x faster than one transposing copy
            out[:full, channel] = flat[: full * self.tile_pixels, channel].reshape(full, self.tile_pixels)
        if rest:
            out[full, :, :rest] = flat[full * self.tile_pixels:].T
            out[full, :, rest:] = 0


def source_fingerprint(capture: Capture, frame: int) -> str:
    """Hash of the frame's OLAT files (names within the capture, sizes, modification times) and the
    light list. Names are taken relative to the capture folder, so ``cap``, ``./cap``,
    ``cap/capture.yaml`` and ``x/../cap`` are one capture with one cache.

    Raises InputError (see :meth:`Capture.check_files`) when the files do not match the capture.
    """
    capture.check_files(frame)
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(capture.directions).tobytes())
    digest.update(np.ascontiguousarray(capture.rgb).tobytes())
    paths = [capture.olat_path(index, frame) for index in range(capture.light_count)]
    matte = capture.matte_path(frame)
    for path in paths + ([matte] if matte is not None and matte.is_file() else []):
        stat = path.stat()
        digest.update(f"{path.relative_to(capture.folder).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class FrameCache:
    """Paths of one frame's cache files."""

    folder: Path
    frame: int

    @property
    def stack_path(self) -> Path:
        return self.folder / f"olat.{self.frame:04d}.npy"

    @property
    def alpha_path(self) -> Path:
        return self.folder / f"alpha.{self.frame:04d}.npy"

    @property
    def meta_path(self) -> Path:
        return self.folder / f"olat.{self.frame:04d}.json"

    def lowrank_paths(self, rank: int | Literal["*"]) -> tuple[Path, Path]:
        """(coefficients, basis) paths of the rank-``rank`` form; ``"*"``: glob patterns for every rank."""
        return (self.folder / f"lowrank{rank}.{self.frame:04d}.npy", self.folder / f"lowrank{rank}.{self.frame:04d}.basis.npy")

    def has_lowrank(self, rank: int) -> bool:
        """True when the rank-``rank`` form was built from the current stack (a re-ingest drops it)."""
        meta = self.read_meta() or {}
        return str(rank) in meta.get("lowrank", {}) and self.lowrank_paths(rank)[0].is_file()

    def read_meta(self) -> dict | None:
        try:
            return json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            return None

    def layout(self) -> FrameLayout:
        meta = self.read_meta()
        if meta is None:
            raise InputError(self.meta_path, "no cache for this frame; run `relume ingest` first")
        return FrameLayout(meta["height"], meta["width"], meta["light_count"], meta["tile_pixels"])

    def is_current(self, fingerprint: str) -> bool:
        """True when the cache was made, in this format, from files with this :func:`source_fingerprint`
        (whether its files are intact is :meth:`check`'s and :meth:`verify`'s business)."""
        meta = self.read_meta()
        return meta is not None and meta.get("version") == FORMAT_VERSION and meta.get("fingerprint") == fingerprint

    def check(self) -> None:
        """The cheap checks, CacheDamaged when one fails: the stack's header and size are its layout's,
        the alpha matches its checksum."""
        stack_data_offset(self.stack_path, self.layout())
        self.alpha()

    def alpha(self) -> np.ndarray:
        """The frame's (H, W) float16 alpha, checked against its XXH3-64 hash."""
        return load_checked(self.alpha_path, (self.read_meta() or {}).get("alpha_xxh3"))

    def tile_checksums(self, rank: int | None = None) -> list[int]:
        """XXH3-64 hash of each (tile, channel) block of the stack (or of the rank-``rank`` coefficients)."""
        meta = self.read_meta() or {}
        entry = meta if rank is None else meta.get("lowrank", {}).get(str(rank), {})
        if "tiles_xxh3" not in entry:
            raise CacheDamaged(self.meta_path, "no tile checksums")
        return entry["tiles_xxh3"]

    def verify(self) -> None:
        """Read the whole stack and check every tile (``relume ingest`` does before calling a cache current)."""
        layout = self.layout()
        offset = stack_data_offset(self.stack_path, layout)
        with open(self.stack_path, "rb") as handle:
            found = block_hashes(handle.fileno(), offset, layout, layout.light_count)
        for block, (value, expected) in enumerate(zip(found, self.tile_checksums())):
            if value != expected:
                raise CacheDamaged(self.stack_path, f"tile {block // 3} does not match its checksum")

    def discard(self) -> None:
        """Remove the frame's cache files, the sidecar first (so a half-removed cache is never trusted).

        A rebuild calls it before writing: the disk then needs room for one stack, not two, and the new stack
        is renamed into place without replacing a file (ext4 writes a file renamed over another to disk
        before the rename returns: 1.5 s of a 5.4 s re-ingest at 1K). A reader that already opened the old
        files keeps reading them; one that opens them after finds no cache and rebuilds. A file another
        process holds open on Windows stays, and the rename replaces it."""
        lowrank = [path for pattern in self.lowrank_paths("*") for path in self.folder.glob(pattern.name)]
        for path in (self.meta_path, self.stack_path, self.alpha_path, *lowrank):
            with contextlib.suppress(OSError):
                path.unlink()

    def write_meta(self, meta: dict) -> None:
        write_bytes_atomic(self.meta_path, json.dumps(meta).encode())

    def write_new_meta(self, layout: FrameLayout, fingerprint: str, tiles_xxh3: list[int], alpha_xxh3: int) -> None:
        self.write_meta({"version": FORMAT_VERSION, "height": layout.height, "width": layout.width,
                         "light_count": layout.light_count, "tile_pixels": layout.tile_pixels,
                         "fingerprint": fingerprint, "alpha_xxh3": alpha_xxh3, "tiles_xxh3": tiles_xxh3})


def block_hashes(fd: int, offset: int, layout: FrameLayout, rows: int) -> list[int]:
    """XXH3-64 of every (tile, channel) block of ``rows`` rows of a stack file whose data starts at
    ``offset``, tile-major."""
    block_bytes = rows * layout.tile_pixels * 2
    return [checksum(os.pread(fd, block_bytes, offset + block * block_bytes)) for block in range(3 * layout.tile_count)]


def stack_data_offset(path: Path, layout: FrameLayout, rank: int | None = None) -> int:
    """Where a stack file's data starts; CacheDamaged unless its header and size are the layout's."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            header = np.lib.format._read_array_header(handle, version)  # noqa: SLF001 - documented layout
            offset = handle.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        raise CacheDamaged(path, f"unreadable .npy header ({exc})") from None
    expected = offset + int(np.prod(layout.shape(rank))) * 2
    size = path.stat().st_size
    if tuple(header[0]) != layout.shape(rank) or size != expected:
        raise CacheDamaged(path, f"{size} bytes of shape {tuple(header[0])}, expected {expected} bytes of shape "
                                 f"{layout.shape(rank)}: truncated or not this frame's")
    return offset


def cache_folder(capture: Capture, override: str | Path | None = None) -> Path:
    """Where a capture's cache lives: ``override``, $RELUME_CACHE_DIR/<capture name>, or inside it."""
    if override is not None:
        return Path(override)
    if os.environ.get("RELUME_CACHE_DIR"):
        name = hashlib.sha1(str(capture.folder.resolve()).encode()).hexdigest()[:12]
        return Path(os.environ["RELUME_CACHE_DIR"]) / f"{capture.folder.name}-{name}"
    return capture.folder / DEFAULT_CACHE_FOLDER


def write_npy_header(handle, shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Write a .npy header for a C-ordered array; returns the data offset in bytes."""
    np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    return handle.tell()


ROW_BATCH_BYTES = 96 << 20    # rows StackWriter gathers before writing: 16 lights at 1K, 3 at 2K ...
MIN_BATCH_ROWS = 2            # ... and never fewer than 2 (4K: 16 KB writes, not 8 KB)


class StackWriter:
    """Writes one frame's tiled stack light by light, streaming (never the whole stack in memory).

    On disk a light's row is one 8 KB block per tile and channel, 1,536 writes per light at 1K and 24,576
    at 4K. Consecutive rows are gathered in memory (up to ``ROW_BATCH_BYTES``) and written together: the
    blocks of a batch's rows are adjacent in the file, so a batch of B rows takes the same number of
    writes as one row, each B times larger (measured: 8 KB writes dominated ingest, issue 12.7). A batch
    buffer larger than about 100 MB costs more than the larger writes save: 1K, 150 lights, 2 cores,
    ingest at 1.28x the plain decode with 16 rows (100 MB), 1.33x with 28, 1.47x with 40 (256 MB).
    """

    def __init__(self, handle, layout: FrameLayout, rank: int | None = None) -> None:
        self.handle = handle
        self.layout = layout
        self.rows = rank or layout.light_count
        self.offset = write_npy_header(handle, layout.shape(rank), np.float16)
        handle.truncate(self.offset + int(np.prod(layout.shape(rank))) * 2)
        row_bytes = layout.tile_count * 3 * layout.tile_pixels * 2
        self.batch_capacity = min(self.rows, max(MIN_BATCH_ROWS, ROW_BATCH_BYTES // row_bytes))
        self.batch: np.ndarray | None = None      # (tiles, 3, batch_capacity, TILE_PIXELS), on the first row
        self.batch_start = 0        # the first row gathered in ``batch``
        self.batch_rows = 0         # how many are

    def write_row(self, row: int, image: np.ndarray) -> None:
        """Store the (H, W, 3) image as light ``row``, tiled and in float16 (written to the file with the rows
        gathered around it, at the latest by :meth:`flush`)."""
        if self.batch_rows and row != self.batch_start + self.batch_rows:
            self.flush()
        if self.batch is None:
            self.batch = np.empty((self.layout.tile_count, 3, self.batch_capacity, self.layout.tile_pixels), np.float16)
        if not self.batch_rows:
            self.batch_start = row
        self.layout.tile_into(image, self.batch[:, :, self.batch_rows])
        self.batch_rows += 1
        if self.batch_rows == self.batch_capacity:
            self.flush()

    def flush(self) -> None:
        """Write the gathered rows: one write per tile and channel."""
        if not self.batch_rows:
            return
        fd, block = self.handle.fileno(), self.layout.tile_pixels * 2
        for tile in range(self.layout.tile_count):
            for channel in range(3):
                position = self.offset + ((tile * 3 + channel) * self.rows + self.batch_start) * block
                os.pwrite(fd, self.batch[tile, channel, : self.batch_rows], position)
        self.batch_rows = 0

    def write_tile(self, tile: int, block: np.ndarray) -> None:
        """Store one whole tile ``block`` (3, rows, TILE_PIXELS) (it is contiguous on disk)."""
        position = self.offset + tile * 3 * self.rows * self.layout.tile_pixels * 2
        os.pwrite(self.handle.fileno(), np.ascontiguousarray(block, dtype=np.float16).tobytes(), position)

    def tile_hashes(self) -> list[int]:
        """XXH3-64 hash of every (tile, channel) block as written, tile-major (read back from the file,
        once all rows are in)."""
        self.flush()
        return block_hashes(self.handle.fileno(), self.offset, self.layout, self.rows)


@contextlib.contextmanager
def open_stack_writer(path: Path, layout: FrameLayout, rank: int | None = None) -> Iterator[StackWriter]:
    """A ``StackWriter`` on a temporary file that becomes ``path`` only when all rows are in."""
    with atomic_path(path) as tmp, open(tmp, "r+b") as handle:
        writer = StackWriter(handle, layout, rank)
        yield writer
        writer.flush()


def save_array(path: Path, array: np.ndarray) -> int:
    """np.save, atomically; returns the XXH3-64 hash of the file's bytes."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes_atomic(path, buffer.getvalue())
    return checksum(buffer.getvalue())


def load_checked(path: Path, expected: int | None) -> np.ndarray:
    """np.load of a small cache file whose bytes must hash to ``expected``; CacheDamaged otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CacheDamaged(path, f"cannot read ({exc.strerror})") from None
    if expected is None or checksum(data) != expected:
        raise CacheDamaged(path, "does not match its checksum")
    return np.load(io.BytesIO(data))

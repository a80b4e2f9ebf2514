"""Reading and writing scene-linear images through OpenImageIO.

Pixel arrays are (H, W, C), row 0 is the top of the image, values scene-linear. EXR is the
format of record; any format OpenImageIO reads (HDR, TIFF...) is accepted on input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from engine.errors import InputError, OutputError
from relume_host.atomic import atomic_path

RGBA = ("R", "G", "B", "A")


@dataclass(frozen=True)
class ImageRGBA:
    """An image split into colour and optional alpha.

    rgb: (H, W, 3) array (float32 or float16, scene-linear); alpha: (H, W) or None.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded pixels, colour and alpha."""
        return self.rgb.nbytes + (0 if self.alpha is None else self.alpha.nbytes)


def _channel_index(names: list[str], wanted: str) -> int | None:
    """Index of channel ``wanted`` (R, G, B, A or Y), also when it carries a layer prefix."""
    for index, name in enumerate(names):
        if name.split(".")[-1].upper() == wanted:
            return index
    return None


def read_image(path: str | Path, dtype: str = "float") -> ImageRGBA:
    """Read an RGB(A) image; ``dtype`` is "float" (float32) or "half" (float16).

    Raises InputError naming the file when it is missing, unreadable or has no R, G, B channels.
    A grey image (a Y channel and no R, G, B, e.g. Y or Y + A) is used as R = G = B; any other
    image without colour (a depth-only Z, say) is an error.
    """
    path = Path(path)
    image_input = _open(path)
    try:
        spec = image_input.spec()
        pixels = image_input.read_image(0, 0, 0, spec.nchannels, dtype)
        problem = image_input.geterror().strip()
    finally:
        image_input.close()
    if pixels is None or problem:
        raise InputError(path, f"corrupt or truncated image ({problem or 'no pixels decoded'})")
    pixels = np.asarray(pixels).reshape(spec.height, spec.width, spec.nchannels)
    names = list(spec.channelnames)
    indices = [_channel_index(names, c) for c in "RGB"]
    if any(i is None for i in indices):
        grey = _channel_index(names, "Y")
        if grey is None:
            raise InputError(path, f"needs R, G, B (or grey Y) channels, has {', '.join(names)}")
        indices = [grey] * 3
    alpha_index = _channel_index(names, "A")
    rgb = pixels[:, :, :3] if indices == [0, 1, 2] else pixels[:, :, indices]  # a slice copies 2x faster
    alpha = pixels[:, :, alpha_index] if alpha_index is not None else None
    return ImageRGBA(np.ascontiguousarray(rgb), None if alpha is None else np.ascontiguousarray(alpha))


def has_alpha(path: str | Path) -> bool:
    """Whether an image has an alpha (A) channel, from its header; InputError when unreadable."""
    image_input = _open(Path(path))
    try:
        return _channel_index(list(image_input.spec().channelnames), "A") is not None
    finally:
        image_input.close()


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding pixels; InputError when unreadable."""
    image_input = _open(Path(path))
    try:
        spec = image_input.spec()
        return spec.height, spec.width
    finally:
        image_input.close()


def write_image(path: str | Path, pixels: np.ndarray, pixel_type: str = "half") -> None:
    """Write (H, W, 3|4) pixels atomically; channels are named R, G, B(, A).

    pixel_type: "half" (EXR default for plates) or "float". The format follows the suffix
    (.exr, .png, .tif...); 8-bit formats get the values clipped to [0, 1] by OpenImageIO.
    """
    path = Path(path)
    # half pixels go to a half file as they are; anything else is converted once, to float32
    pixels = np.ascontiguousarray(pixels, dtype=np.float16 if pixels.dtype == np.float16 else np.float32)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"write_image expects (H, W, 3|4) pixels, got {pixels.shape}")
    if not _utf8(path):
        raise OutputError(path, "the path is not valid UTF-8, which OpenImageIO cannot write: choose another name")
    height, width, channels = pixels.shape
    spec = oiio.ImageSpec(width, height, channels, pixel_type)
    spec.channelnames = RGBA[:channels]
    if path.suffix.lower() == ".exr":
        spec.attribute("compression", "zip")
    with atomic_path(path) as tmp:
        image_output = oiio.ImageOutput.create(str(tmp))
        if image_output is None:
            raise OutputError(path, f"no writer for this format ({oiio.geterror().strip()})")
        ok = image_output.open(str(tmp), spec) and image_output.write_image(pixels)
        error = image_output.geterror().strip()
        image_output.close()
        if not ok:
            raise OutputError(path, f"cannot write image ({error or 'unknown error'})")


def _utf8(path: Path) -> bool:
    """False for a path holding bytes that are not UTF-8 (Python keeps them as surrogates; OpenImageIO
    takes only UTF-8 strings)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _open(path: Path):
    """An open OpenImageIO ImageInput; InputError naming the file when it cannot be opened."""
    if not path.is_file():
        raise InputError(path, "file not found")
    if not _utf8(path):
        raise InputError(path, "the path is not valid UTF-8, which OpenImageIO cannot open: rename the file or folder")
    image_input = oiio.ImageInput.open(str(path))
    if image_input is None:
        raise InputError(path, f"cannot open image ({oiio.geterror().strip() or 'unknown format'})")
    return image_input

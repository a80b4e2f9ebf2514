"""engine.io.half: OpenCV's float16 conversion, checked against numpy's exact one."""

from __future__ import annotations

import numpy as np
import pytest

from engine.io.half import half_to_float


def every_half() -> np.ndarray:
    """All 65,536 float16 bit patterns: zeros, subnormals, normals, the largest (65504), Inf and NaN."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)


@pytest.mark.parametrize("shape", [(1 << 16,), (256, 256), (16, 64, 64), (4, 4, 64, 64)])
def test_every_bit_pattern_converts_exactly(shape: tuple[int, ...]) -> None:
    half = every_half().reshape(shape)
    expected = half.astype(np.float32)
    converted = half_to_float(half)
    assert converted.dtype == np.float32 and converted.shape == shape
    np.testing.assert_array_equal(converted, expected)      # NaN positions compared as equal


def test_into_a_given_array_and_from_a_strided_view() -> None:
    stack = every_half().reshape(4, 128, 128)
    view = stack[1:3]                                       # C-contiguous slice of a bigger stack
    out = np.full(view.shape, -1.0, dtype=np.float32)
    assert half_to_float(view, out) is out
    np.testing.assert_array_equal(out, view.astype(np.float32))
    columns = stack[:, :, ::2]                              # not contiguous: copied first, still exact
    np.testing.assert_array_equal(half_to_float(columns), columns.astype(np.float32))


def test_wrong_types_and_shapes_are_refused() -> None:
    with pytest.raises(TypeError, match="float16"):
        half_to_float(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        half_to_float(np.zeros((4, 4), np.float16), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        half_to_float(np.zeros((4, 4), np.float16), np.zeros((4, 4), np.float64))

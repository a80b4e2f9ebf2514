"""The reenactment scores (``engine.reenact.evaluate``) on images whose answers are known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.io.exr import write_image
from engine.reenact.evaluate import flicker, nearest_training_frames, psnr, temporal_error, true_backward_flows

FRAMES, SIZE = 6, 32


def moving_sequence(seed: int = 0, brightening: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth texture sliding 1 px right per frame and getting brighter by ``brightening`` per frame (shading
    that changes), all pixels covered, and its true backward flow (-1, 0) (valid away from the left edge,
    which enters the frame)."""
    rng = np.random.default_rng(seed)
    texture = np.cumsum(np.cumsum(rng.random((SIZE, SIZE + FRAMES, 3)), 0), 1)
    texture /= texture.max()
    images = np.stack([texture[:, FRAMES - t:FRAMES - t + SIZE] * (1.0 + brightening * t) for t in range(FRAMES)])
    flows = np.zeros((FRAMES, SIZE, SIZE, 3), np.float32)
    flows[1:, :, :, 0] = -1.0
    flows[1:, :, 2:, 2] = 1.0
    return images.astype(np.float32), np.ones((FRAMES, SIZE, SIZE), bool), flows


def test_psnr_matches_its_definition_on_the_covered_pixels() -> None:
    truth, masks, _ = moving_sequence()
    masks[:, :, : SIZE // 2] = False
    noisy = truth.copy()
    noisy[:, :, SIZE // 2:] += 0.01 * np.percentile(truth[masks], 99)
    noisy[:, :, : SIZE // 2] = 100.0                        # uncovered: ignored
    assert psnr(noisy, truth, masks) == pytest.approx(40.0, abs=1e-3)


def test_temporal_error_is_zero_for_the_truth_and_sees_a_change_the_output_misses() -> None:
    truth, masks, flows = moving_sequence()
    assert temporal_error(truth, truth, masks, flows) == pytest.approx(0.0, abs=1e-6)
    unshaded, _, _ = moving_sequence(brightening=0.0)        # moves right, misses the change in shading
    truth_change = flicker(truth, truth, masks, flows)
    assert flicker(unshaded, truth, masks, flows) < 0.2 * truth_change            # "flickers" less than the truth
    assert temporal_error(unshaded, truth, masks, flows) > 0.8 * truth_change     # but its change is wrong


def test_flicker_and_temporal_error_grow_with_noise_that_changes_every_frame() -> None:
    truth, masks, flows = moving_sequence()
    noisy = truth + np.random.default_rng(1).normal(0.0, 0.02, truth.shape).astype(np.float32)
    assert flicker(noisy, truth, masks, flows) > flicker(truth, truth, masks, flows) + 0.01
    assert temporal_error(noisy, truth, masks, flows) > 0.02


def test_temporal_scores_count_only_visible_covered_pixels_and_every_pair() -> None:
    """Garbage where the true flow is invalid (the left edge entering the last frame, which no later frame warps)
    or the matte does not cover (rows, which the horizontal flow keeps apart) changes neither score; a change to the
    first frame alone does (the pair of frames 0 and 1 counts)."""
    truth, masks, flows = moving_sequence()
    masks[:, SIZE // 2:, :] = False
    scores = flicker(truth, truth, masks, flows), temporal_error(truth, truth, masks, flows)
    garbage = truth.copy()
    garbage[-1, :, :2] = 100.0                               # entering at the left: no valid flow there
    garbage[:, SIZE // 2:, :] = 100.0                        # not covered
    assert (flicker(garbage, truth, masks, flows), temporal_error(garbage, truth, masks, flows)) == scores
    first_changed = truth.copy()
    first_changed[0] *= 1.5
    assert flicker(first_changed, truth, masks, flows) > scores[0] + 0.01
    assert temporal_error(first_changed, truth, masks, flows) > 0.01


def test_true_backward_flows_read_the_stage_truth_and_leave_the_first_frame_without_one(tmp_path: Path) -> None:
    folder = tmp_path / "ground_truth/flow_backward"
    folder.mkdir(parents=True)
    for number, dx in ((1001, 0.0), (1002, -1.5), (1003, 2.25)):
        flow = np.zeros((4, 5, 3), np.float32)
        flow[..., 0], flow[..., 1], flow[..., 2] = dx, 0.5, 1.0
        write_image(folder / f"frame.{number:04d}.exr", flow, pixel_type="float")
    flows = true_backward_flows(tmp_path, [1002, 1003])
    assert flows.shape == (2, 4, 5, 3)
    assert not flows[0].any()                                # frame 1001 is not scored, so 1002 has no pair
    assert np.all(flows[1] == (2.25, 0.5, 1.0))


def test_nearest_training_frame_has_the_closest_true_expression(tmp_path: Path) -> None:
    """Closest by the L1 distance of the weights: for frame 1005 the L1 choice (1003, 0.9 away; 1001 is 1.0 away)
    and the L2 one (1001, 0.71 away; 1003 is 0.9) differ."""
    expressions = [[0.5, 0.5], [0.0, 1.0], [0.9, 0.0], [0.1, 0.8], [0.0, 0.0]]
    folder = tmp_path / "ground_truth"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps({"frames": [1001, 1002, 1003, 1004, 1005],
                                                    "expressions": expressions}))
    assert nearest_training_frames(tmp_path, [1001, 1002, 1003], [1004, 1005]) == [1002, 1003]

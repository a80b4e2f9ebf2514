"""A synthetic performer: an identity, smooth random expression trajectories and head motion.

Everything is deterministic from a seed. Units: head rotation as a (3, 3) matrix in the engine
frame (Y up, subject looking +Z), translation in metres; the pose maps model-space vertices v to
``R @ (v - pivot) + pivot + t``, so it rotates the head about ``pivot`` (the upper neck).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

# Rotation centre of the head (metres, model space): the top of the neck, behind the jaw.
HEAD_PIVOT = (0.0, -0.06, -0.01)


@dataclass(frozen=True)
class Performance:
    """identity (K,) N(0, 1) weights; expressions (T, 53) in [0, 1]; rotations (T, 3, 3); translations (T, 3) m."""

    identity: np.ndarray
    expressions: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    pivot: np.ndarray

    @property
    def frame_count(self) -> int:
        return len(self.expressions)

    def posed(self, vertices: torch.Tensor, index: int) -> torch.Tensor:
        """Model-space vertices (V, 3) placed with frame ``index``'s head pose (V, 3)."""
        rotation = torch.as_tensor(self.rotations[index], dtype=vertices.dtype)
        pivot = torch.as_tensor(self.pivot, dtype=vertices.dtype)
        shift = torch.as_tensor(self.translations[index], dtype=vertices.dtype)
        return (vertices - pivot) @ rotation.T + pivot + shift


def _smooth_noise(rng: np.random.Generator, frames: int, channels: int, sigma: float) -> np.ndarray:
    """(frames, channels) Gaussian-filtered white noise rescaled to unit standard deviation."""
    pad = int(4 * sigma) + 1
    raw = rng.standard_normal((frames + 2 * pad, channels))
    smooth = gaussian_filter1d(raw, sigma, axis=0)[pad:pad + frames]
    return smooth / (np.sqrt(1.0 / (2.0 * np.sqrt(np.pi) * sigma)))


def _pairs(names: list[str]) -> list[tuple[int, int]]:
    """Index pairs (left, right) of expressions named ``X_L`` / ``X_R``."""
    index = {name: i for i, name in enumerate(names)}
    return [(i, index[name[:-2] + "_R"]) for i, name in enumerate(names)
            if name.endswith("_L") and name[:-2] + "_R" in index]


def _blinks(rng: np.random.Generator, frames: int, fps: float) -> np.ndarray:
    """(frames,) blink weight: a 0 -> 1 -> 0 bump of ~0.2 s every 2-5 s."""
    curve = np.zeros(frames)
    time = rng.uniform(0.3, 2.5) * fps
    while time < frames + fps:
        width = 0.1 * fps
        t = np.arange(frames)
        curve = np.maximum(curve, np.clip(1.0 - np.abs(t - time) / width, 0.0, 1.0) ** 0.7)
        time += rng.uniform(2.0, 5.0) * fps
    return curve


def _speech(rng: np.random.Generator, frames: int, fps: float) -> np.ndarray:
    """(frames,) jaw opening like talking: ~0.2 s syllables under a slowly varying envelope."""
    envelope = np.clip(0.6 + 0.6 * _smooth_noise(rng, frames, 1, 0.8 * fps)[:, 0], 0.0, 1.0)
    syllables = np.clip(0.5 + 0.5 * _smooth_noise(rng, frames, 1, 0.09 * fps)[:, 0], 0.0, 1.0)
    return 0.55 * envelope * syllables


# Shapes a face rarely holds, kept small; signed pairs never act together (first: positive side).
_RARE = ("jawForward", "mouthRoll", "mouthShrug", "mouthFunnel", "mouthPucker", "cheekPuff", "noseSneer",
         "mouthStretch", "mouthDimple", "mouthPress", "mouthClose")
_SIGNED = (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"))
_GAZE = (("eyeLookOut_L", "eyeLookIn_L"), ("eyeLookIn_R", "eyeLookOut_R"), ("eyeLookUp_L", "eyeLookDown_L"),
         ("eyeLookUp_R", "eyeLookDown_R"))  # (positive, negative) of gaze x (to the subject's left) / y (up)
MOUTH_BUDGET = 1.3  # the mouth and jaw shapes (besides jawOpen) together never exceed this


def _signed_into(weights: np.ndarray, names: list[str], pair: tuple[str, str], signal: np.ndarray) -> None:
    """Write a signed signal into a (positive, negative) pair of expression columns."""
    if pair[0] in names and pair[1] in names:
        weights[:, names.index(pair[0])] = np.clip(signal, 0.0, 1.0)
        weights[:, names.index(pair[1])] = np.clip(-signal, 0.0, 1.0)


def expression_trajectories(rng: np.random.Generator, names: list[str], frames: int, fps: float = 24.0,
                            activity: float = 1.0) -> np.ndarray:
    """(frames, len(names)) smooth, sparse expression weights in [0, 1].

    Each channel is smoothed noise (time scale ~0.4 s) passed through a soft threshold, so it is
    zero most of the time and rises to a random peak now and then; left/right pairs share most
    of their motion (faces are mostly symmetric). Shapes faces rarely hold (pucker, jaw
    forward...) are rarer and smaller, opposite shapes (jaw left/right) never mix, the eyes
    share one gaze, blinks are short bumps, ``jawOpen`` adds talking-like syllables,
    ``mouthClose`` only follows an open jaw, and the mouth shapes have a joint budget.
    ``activity`` scales how often channels are active.
    """
    sigma = 0.4 * fps
    noise = _smooth_noise(rng, frames, len(names), sigma)
    for left, right in _pairs(names):
        common = 0.5 * (noise[:, left] + noise[:, right])
        noise[:, left] = 0.85 * common + 0.5 * noise[:, left]
        noise[:, right] = 0.85 * common + 0.5 * noise[:, right]
    rare = np.array([name.startswith(_RARE) for name in names])
    threshold = np.where(rare, rng.uniform(1.2, 1.7, len(names)), rng.uniform(0.5, 1.1, len(names)))
    peak = np.where(rare, rng.uniform(0.2, 0.5, len(names)), rng.uniform(0.5, 1.0, len(names)))
    weights = np.clip((noise - threshold / max(activity, 1e-3)) / 1.2, 0.0, 1.0)
    weights = weights * weights * (3.0 - 2.0 * weights) * peak  # smoothstep: eases in and out of zero
    for pair in _SIGNED:
        signal = _smooth_noise(rng, frames, 1, sigma)[:, 0]
        _signed_into(weights, names, pair, np.sign(signal) * np.clip(np.abs(signal) - 0.8, 0.0, None) * 0.35)
    gaze = _smooth_noise(rng, frames, 2, 0.25 * fps) * np.array([0.35, 0.25])
    for k, pair in enumerate(_GAZE):
        _signed_into(weights, names, pair, gaze[:, k // 2])
    blink = _blinks(rng, frames, fps)
    for name in ("eyeBlink_L", "eyeBlink_R"):
        if name in names:
            column = names.index(name)
            weights[:, column] = np.maximum(weights[:, column] * 0.3, blink)
    if "jawOpen" in names:
        jaw = names.index("jawOpen")
        weights[:, jaw] = np.maximum(weights[:, jaw] * 0.7, _speech(rng, frames, fps))
        if "mouthClose" in names:
            close = names.index("mouthClose")
            weights[:, close] = np.minimum(weights[:, close], 0.8 * weights[:, jaw])
    mouth = np.array([name.startswith(("mouth", "jaw")) and name != "jawOpen" for name in names])
    total = weights[:, mouth].sum(axis=1, keepdims=True)
    weights[:, mouth] *= np.minimum(1.0, MOUTH_BUDGET / np.maximum(total, 1e-9))
    return np.clip(weights, 0.0, 1.0)


def head_motion(rng: np.random.Generator, frames: int, fps: float = 24.0,
                amplitude_deg: tuple[float, float, float] = (4.0, 8.0, 3.0),
                amplitude_m: float = 0.008) -> tuple[np.ndarray, np.ndarray]:
    """Smooth head rotations (frames, 3, 3) and translations (frames, 3) m.

    amplitude_deg: standard deviation of pitch (about X), yaw (about Y), roll (about Z) in degrees;
    time scale ~1 s.
    """
    angles = _smooth_noise(rng, frames, 3, 1.0 * fps) * np.asarray(amplitude_deg)
    rotations = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    translations = _smooth_noise(rng, frames, 3, 1.2 * fps) * amplitude_m
    return rotations, translations


def make_performance(seed: int, expression_names: list[str], frames: int, identity_count: int = 100,
                     identity_scale: float = 1.0, fps: float = 24.0, motion: float = 1.0) -> Performance:
    """A performer from ``seed``: identity N(0, 1) * identity_scale, expressions and head motion.

    ``motion`` scales the head motion (0: still head).
    """
    rng = np.random.default_rng([seed, 0x9E4F])
    identity = rng.standard_normal(identity_count) * identity_scale
    expressions = expression_trajectories(rng, expression_names, frames, fps)
    rotations, translations = head_motion(rng, frames, fps)
    if motion != 1.0:
        rotvec = Rotation.from_matrix(rotations).as_rotvec() * motion
        rotations, translations = Rotation.from_rotvec(rotvec).as_matrix(), translations * motion
    return Performance(identity, expressions.astype(np.float32), rotations, translations, np.asarray(HEAD_PIVOT))

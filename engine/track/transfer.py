"""``relume transfer``: a source performer's expressions on the target's face (expression retargeting).

Each person's neutral differs (a resting smile, heavy brows), so weights are not copied: per expression
channel c, ``w_out = clip(n_target[c] + (w_source[c] - n_source[c]), 0, 1)``, where ``n`` is the
person's neutral: the weights of a named neutral frame, or per channel the ``percentile``-th
percentile over the sequence (default 5th: the face at rest most of the time).

Head pose: by default the target's pose at its neutral frame (or first frame) holds for every frame;
``pose="source"`` moves the target's head by the source's head motion relative to its first frame
(rotation about the head's centre, and the centre's shift). The result keeps the source's frame
numbers and the target's identity, intrinsics and image size.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.track.track_file import frame_numbers

# Model-space point the head turns about (metres): between the ears, behind the eyes.
HEAD_CENTRE = np.array([0.0, 0.0, -0.03])


class PoseFrom(str, Enum):
    TARGET = "target"
    SOURCE = "source"


@dataclass(frozen=True)
class TransferOptions:
    pose: PoseFrom = PoseFrom.TARGET
    source_neutral: int | None = None
    target_neutral: int | None = None
    percentile: float = 5.0


def _weights(track: dict, names: list[str]) -> tuple[list[int], np.ndarray]:
    numbers = frame_numbers(track)
    return numbers, np.array([[track["frames"][str(n)]["expression"].get(k, 0.0) for k in names] for n in numbers])


def neutral(track: dict, names: list[str], frame: int | None, percentile: float, where: str | Path) -> np.ndarray:
    """The performer's neutral weights (53,): frame ``frame``'s, else the per-channel low percentile
    over the frames where a face was found."""
    numbers, weights = _weights(track, names)
    if frame is not None:
        if frame not in numbers:
            raise InputError(where, f"neutral frame {frame} is not in the track ({numbers[0]}-{numbers[-1]})")
        return weights[numbers.index(frame)]
    found = np.array([track["frames"][str(n)]["face_found"] for n in numbers])
    return np.percentile(weights[found] if found.any() else weights, percentile, axis=0)


def transfer(source: dict, target: dict, options: TransferOptions = TransferOptions(),
             source_path: str | Path = "source", target_path: str | Path = "target") -> dict:
    """The retargeted track (a new dict; the inputs are not changed)."""
    names = target["model"]["expression_names"]
    if source["model"].get("sha256") != target["model"].get("sha256"):
        raise InputError(source_path, f"made with another face model file than {target_path}")
    if not 0.0 <= options.percentile <= 100.0:
        raise InputError("neutral_percentile", "must be in [0, 100]")
    n_source = neutral(source, names, options.source_neutral, options.percentile, source_path)
    n_target = neutral(target, names, options.target_neutral, options.percentile, target_path)
    numbers, weights = _weights(source, names)
    result = np.clip(n_target[None] + (weights - n_source[None]), 0.0, 1.0)

    target_numbers = frame_numbers(target)
    anchor = options.target_neutral if options.target_neutral is not None else target_numbers[0]
    t_rotation = np.asarray(target["frames"][str(anchor)]["rotation"])
    t_translation = np.asarray(target["frames"][str(anchor)]["translation"])
    first = source["frames"][str(numbers[0])]
    s0_rotation, s0_translation = np.asarray(first["rotation"]), np.asarray(first["translation"])
    s0_centre = s0_rotation @ HEAD_CENTRE + s0_translation
    t_centre = t_rotation @ HEAD_CENTRE + t_translation

    frames = {}
    for index, number in enumerate(numbers):
        record = source["frames"][str(number)]
        rotation, translation = t_rotation, t_translation
        if options.pose is PoseFrom.SOURCE:
            s_rotation = np.asarray(record["rotation"])
            delta = s_rotation @ s0_rotation.T
            shift = s_rotation @ HEAD_CENTRE + np.asarray(record["translation"]) - s0_centre
            rotation = delta @ t_rotation
            translation = t_centre + shift - rotation @ HEAD_CENTRE
        frames[str(number)] = {
            "expression": {n: round(float(w), 6) for n, w in zip(names, result[index])},
            "rotation": np.round(rotation, 8).tolist(), "translation": np.round(translation, 8).tolist(),
            "landmark_error_px": record["landmark_error_px"], "confidence": record["confidence"],
            "face_found": record["face_found"],
        }
    out = {k: v for k, v in target.items() if k not in ("frames", "timing_s", "transfer", "source")}
    out["source"] = str(source_path)
    out["frames"] = frames
    out["transfer"] = {
        "source": str(source_path), "target": str(target_path), "pose": options.pose.value,
        "source_neutral": options.source_neutral if options.source_neutral is not None else
        f"p{options.percentile:g}", "target_neutral": options.target_neutral if options.target_neutral is not None
        else f"p{options.percentile:g}", "target_pose_frame": anchor,
    }
    return out

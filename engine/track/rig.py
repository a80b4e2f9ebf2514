"""The performer rig: a track's face as a mesh with the model's expression shape keys and its animation.

Hosts that animate by hand (Blender's shape keys) need the face as geometry, not as model weights.
:func:`write_rig` writes it as one ``.npz`` a host reads with numpy alone (no torch, no engine import);
:func:`track_from_animation` turns the host's keyed expressions and head motion back into a ``.track``,
which ``relume reenact`` renders. The service exposes both (``POST /rig``, ``POST /track``).

Keys of the rig file (engine frame: Y up, right-handed, face looking +Z; metres)::

    format            "relume-rig";  version 1
    vertices          (V, 3) float32   the model's neutral with the track's identity applied
    polygons          (F, 4) int32     vertex ids, counter-clockwise seen from outside; -1 = no 4th corner
    polygon_uv_ids    (F, 4) int32     ids into ``uvs``;  uvs (U, 2) float32
    polygon_materials (F,) int16       ids into ``material_names`` (M_Face, M_Teeth, ...)
    transparent_materials (M,) str     helper surfaces renders leave out (tear film, eye blend, lashes)
    expression_names  (E,) str         the model's 53 blendshape names, in model order
    expression_deltas (E, V, 3) float32  per-expression vertex offsets at weight 1
    frames            (N,) int64       the track's frame numbers, ascending
    expression        (N, E) float32   weights in [0, 1]
    rotation          (N, 3, 3), translation (N, 3)   x_cam = R @ x_model + t (camera x right, y up,
                                       looking down -Z, metres)
    face_found        (N,) bool
    image_size        (2,) int64 (width, height);  intrinsics (3,) float64 (focal_px, cx, cy)
    header            JSON text: the track without its frames (identity, model, source, ...)
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.face.model import TRANSPARENT_MATERIALS, FaceModel
from engine.track.track_file import FORMAT, VERSION, frame_numbers, read_track
from relume_host.atomic import write_bytes_atomic

RIG_FORMAT = "relume-rig"
RIG_VERSION = 1
ROTATION_TOLERANCE = 1e-3      # |R^T R - I| allowed for a keyed head rotation (float32 keys, no scale)


def write_rig(track_path: str | Path, out: str | Path, model_path: Path | None = None) -> Path:
    """Write the rig of ``track_path``'s performer and animation to ``out`` (atomically); returns it."""
    face = FaceModel.load(model_path)
    track = read_track(track_path, face.source)
    identity = np.asarray(track["identity"], np.float32)
    vertices = face.vertices(identity[None])[0].numpy()
    numbers = frame_numbers(track)
    records = [track["frames"][str(n)] for n in numbers]
    with np.load(face.source, allow_pickle=False) as raw:
        polygons, uv_ids = raw["face_vertex_ids"].astype(np.int32), raw["face_uv_ids"].astype(np.int32)
        materials = raw["face_material_ids"].astype(np.int16)
    header = {k: v for k, v in track.items() if k != "frames"}
    arrays = {
        "format": np.array(RIG_FORMAT), "version": np.array(RIG_VERSION),
        "vertices": vertices.astype(np.float32), "polygons": polygons, "polygon_uv_ids": uv_ids,
        "uvs": face.uvs.numpy(), "polygon_materials": materials, "material_names": np.array(face.material_names),
        "transparent_materials": np.array(TRANSPARENT_MATERIALS),
        "expression_names": np.array(face.expression_names),
        "expression_deltas": face.expression_basis.numpy().reshape(face.expression_count, -1, 3),
        "frames": np.array(numbers, np.int64),
        "expression": np.array([[r["expression"].get(k, 0.0) for k in face.expression_names] for r in records],
                               np.float32),
        "rotation": np.array([r["rotation"] for r in records], np.float64),
        "translation": np.array([r["translation"] for r in records], np.float64),
        "face_found": np.array([bool(r["face_found"]) for r in records]),
        "image_size": np.array(track["image_size"], np.int64),
        "intrinsics": np.array([track["intrinsics"][k] for k in ("focal_px", "cx", "cy")], np.float64),
        "header": np.array(json.dumps(header)),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    out = Path(out)
    write_bytes_atomic(out, buffer.getvalue())
    return out


def read_rig_header(path: str | Path) -> tuple[dict, list[str]]:
    """The track header a rig was made from and its expression names; InputError naming ``path`` if it is not a rig."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as rig:
            if str(rig["format"]) != RIG_FORMAT or int(rig["version"]) != RIG_VERSION:
                raise InputError(path, f"not a {RIG_FORMAT} version {RIG_VERSION} file")
            return json.loads(str(rig["header"])), [str(n) for n in rig["expression_names"]]
    except FileNotFoundError:
        raise InputError(path, "rig file not found (import the performer again)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, f"not a readable rig file ({exc})") from None


def _frame(number: str, record: object, names: list[str], where: str) -> dict:
    """One keyed frame checked: all expressions present, finite and in [0, 1]; a rotation; in front of the camera."""
    where = f"{where} frame {number}"
    if not isinstance(record, Mapping):
        raise InputError(where, "must be an object with expression, rotation and translation")
    expression = record.get("expression")
    if not isinstance(expression, Mapping):
        raise InputError(where, "'expression' must map the model's expression names to weights")
    missing = [n for n in names if n not in expression]
    unknown = sorted(set(expression) - set(names))
    if missing or unknown:
        raise InputError(where, f"expressions must be the model's {len(names)}: "
                         + (f"missing {', '.join(missing[:5])}" if missing else f"unknown {', '.join(unknown[:5])}"))
    try:
        weights = np.array([expression[n] for n in names], np.float64)
        rotation = np.array(record.get("rotation"), np.float64)
        translation = np.array(record.get("translation"), np.float64)
    except (TypeError, ValueError):
        raise InputError(where, "weights, rotation and translation must be numbers") from None
    if not np.isfinite(weights).all() or weights.min() < -1e-6 or weights.max() > 1 + 1e-6:
        bad = names[int(np.argmax(~np.isfinite(weights) | (weights < -1e-6) | (weights > 1 + 1e-6)))]
        raise InputError(where, f"expression {bad} must be a weight in [0, 1], got {expression[bad]!r}")
    if rotation.shape != (3, 3) or translation.shape != (3,) or not (np.isfinite(rotation).all()
                                                                      and np.isfinite(translation).all()):
        raise InputError(where, "rotation must be 3x3 and translation 3 finite numbers")
    if np.abs(rotation.T @ rotation - np.eye(3)).max() > ROTATION_TOLERANCE or np.linalg.det(rotation) < 0:
        raise InputError(where, "head rotation is not a rotation (is the head object scaled or mirrored?)")
    if translation[2] >= 0:
        raise InputError(where, f"the head is behind the camera (z = {translation[2]:.3f} m; the camera looks down -Z)")
    return {"expression": {n: float(np.clip(w, 0.0, 1.0)) for n, w in zip(names, weights)},
            "rotation": rotation.tolist(), "translation": translation.tolist(),
            "landmark_error_px": None, "confidence": 1.0, "face_found": True}


def track_from_animation(rig_path: str | Path, frames: object, where: str = "request: frames") -> dict:
    """A ``.track`` dict from a host's keyed animation of the rig at ``rig_path``.

    ``frames`` maps frame numbers (str or int) to ``{"expression": {name: weight}, "rotation": 3x3,
    "translation": [x, y, z]}`` in the track's camera frame; identity, intrinsics, image size and model
    come from the rig's header. Keyed frames have ``confidence`` 1 and no landmark error.
    """
    header, names = read_rig_header(rig_path)
    if not isinstance(frames, Mapping) or not frames:
        raise InputError(where, "must map frame numbers to keyed poses (at least one)")
    records = {}
    for number, record in frames.items():
        if not str(number).lstrip("-").isdigit():
            raise InputError(where, f"{number!r} is not a frame number")
        records[str(int(number))] = _frame(str(number), record, names, where)
    track = {**header, "format": FORMAT, "version": VERSION, "frames": records}
    track["animation"] = {"rig": str(Path(rig_path).resolve()), "source": header.get("source")}
    return track

"""The ICT morphable face model in torch: identity and expression weights -> mesh vertices.

Data: ``ict_face_model.npz`` packed from ICT-FaceKit (MIT, github.com/ICT-VGL/ICT-FaceKit); the
installer puts it under ``~/.relume/assets/ict_face_model/`` (see :func:`default_model_path`). The
file is in centimetres; this module returns **metres** in the engine frame (Y up, right-handed, the
face looking +Z), float32.

A mesh is ``v = neutral + identity_w @ identity_deltas + expression_w @ expression_deltas`` with
identity weights drawn from N(0, 1) (100 PCA modes) and expression weights in [0, 1] (53 ARKit-style
blendshapes). :meth:`FaceModel.vertices` evaluates that batched and differentiably.

Topology: the model's quads are split into two triangles ``(a, b, c), (a, c, d)``, keeping the
upstream counter-clockwise winding, so triangle normals ``(b - a) x (c - a)`` face outward.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.face.regions import REGIONS
from relume_host.home import assets_dir

MODEL_ENV = "RELUME_FACE_MODEL"
SHARED_ENV = "RELUME_SHARED"
MODEL_FILE = Path("ict_face_model") / "ict_face_model.npz"
CM_TO_M = 0.01
_GET_IT = (
    "get it with `python install.py` or from github.com/ICT-VGL/ICT-FaceKit (MIT), "
    f"or point ${MODEL_ENV} at ict_face_model.npz"
)
_KEYS = (
    "neutral_vertices", "expression_deltas", "expression_names", "identity_deltas", "uvs",
    "face_vertex_ids", "face_uv_ids", "face_material_ids", "material_names", "landmark_vertex_ids_68",
)


# Vertex ranges from the upstream README (first id of each range).
_HEAD_NECK_START = 9409
_MOUTH_SOCKET_START = 11248
_EYE_SOCKET_START = 13294
_GUMS_START = 14062

# Material -> region. M_BackHead is split by vertex range in `_triangle_regions`.
_MATERIAL_REGION = {
    "M_Face": "skin",
    "M_GumsTongue": "mouth_interior",
    "M_Teeth": "mouth_interior",
    "M_ScleraLeft": "eyes",
    "M_IrisLeft": "eyes",
    "M_ScleraRight": "eyes",
    "M_IrisRight": "eyes",
    "M_LacrimalFluid": "eyes",
    "M_EyeBlend": "eyes",
    "M_EyeOcclusion": "eyes",
    "M_EyeLashes": "eyes",
}

# Transparent helper geometry (tear film, eye-corner blend, ambient-occlusion shell, eyelash cards):
# upstream renders it with alpha; drawn opaque it would cover the eyes, so opaque renders drop it.
TRANSPARENT_MATERIALS = ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion", "M_EyeLashes")
SUBMESH_KINDS = ("full", "face_and_head")


def default_model_path() -> Path:
    """Where the model is looked for: ``$RELUME_FACE_MODEL``; the installer's
    ``<RELUME_HOME>/assets/ict_face_model/`` (``~/.relume`` by default); then the CI mirror
    ``$RELUME_SHARED/assets/...`` (default ``../shared`` beside the repository). Returns the first that
    exists, else the installer's path (so the error names where ``install.py`` puts it)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env).expanduser()
    shared = os.environ.get(SHARED_ENV) or Path(__file__).resolve().parents[3] / "shared"
    candidates = [assets_dir() / MODEL_FILE, Path(shared) / "assets" / MODEL_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


@dataclass(frozen=True)
class Submesh:
    """A subset of the model's triangles over the full vertex array (vertex ids are unchanged).

    ``triangle_index`` (F',) gives each kept triangle's index in the full model, so any per-triangle
    table of the model can be indexed with it.
    """

    triangles: torch.Tensor          # (F', 3) long, vertex ids
    triangle_uv_ids: torch.Tensor    # (F', 3) long, ids into FaceModel.uvs
    triangle_material: torch.Tensor  # (F',) long, index into FaceModel.material_names
    triangle_region: torch.Tensor    # (F',) long, index into REGIONS
    triangle_index: torch.Tensor     # (F',) long, index into the full model's triangles


class FaceModel:
    """The ICT face model: 26,719 vertices, 100 identity modes, 53 expressions, metres, engine frame.

    Tensors live on ``self.device`` (move with :meth:`to`). Per-triangle tables (``triangles``,
    ``triangle_uv_ids``, ``triangle_material``, ``triangle_region``) cover the full mesh; use
    :meth:`submesh` for the opaque geometry a renderer should draw.
    """

    REGIONS = REGIONS

    def __init__(self, data: dict[str, np.ndarray], source: Path) -> None:
        self.source = source
        self.expression_names: list[str] = [str(n) for n in data["expression_names"]]
        self.material_names: list[str] = [str(n) for n in data["material_names"]]
        vertex_count = data["neutral_vertices"].shape[0]
        self.neutral = torch.from_numpy(data["neutral_vertices"].astype(np.float32) * CM_TO_M)
        self.identity_basis = torch.from_numpy(
            data["identity_deltas"].astype(np.float32).reshape(-1, vertex_count * 3) * CM_TO_M
        )
        self.expression_basis = torch.from_numpy(
            data["expression_deltas"].astype(np.float32).reshape(-1, vertex_count * 3) * CM_TO_M
        )
        self.uvs = torch.from_numpy(data["uvs"].astype(np.float32))
        quads = data["face_vertex_ids"].astype(np.int64)
        uv_quads = data["face_uv_ids"].astype(np.int64)
        materials = data["face_material_ids"].astype(np.int64)
        triangles, uv_triangles, source_face = _split_quads(quads, uv_quads)
        self.triangles = torch.from_numpy(triangles)
        self.triangle_uv_ids = torch.from_numpy(uv_triangles)
        self.triangle_material = torch.from_numpy(materials[source_face])
        self.triangle_region = torch.from_numpy(_triangle_regions(triangles, self.triangle_material.numpy(),
                                                                  self.material_names))
        self.landmark_ids = torch.from_numpy(data["landmark_vertex_ids_68"].astype(np.int64))

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> FaceModel:
        """Load ``ict_face_model.npz``; ``None`` uses :func:`default_model_path`.

        Raises :class:`InputError` naming the path and where to get the model when it is missing
        or not a readable model file.
        """
        path = default_model_path() if path is None else Path(path).expanduser()
        if not path.is_file():
            raise InputError(path, f"ICT face model not found; {_GET_IT}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                missing = [k for k in _KEYS if k not in npz.files]
                if missing:
                    raise InputError(path, f"not an ICT face model file (missing {', '.join(missing)}); {_GET_IT}")
                data = {k: npz[k] for k in _KEYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(path, f"cannot read the ICT face model ({exc}); {_GET_IT}") from exc
        return cls(data, path)

    def to(self, device: str | torch.device) -> FaceModel:
        """Move every tensor to ``device`` (in place); returns self."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self

    # ------------------------------------------------------------------ sizes
    @property
    def device(self) -> torch.device:
        return self.neutral.device

    @property
    def vertex_count(self) -> int:
        return self.neutral.shape[0]

    @property
    def identity_count(self) -> int:
        return self.identity_basis.shape[0]

    @property
    def expression_count(self) -> int:
        return self.expression_basis.shape[0]

    # ------------------------------------------------------------------ geometry
    def vertices(self, identity: torch.Tensor | None = None, expression: torch.Tensor | None = None) -> torch.Tensor:
        """Mesh vertices (B, V, 3) in metres, engine frame, from weights; differentiable.

        ``identity`` (B, K<=100) weights of the first K PCA modes (N(0, 1) is a plausible person);
        ``expression`` (B, K<=53) blendshape weights in [0, 1], order of :attr:`expression_names`.
        A 1-D tensor counts as a batch of one; ``None`` means all zeros (the neutral mean face).
        """
        batch = 1
        weights = []
        for value, basis in ((identity, self.identity_basis), (expression, self.expression_basis)):
            if value is None:
                continue
            value = torch.as_tensor(value, dtype=torch.float32, device=self.device)
            value = value.unsqueeze(0) if value.dim() == 1 else value
            if value.dim() != 2 or value.shape[1] > basis.shape[0]:
                raise ValueError(f"weights must be (B, K<={basis.shape[0]}), got {tuple(value.shape)}")
            batch = max(batch, value.shape[0])
            weights.append((value, basis[: value.shape[1]]))
        flat = self.neutral.reshape(1, -1).expand(batch, -1)
        for value, basis in weights:
            flat = flat + value @ basis
        return flat.reshape(batch, self.vertex_count, 3)

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor:
        """The 68 Multi-PIE landmarks (B, 68, 3) (or (68, 3)) picked from ``vertices`` (B, V, 3)."""
        return vertices[..., self.landmark_ids, :]

    def expression_index(self, name: str) -> int:
        """Index of a blendshape by name (e.g. ``"jawOpen"``)."""
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise KeyError(f"unknown expression {name!r}") from None

    def submesh(self, kind: str = "face_and_head") -> Submesh:
        """Triangles to draw. ``"full"``: everything. ``"face_and_head"``: the opaque geometry (skin,
        back of head, eyes, mouth interior), without the transparent helpers in
        :data:`TRANSPARENT_MATERIALS` (tear film, eye blend, occlusion shell, eyelash cards)."""
        if kind not in SUBMESH_KINDS:
            raise ValueError(f"unknown submesh kind {kind!r}; use one of {SUBMESH_KINDS}")
        keep = torch.ones_like(self.triangle_material, dtype=torch.bool)
        if kind == "face_and_head":
            for name in TRANSPARENT_MATERIALS:
                keep &= self.triangle_material != self.material_names.index(name)
        index = torch.nonzero(keep).squeeze(1)
        return Submesh(self.triangles[index], self.triangle_uv_ids[index], self.triangle_material[index],
                       self.triangle_region[index], index)


def _split_quads(quads: np.ndarray, uv_quads: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split quads (F, 4) (-1 as 4th id marks a triangle) into triangles (a,b,c), (a,c,d).

    Returns vertex triangles (T, 3), uv triangles (T, 3) and each triangle's source polygon (T,),
    ordered by source polygon.
    """
    is_quad = quads[:, 3] >= 0
    first = quads[:, [0, 1, 2]]
    second = quads[is_quad][:, [0, 2, 3]]
    uv_first = uv_quads[:, [0, 1, 2]]
    uv_second = uv_quads[is_quad][:, [0, 2, 3]]
    source = np.concatenate([np.arange(len(quads)), np.nonzero(is_quad)[0]])
    order = np.argsort(source, kind="stable")
    triangles = np.concatenate([first, second])[order]
    uv_triangles = np.concatenate([uv_first, uv_second])[order]
    return triangles, uv_triangles, source[order]


def _triangle_regions(triangles: np.ndarray, materials: np.ndarray, material_names: list[str]) -> np.ndarray:
    """Region label (index into REGIONS) per triangle.

    Materials decide, except M_BackHead, which spans several upstream vertex ranges: triangles
    touching the mouth socket are mouth interior (inner lips and cheeks), those touching the eye
    sockets are skin (inner eyelids), the rest (head and neck, its seam with the face) is
    ``hair_back_head``.
    """
    region_of = {name: REGIONS.index(_MATERIAL_REGION.get(name, "skin")) for name in material_names}
    labels = np.array([region_of[material_names[m]] for m in range(len(material_names))])[materials]
    back = materials == material_names.index("M_BackHead")
    top = triangles.max(axis=1)
    in_mouth = (top >= _MOUTH_SOCKET_START) & (top < _EYE_SOCKET_START)
    in_eye_socket = (top >= _EYE_SOCKET_START) & (top < _GUMS_START)
    labels[back] = REGIONS.index("hair_back_head")
    labels[back & in_mouth] = REGIONS.index("mouth_interior")
    labels[back & in_eye_socket] = REGIONS.index("skin")
    return labels.astype(np.int64)

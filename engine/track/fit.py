"""Fit the ICT face model to a sequence: one identity and focal length (fixed where known: a capture's
calibrated ``camera.focal_px``, or ``--focal``), per-frame pose and expression.

Camera (the track's frame): the engine camera convention, x right, y up, looking down **-Z**, pixels as
:class:`engine.render.Camera` (origin at the top-left corner, v down, principal point at the image
centre unless given). A frame's head pose maps model-space metres to camera space:
``x_cam = R @ x_model + t``.

Energy, minimised jointly over the whole sequence (all frames batched):

* **landmarks**: robust (pseudo-Huber, ``robust_px``) reprojection error of the detector's 478 points,
  each placed on the mesh by :mod:`engine.track.correspondence` and weighted by its measured stability
  (this term, the temporal one and the priors are :class:`engine.track.landmark_energy.LandmarkEnergy`);
* **photometric**: every visible face vertex should show the same colour in every frame (the
  sequence's per-vertex texture, the visibility-weighted mean of the samples: re-estimated at every step where
  a capture's normals hold the shape, followed slowly in footage without them), sampled from the frame at the
  vertex's projection; visibility from the rasteriser's depth test;
* **normals** (captures only): every visible dense vertex's normal should match the capture's
  photometric-stereo normal at its projection (:mod:`engine.track.normals`; Cauchy on the difference
  of unit vectors, so the few badly wrong normals, in cast shadows and highlights, stop pulling). The
  mesh normals come from linear tangent masks (:mod:`engine.face.tangents`), so they cost what the
  vertices cost. This is what fixes the identity's 3-D shape, which landmarks from one view cannot;
* **shading** (footage without normals: a video): each visible skin vertex's colour should be a smooth
  albedo times order-2 spherical-harmonic irradiance of its mesh normal under one lighting for the
  sequence (:mod:`engine.track.shading`), the same shape cue from the footage's own light;
* **priors**: identity ``|alpha|^2`` (N(0, 1) modes), expression sparsity (L1; weights stay in [0, 1]);
* **temporal**: squared acceleration of the landmark points in millimetres (frame to frame), so the
  track is smooth where the detector jitters, and frames without a face are bridged.

Stages: a per-frame PnP start (OpenCV), rigid pose and focal (Adam), then everything on landmarks
(Levenberg-Marquardt on the landmark, temporal and prior terms: :mod:`engine.track.landmark_energy`),
then the photometric (and normal or shading) refinement (Adam; visibility from the project's rasteriser,
refreshed once at its start). A :class:`FitStart` replaces the first two (the diagnostic that starts the fit at
the synthetic stage's truth, ``benchmarks/track_from_truth.py``). A dense weight of 0 leaves its term out; the
refinement runs while any of them is on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.face.model import FaceModel
from engine.face.tangents import tangent_masks
from engine.render.camera import Camera
from engine.render.rasterize import rasterize
from engine.track.correspondence import Correspondence
from engine.track.landmark_energy import (
    Basis,
    LandmarkEnergy,
    LandmarkParameters,
    cauchy,
    energy_weights,
    project,
    robust,
    rotation_matrices,
)
from engine.track.shading import ShadingTerm

NARROW_FACE_VERTICES = 6706     # upstream: the narrow face is vertices 0..6705
FACE_VERTICES = 9409            # face 0..9408 (with ears and forehead)
DEFAULT_FOV_DEG = 30.0          # vertical field of view the focal length starts from
DENSE_STRIDE = 2                # every 2nd face vertex carries the photometric term
VISIBLE_DEPTH_M = 0.004         # a vertex within 4 mm of the depth buffer is visible
NORMAL_SCALE = 0.1              # the normal term's Cauchy scale: |n_mesh - n_observed| of about 6 degrees
TEXTURE_RATE = 0.01             # without normals, the photometric texture moves 1 % of the way to the samples'
                                # mean per refinement step (with a capture's normals: all the way)


@dataclass(frozen=True)
class FitSettings:
    """Weights and schedule of the fit. Pixel quantities are at the footage's resolution."""

    focal_px: float | None = None          # known focal length (pixels); None fits it
    principal_point: tuple[float, float] | None = None  # (cx, cy) pixels; None = image centre
    identity_modes: int = 100
    rigid_iterations: int = 80
    landmark_iterations: int = 30          # Levenberg-Marquardt steps at most (it stops when converged)
    refine_iterations: int = 300
    robust_px: float = 1.5
    identity_prior: float = 1e-3           # on |alpha|^2, against the landmark term in px^2
    expression_l1: float = 0.3
    temporal: float = 0.05                 # per (mm / frame^2)^2 of landmark acceleration
    photometric: float = 300.0
    normal: float = 1000.0                 # on |n_mesh - n_observed|^2 (Cauchy), where normals are known
    shading: float = 500.0                 # on the shading residual (Cauchy), where normals are not known
    focal_prior: float = 1e-2              # on log(focal / start) squared
    learning_rate: float = 0.02
    device: str = "cpu"


@dataclass(frozen=True)
class FitStart:
    """Parameters the fit starts from instead of its PnP and rigid stages (the track's camera frame)."""

    rotations: np.ndarray           # (T, 3, 3) model to camera
    translations: np.ndarray        # (T, 3) metres
    expressions: np.ndarray         # (T, 53) in [0, 1]
    identity: np.ndarray            # (K,) ignored where the fit is given a fixed identity
    focal_px: float                 # ignored where the settings fix the focal length


@dataclass
class SequenceFit:
    """The fitted sequence. Per-frame arrays are (T, ...) in frame order."""

    identity: np.ndarray            # (K,)
    focal_px: float
    principal_point: tuple[float, float]
    rotations: np.ndarray           # (T, 3, 3)
    translations: np.ndarray        # (T, 3) metres
    expressions: np.ndarray         # (T, 53) in [0, 1]
    landmark_error_px: np.ndarray   # (T,) weighted mean distance of the detected to the fitted points
    face_found: np.ndarray          # (T,) bool
    confidence: np.ndarray          # (T,) in [0, 1]


def _pnp_start(model_points: np.ndarray, detections: list[np.ndarray | None], weights: np.ndarray, focal: float,
               centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame rotation vectors and translations (T, 3) in the track's camera frame from OpenCV's PnP
    on the mean face; frames without a face take the nearest detected frame's pose."""
    K = np.array([[focal, 0.0, centre[0]], [0.0, focal, centre[1]], [0.0, 0.0, 1.0]])
    use = weights > 0.5
    flip = np.diag([1.0, -1.0, -1.0])
    rotvecs = np.full((len(detections), 3), np.nan)
    translations = np.full((len(detections), 3), np.nan)
    for index, points in enumerate(detections):
        if points is None:
            continue
        ok, rvec, tvec = cv2.solvePnP(model_points[use].astype(np.float64), points[use].astype(np.float64), K, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            continue
        rotation_cv, _ = cv2.Rodrigues(rvec)
        rotation = flip @ rotation_cv
        rotvecs[index] = cv2.Rodrigues(rotation)[0][:, 0]
        translations[index] = flip @ tvec[:, 0]
    found = np.flatnonzero(~np.isnan(rotvecs[:, 0]))
    for index in np.flatnonzero(np.isnan(rotvecs[:, 0])):
        nearest = found[np.argmin(np.abs(found - index))]
        rotvecs[index], translations[index] = rotvecs[nearest], translations[nearest]
    return rotvecs, translations


class SequenceFitter:
    """Fits one sequence. ``detections[t]`` is (478, 2) pixels or None (no face in frame t)."""

    def __init__(self, model: FaceModel, correspondence: Correspondence, image_size: tuple[int, int],
                 settings: FitSettings = FitSettings()) -> None:
        self.model = model
        self.settings = settings
        self.width, self.height = image_size
        self.device = torch.device(settings.device)
        self.correspondence = correspondence
        corners = correspondence.corners(model.triangles)                      # (N, 3) vertex ids
        count = len(corners)
        barycentric = torch.sparse_coo_tensor(
            torch.stack([torch.arange(count).repeat_interleave(3), corners.reshape(-1).cpu()]),
            correspondence.barycentrics.reshape(-1), (count, model.vertex_count), check_invariants=True).coalesce()
        self.landmark_basis = Basis(model, settings.identity_modes, mix=barycentric).to(settings.device)
        self.weights = correspondence.weight.to(self.device)
        self.dense_ids = torch.arange(0, FACE_VERTICES, DENSE_STRIDE)
        self.dense_basis = Basis(model, settings.identity_modes, self.dense_ids).to(settings.device)
        self.submesh = model.submesh("face_and_head")
        tangent_u, tangent_v, valid = tangent_masks(self.submesh.triangles.numpy(), self.dense_ids.numpy(),
                                                    model.vertex_count)
        self.tangent_bases = (Basis(model, settings.identity_modes, mix=tangent_u).to(settings.device),
                              Basis(model, settings.identity_modes, mix=tangent_v).to(settings.device))
        self.tangent_valid = torch.from_numpy(valid).float().to(self.device)

    # ------------------------------------------------------------------ helpers
    @torch.no_grad()
    def _visible(self, alpha: torch.Tensor, beta: torch.Tensor, rotvec: torch.Tensor, translation: torch.Tensor,
                 focal: float, centre: tuple[float, float]) -> torch.Tensor:
        """(T, V') bool: which dense vertices the camera sees (depth test against the whole head, facing it)."""
        model = self.model.to(self.device)
        expanded = alpha[None].expand(len(beta), -1)
        verts = model.vertices(expanded, beta)
        verts = verts @ rotation_matrices(rotvec).transpose(1, 2) + translation[:, None]
        K = torch.tensor([[focal, 0.0, centre[0]], [0.0, focal, centre[1]], [0.0, 0.0, 1.0]])
        camera = Camera(K, torch.eye(4), self.width, self.height).to(self.device)
        visible = []
        for start in range(0, len(verts), 8):
            chunk = verts[start:start + 8]
            gbuffer = rasterize(camera, chunk, self.submesh.triangles, cull_backfaces=True)
            points = chunk[:, self.dense_ids]
            pixels = project(points, torch.tensor(focal, device=points.device), torch.tensor(centre, device=points.device))
            col = pixels[..., 0].long().clamp(0, self.width - 1)
            row = pixels[..., 1].long().clamp(0, self.height - 1)
            batch = torch.arange(len(chunk), device=chunk.device)[:, None]
            buffer = gbuffer.depth[batch, row, col]
            inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < self.width) & (pixels[..., 1] >= 0) & \
                (pixels[..., 1] < self.height)
            covered = gbuffer.mask[batch, row, col]
            visible.append(inside & covered & ((-points[..., 2]) - buffer < VISIBLE_DEPTH_M))
        return torch.cat(visible)

    def fit(self, detections: list[np.ndarray | None], identity: np.ndarray | None = None,
            frames: list | None = None, progress: Callable[[str, int, int], None] | None = None,
            start: FitStart | None = None) -> SequenceFit:
        """Fit of the whole sequence (identity fixed when given, from ``start`` when given); see the module doc."""
        s = self.settings
        dev = self.device
        count = len(detections)
        found = np.array([d is not None for d in detections])
        if not found.any():
            raise ValueError("no face found in any frame")
        centre = s.principal_point or (self.width / 2.0, self.height / 2.0)
        focal0 = s.focal_px or 0.5 * self.height / math.tan(math.radians(DEFAULT_FOV_DEG) / 2.0)
        if start is None:
            mean_points = self.landmark_basis.neutral.cpu().numpy()
            rotvec0, translation0 = _pnp_start(mean_points, detections, self.weights.cpu().numpy(), focal0, centre)
        else:
            rotvec0 = np.stack([cv2.Rodrigues(np.asarray(r, dtype=np.float64))[0][:, 0] for r in start.rotations])
            translation0 = np.asarray(start.translations)

        target = torch.zeros(count, len(self.weights), 2, device=dev)
        for index, points in enumerate(detections):
            if points is not None:
                target[index] = torch.as_tensor(points, dtype=torch.float32, device=dev)
        present = torch.as_tensor(found, device=dev).float()
        centre_t = torch.tensor(centre, device=dev)

        rotvec = torch.tensor(rotvec0, dtype=torch.float32, device=dev, requires_grad=True)
        translation = torch.tensor(translation0, dtype=torch.float32, device=dev, requires_grad=True)
        log_focal = torch.tensor(0.0 if start is None or s.focal_px else math.log(start.focal_px / focal0), device=dev,
                                 requires_grad=s.focal_px is None)
        fixed_identity = identity is not None
        alpha = torch.zeros(s.identity_modes, device=dev)
        if fixed_identity or start is not None:
            alpha = torch.as_tensor((identity if fixed_identity else start.identity)[: s.identity_modes],
                                    dtype=torch.float32, device=dev).clone()
        alpha.requires_grad_(not fixed_identity)
        beta = torch.zeros(count, self.model.expression_count, device=dev)
        if start is not None:
            beta = torch.as_tensor(start.expressions, dtype=torch.float32, device=dev).clone()
        beta.requires_grad_(True)
        params = LandmarkParameters(rotvec, translation, beta, alpha, log_focal)
        landmarks = LandmarkEnergy(self.landmark_basis, self.weights, target, present, focal0, centre_t,
                                   energy_weights(s))

        normal_term = shading_term = None
        if frames is not None and s.normal > 0 and all(f.normals is not None for f in frames):
            normal_term = _NormalTerm(frames, s.normal, dev)
        elif frames is not None and s.shading > 0:
            shading_term = ShadingTerm(self.model, self.dense_ids, NARROW_FACE_VERTICES, s.shading, dev)
        dense = None
        if frames is not None and (s.photometric > 0 or normal_term is not None or shading_term is not None):
            rate = 1.0 if normal_term is not None else TEXTURE_RATE     # a capture's normals hold the shape
            dense = _DenseTerm(frames, s.photometric, rate, dev)       # the frames' colours and visibility for all three

        def energy() -> tuple[torch.Tensor, torch.Tensor]:
            total, squared = landmarks(params)
            if dense is not None and dense.active:
                rotation = rotation_matrices(rotvec)
                focal = focal0 * torch.exp(log_focal)
                dense_verts = self.dense_basis.vertices(self.dense_basis.shape(alpha), beta)
                dense_pixels = project(dense_verts @ rotation.transpose(1, 2) + translation[:, None], focal, centre_t)
                colours = dense.sample(dense_pixels)
                if s.photometric > 0:
                    total = total + dense.loss(colours)
                if normal_term is not None or shading_term is not None:
                    u, v = (basis.vertices(basis.shape(alpha), beta) for basis in self.tangent_bases)
                    normals = torch.nn.functional.normalize(torch.linalg.cross(u, v), dim=-1) @ rotation.transpose(1, 2)
                    visible = dense.visible * self.tangent_valid
                    if normal_term is not None:
                        total = total + normal_term.loss(dense_pixels, normals, visible)
                    else:
                        total = total + shading_term.loss(colours, normals, visible)
            return total, squared

        # Adam moves every parameter by about its learning rate per step: scale each to its units.
        rates = {id(rotvec): 0.01, id(translation): 0.002, id(log_focal): 0.01, id(alpha): 0.05, id(beta): 0.02}

        def run(parameters: list[torch.Tensor], iterations: int, stage: str) -> None:
            groups = [{"params": [p], "lr": rates[id(p)] * s.learning_rate / 0.02} for p in parameters
                      if p.requires_grad]
            optimiser = torch.optim.Adam(groups)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, iterations, 0.0)
            for step in range(iterations):
                optimiser.zero_grad(set_to_none=True)
                loss, _ = energy()
                loss.backward()
                optimiser.step()
                schedule.step()
                with torch.no_grad():
                    beta.clamp_(0.0, 1.0)
                if progress is not None:
                    progress(stage, step + 1, iterations)

        if start is None:
            run([rotvec, translation, log_focal], s.rigid_iterations, "rigid")
        landmarks.solve(params, s.landmark_iterations, free_identity=not fixed_identity, free_focal=s.focal_px is None,
                        progress=None if progress is None else lambda step, total: progress("landmarks", step, total))
        if dense is not None and s.refine_iterations > 0:
            with torch.no_grad():
                focal = focal0 * float(torch.exp(log_focal))
                dense.start(self._visible(alpha, beta, rotvec, translation, focal, centre))
            run([rotvec, translation, log_focal, alpha, beta], s.refine_iterations, "refine")
        with torch.no_grad():
            _, squared = energy()
        distance = squared.sqrt()
        error = (distance * landmarks.weight[None]).sum(dim=1).cpu().numpy()
        error[~found] = np.nan
        confidence = np.where(found, np.exp(-np.nan_to_num(error) / 3.0), 0.0)
        return SequenceFit(
            identity=alpha.detach().cpu().numpy(), focal_px=float(focal0 * math.exp(float(log_focal.detach()))),
            principal_point=(float(centre[0]), float(centre[1])),
            rotations=rotation_matrices(rotvec.detach()).cpu().numpy(), translations=translation.detach().cpu().numpy(),
            expressions=beta.detach().cpu().numpy(), landmark_error_px=error, face_found=found,
            confidence=confidence)


def _sample(images: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (T, V', C) of images (T, C, H, W) at pixel positions (T, V', 2) (x, y; v down)."""
    height, width = images.shape[-2:]
    grid = torch.stack([pixels[..., 0] / width * 2.0 - 1.0, pixels[..., 1] / height * 2.0 - 1.0], dim=-1)
    return torch.nn.functional.grid_sample(images, grid[:, None], align_corners=False)[:, :, 0].permute(0, 2, 1)


class _DenseTerm:
    """Photometric consistency: each visible dense vertex should show the same colour in every frame.

    Frames are blurred (1 px) scene-linear images scaled by their lit pixels' mean; the per-vertex
    colour (the texture, no gradient) starts as the visibility-weighted mean over frames at the refinement's
    start and then moves ``rate`` of the way to the current mean per step, so the term pulls each frame's
    vertices onto the image positions where the sequence agrees on the colour. In footage without normals
    the rate is ``TEXTURE_RATE``: a texture re-estimated in full at every step moves with the poses, and the
    two settle together away from the truth, while one held fixed keeps the landmark stage's errors. A
    capture's normal term holds the shape, and there the full re-estimate (rate 1) tracks better
    (docs/tracking-log.md, stops 47-50).
    """

    def __init__(self, frames: list, weight: float, rate: float, device: torch.device) -> None:
        images = np.stack([cv2.GaussianBlur(f.linear, (0, 0), 1.0) for f in frames])
        lit = images.max(axis=3) > 1e-6
        scale = float(images[lit].mean()) if lit.any() else 1.0
        self.images = torch.from_numpy(images / max(scale, 1e-6)).permute(0, 3, 1, 2).float().to(device)
        self.weight = weight
        self.rate = rate
        self.visible: torch.Tensor | None = None
        self.texture: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return self.visible is not None

    def start(self, visible: torch.Tensor) -> None:
        self.visible = visible.float()
        self.texture = None

    def sample(self, pixels: torch.Tensor) -> torch.Tensor:
        """The frames' colours (T, V', 3) at the dense vertices' pixel positions (T, V', 2)."""
        return _sample(self.images, pixels)

    def loss(self, colours: torch.Tensor) -> torch.Tensor:
        """``colours`` (T, V', 3) from :meth:`sample`; each call is one step of the texture (see the class doc)."""
        visible = self.visible
        with torch.no_grad():
            current = (colours * visible[..., None]).sum(0) / visible.sum(0).clamp(min=1.0)[:, None]
            self.texture = current if self.texture is None else torch.lerp(self.texture, current, self.rate)
        squared = ((colours - self.texture[None]) ** 2).sum(-1)
        return self.weight * (robust(squared, 0.1) * visible).sum() / visible.sum().clamp(min=1.0)


class _NormalTerm:
    """Shape from the capture's photometric-stereo normals: each visible dense vertex's mesh normal
    (camera frame) should match the normal map at its projection, where the map is known."""

    def __init__(self, frames: list, weight: float, device: torch.device) -> None:
        normals = np.stack([f.normals for f in frames])                                     # (T, H, W, 3)
        known = (np.abs(normals).sum(axis=3, keepdims=True) > 0).astype(np.float32)
        self.maps = torch.from_numpy(np.concatenate([normals, known], axis=3)).permute(0, 3, 1, 2).float().to(device)
        self.weight = weight

    def loss(self, pixels: torch.Tensor, normals: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        sampled = _sample(self.maps, pixels)                                                # (T, V', 4)
        use = visible * (sampled[..., 3] > 0.999).float()
        squared = ((normals - sampled[..., :3]) ** 2).sum(-1)
        return self.weight * (cauchy(squared, NORMAL_SCALE) * use).sum() / use.sum().clamp(min=1.0)

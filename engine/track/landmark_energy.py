"""The fit's landmark energy over a whole sequence, and its Levenberg-Marquardt solve.

Camera and units as :mod:`engine.track.fit`: ``x_cam = R @ x_model + t`` (metres), camera looking down
-Z, pixels from the top-left corner with v down. Parameters (:class:`LandmarkParameters`): per frame
the head's axis-angle rotation (radians), translation (metres) and the expression weights in [0, 1]; per
sequence the identity modes and ``log(focal / focal0)``.

Energy (``F`` frames with a face out of ``T``, landmark weights ``w_n`` summing to 1):

* ``1/F sum_t sum_n w_n rho(|p_tn - d_tn|^2)``: detected points ``d`` (px) against the projected model
  points ``p``; ``rho`` pseudo-Huber with scale ``robust_px``;
* ``temporal / (T-2) sum_t sum_n w_n |a_tn|^2``: ``a`` the points' acceleration in camera space
  (mm / frame^2), so the track is smooth where the detector jitters and faceless frames are bridged;
* ``identity_prior |alpha|^2 + expression_l1 mean_t sum_e beta_te + focal_prior log(f / f0)^2``.

Why a second-order solve: a frame's depth, the focal length, the identity's proportions and some
expressions trade off along directions the landmarks of one view barely constrain, where first-order
steps crawl (the fit used 2000 Adam steps here). Gauss-Newton sees that curvature and stops at the
minimum in at most 30 systems (26 on a 100-frame video). Its normal equations are block-banded (the
acceleration couples each frame to two neighbours on either side) and bordered by the sequence's
identity and focal length: a block Cholesky of the band and the Schur complement of the sequence's
unknowns solve them in tens of milliseconds, the Jacobians are in closed form (0.3 s a system for 100
frames on two cores). The temporal term's identity blocks (the identity moves the acceleration only
through the head's rotation) are left out of the Hessian, not the gradient. Expression weights at a
bound the gradient pushes past are held there, and a weight a step would carry past one is put on it and
the rest solved again (projected Newton).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.face.model import FaceModel

FRAME_CHUNK = 32               # frames whose Jacobians are held at once
ACTIVE_SET_PASSES = 4          # solves per step as expression weights meet their bounds
MM_PER_M = 1000.0


def rotation_matrices(rotvec: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3) (radians); differentiable at 0."""
    zero = torch.zeros_like(rotvec[..., 0])
    skew = torch.stack([zero, -rotvec[..., 2], rotvec[..., 1], rotvec[..., 2], zero, -rotvec[..., 0],
                        -rotvec[..., 1], rotvec[..., 0], zero], dim=-1).reshape(*rotvec.shape[:-1], 3, 3)
    return torch.linalg.matrix_exp(skew)


def project(points: torch.Tensor, focal: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Camera-space points (..., 3) (looking down -Z) -> pixels (..., 2), v down."""
    depth = (-points[..., 2]).clamp(min=1e-3)
    return torch.stack([focal * points[..., 0] / depth + centre[0], -focal * points[..., 1] / depth + centre[1]],
                       dim=-1)


def robust(squared: torch.Tensor, scale: float) -> torch.Tensor:
    """Pseudo-Huber of squared distances (px^2): ~ d^2 / 2 near 0, ~ scale * d far away."""
    return scale * scale * (torch.sqrt(1.0 + squared / (scale * scale)) - 1.0)


def cauchy(squared: torch.Tensor, scale: float) -> torch.Tensor:
    """Cauchy of squared distances: ~ d^2 near 0, ~ log d far away, so its pull fades beyond ``scale``."""
    return scale * scale * torch.log1p(squared / (scale * scale))


class Basis:
    """The model seen through a linear map of its vertices: neutral (V', 3) and bases (K, V', 3).

    ``vertex_ids`` picks vertices; a sparse (V', V) ``mix`` takes linear combinations of them instead
    (tangents, landmark barycentrics), which the model's linearity carries over to its bases.
    """

    def __init__(self, model: FaceModel, identity_modes: int, vertex_ids: torch.Tensor | None = None,
                 mix: torch.Tensor | None = None) -> None:
        count = model.vertex_count
        identity = model.identity_basis[:identity_modes].reshape(identity_modes, count, 3)
        expression = model.expression_basis.reshape(-1, count, 3)
        if mix is None:
            ids = vertex_ids.to(model.device)
            self.neutral, self.identity, self.expression = model.neutral[ids], identity[:, ids], expression[:, ids]
        else:
            mix = mix.to(model.device)

            def apply(basis: torch.Tensor) -> torch.Tensor:             # (K, V, 3) -> (K, V', 3)
                flat = basis.permute(1, 0, 2).reshape(count, -1)
                return torch.sparse.mm(mix, flat).reshape(mix.shape[0], len(basis), 3).permute(1, 0, 2).contiguous()

            self.neutral = apply(model.neutral[None])[0]
            self.identity, self.expression = apply(identity), apply(expression)

    def to(self, device: str | torch.device) -> Basis:
        for name in ("neutral", "identity", "expression"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def shape(self, identity: torch.Tensor) -> torch.Tensor:
        """Neutral of this identity (V', 3)."""
        return self.neutral + torch.einsum("k,kvc->vc", identity, self.identity)

    def vertices(self, identity_shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(T, V', 3) model-space vertices for expressions (T, 53)."""
        return identity_shape[None] + torch.einsum("tk,kvc->tvc", expression, self.expression)


@dataclass
class LandmarkParameters:
    """What the fit estimates (torch tensors, optimised in place)."""

    rotvec: torch.Tensor          # (T, 3) axis-angle, radians
    translation: torch.Tensor     # (T, 3) metres
    beta: torch.Tensor            # (T, E) expression weights in [0, 1]
    alpha: torch.Tensor           # (K,) identity modes
    log_focal: torch.Tensor       # () log(focal / focal0)

    def frame_vector(self) -> torch.Tensor:
        """(T, 6 + E): rotation, translation, expression of each frame."""
        return torch.cat([self.rotvec, self.translation, self.beta], dim=1)

    def sequence_vector(self) -> torch.Tensor:
        """(K + 1,): identity, log focal."""
        return torch.cat([self.alpha, self.log_focal[None]])

    def moved(self, frame_step: torch.Tensor, sequence_step: torch.Tensor) -> LandmarkParameters:
        """A copy moved by the steps (shapes of the two vectors), expression weights clamped to [0, 1]."""
        frame = self.frame_vector() + frame_step
        sequence = self.sequence_vector() + sequence_step
        return LandmarkParameters(frame[:, :3], frame[:, 3:6], frame[:, 6:].clamp(0.0, 1.0), sequence[:-1], sequence[-1])

    def assign(self, other: LandmarkParameters) -> None:
        """Copy ``other``'s values into these tensors."""
        for name in ("rotvec", "translation", "beta", "alpha", "log_focal"):
            getattr(self, name).copy_(getattr(other, name))


@dataclass(frozen=True)
class EnergyWeights:
    """The energy's weights (the fit's settings carry them)."""

    robust_px: float
    temporal: float
    identity_prior: float
    expression_l1: float
    focal_prior: float


class LandmarkEnergy:
    """The landmark energy of one sequence (module doc). ``basis`` maps the model to the N landmark
    points; ``target`` (T, N, 2) pixels, zero where ``present`` (T,) is 0."""

    def __init__(self, basis: Basis, weight: torch.Tensor, target: torch.Tensor, present: torch.Tensor,
                 focal0: float, centre: torch.Tensor, weights: EnergyWeights) -> None:
        self.basis = basis
        self.weight = weight / weight.sum()
        self.target = target
        self.present = present
        self.focal0 = focal0
        self.centre = centre
        self.w = weights

    def camera_points(self, p: LandmarkParameters) -> torch.Tensor:
        """(T, N, 3) camera-space landmark points, metres."""
        model_points = self.basis.vertices(self.basis.shape(p.alpha), p.beta)
        return model_points @ rotation_matrices(p.rotvec).transpose(1, 2) + p.translation[:, None]

    def __call__(self, p: LandmarkParameters) -> tuple[torch.Tensor, torch.Tensor]:
        """The energy and the squared landmark distances (T, N) in px^2 (detached)."""
        w = self.w
        camera = self.camera_points(p)
        pixels = project(camera, self.focal0 * torch.exp(p.log_focal), self.centre)
        squared = ((pixels - self.target) ** 2).sum(dim=-1)
        data = (robust(squared, w.robust_px) * self.weight).sum(dim=1)
        total = (data * self.present).sum() / self.present.sum()
        if len(camera) > 2:
            accel = (camera[2:] - 2 * camera[1:-1] + camera[:-2]) * MM_PER_M
            total = total + w.temporal * ((accel ** 2).sum(-1) * self.weight).sum(-1).mean()
        total = total + w.identity_prior * (p.alpha ** 2).sum() + w.expression_l1 * p.beta.sum(dim=1).mean()
        return total + w.focal_prior * p.log_focal ** 2, squared.detach()

    # ------------------------------------------------------------------ Gauss-Newton
    def _jacobians(self, p: LandmarkParameters, frames: slice) -> tuple[torch.Tensor, ...]:
        """For ``frames``: camera points (W, N, 3) and pixels (W, N, 2), and their Jacobians with respect to
        each frame's vector (W, N, 3 | 2, F) and the sequence's (W, N, 3 | 2, G), in closed form (the
        model is linear in its coefficients; only the rotation goes through autograd)."""
        rotvec, beta = p.rotvec[frames], p.beta[frames]
        count = len(rotvec)
        rotation = rotation_matrices(rotvec)                                           # (W, 3, 3)
        d_rotation = torch.func.vmap(torch.func.jacfwd(rotation_matrices))(rotvec)     # (W, 3, 3, 3)
        model = self.basis.vertices(self.basis.shape(p.alpha), beta)                   # (W, N, 3)
        camera = model @ rotation.transpose(1, 2) + p.translation[frames, None]
        eye = torch.eye(3, dtype=camera.dtype, device=camera.device).expand(count, model.shape[1], 3, 3)
        frame_jacobian = torch.cat([torch.einsum("tijk,tnj->tnik", d_rotation, model), eye,
                                    torch.einsum("tij,enj->tnie", rotation, self.basis.expression)], dim=3)
        identity = torch.einsum("tij,knj->tnik", rotation, self.basis.identity)        # (W, N, 3, K)
        sequence_jacobian = torch.cat([identity, torch.zeros_like(identity[..., :1])], dim=3)
        focal = self.focal0 * torch.exp(p.log_focal)
        pixels = project(camera, focal, self.centre)
        depth = (-camera[..., 2]).clamp(min=1e-3)
        zero = torch.zeros_like(depth)
        projection = torch.stack([torch.stack([focal / depth, zero, focal * camera[..., 0] / depth ** 2], -1),
                                  torch.stack([zero, -focal / depth, -focal * camera[..., 1] / depth ** 2], -1)],
                                 dim=-2)                                               # (W, N, 2, 3)
        pixel_frame = projection @ frame_jacobian
        pixel_sequence = projection @ sequence_jacobian
        pixel_sequence[..., -1] = pixels - self.centre                                  # d pixel / d log focal
        return camera, pixels, frame_jacobian, sequence_jacobian, pixel_frame, pixel_sequence

    def normal_equations(self, p: LandmarkParameters) -> _BlockSystem:
        """Gauss-Newton Hessian and gradient of the energy over [frame 0, ..., frame T-1, sequence]; the
        robust term enters through its IRLS weights."""
        x, y = p.frame_vector(), p.sequence_vector()
        count, width = x.shape
        blocks = _BlockSystem(count, width, len(y), x.device)
        scale = self.w.robust_px ** 2
        coeffs = (1.0, -2.0, 1.0)
        accel_weight = (2.0 * self.w.temporal / max(count - 2, 1) * self.weight).repeat_interleave(3)  # (3N,)
        for start in range(0, count, FRAME_CHUNK):
            stop = min(start + FRAME_CHUNK, count)
            lo, hi = max(start - 1, 0), min(stop + 1, count)                # one frame of halo each side
            camera, pixels, cam_f, cam_g, pix_f, pix_g = self._jacobians(p, slice(lo, hi))
            # landmarks of frames start..stop-1 (IRLS weights of the pseudo-Huber: rho'(s) = 1/2 / sqrt(1 + s/c^2))
            own = slice(start - lo, stop - lo)
            rows = torch.arange(start, stop, device=x.device)
            residual = pixels[own] - self.target[start:stop]
            irls = self.present[start:stop, None] / self.present.sum() * self.weight / torch.sqrt(
                1.0 + (residual ** 2).sum(-1) / scale)                      # (C, N)
            pf = pix_f[own].reshape(stop - start, -1, width)                  # (C, 2N, F)
            pg = pix_g[own].reshape(stop - start, -1, len(y))                 # (C, 2N, G)
            irls = irls.repeat_interleave(2, dim=1)[..., None]                # per pixel coordinate
            weighted = pf * irls
            residual = residual.reshape(stop - start, -1)
            blocks.add_pair(rows, 0, weighted.transpose(1, 2) @ pf)
            blocks.add_cross(rows, weighted.transpose(1, 2) @ pg)
            blocks.add_frame_gradient(rows, torch.einsum("tr,trf->tf", residual, weighted))
            weighted_g = pg * irls
            blocks.add_sequence(weighted_g.reshape(-1, len(y)).T @ pg.reshape(-1, len(y)),
                                torch.einsum("tr,trg->g", residual, weighted_g))
            # accelerations centred on frames max(start, 1)..min(stop, count - 1) - 1 (mm / frame^2)
            first, last = max(start, 1), min(stop, count - 1)
            if first >= last:
                continue
            centres = torch.arange(first, last, device=x.device)
            k = centres - lo
            cam_f = MM_PER_M * cam_f.reshape(hi - lo, -1, width)            # (W, 3N, F) mm per unit
            cam = MM_PER_M * camera.reshape(hi - lo, -1)
            accel = sum(c * cam[k + o] for o, c in zip((-1, 0, 1), coeffs))                    # (C, 3N)
            weighted = cam_f * accel_weight[:, None]
            gram = {d: weighted[:len(cam_f) - d].transpose(1, 2) @ cam_f[d:] for d in (0, 1, 2)}  # J(s)' W J(s + d)
            cam_g = MM_PER_M * cam_g.reshape(hi - lo, -1, len(y))
            for i in range(3):
                for j in range(i, 3):
                    blocks.add_pair(centres + i - 1, j - i, coeffs[i] * coeffs[j] * gram[j - i][k + i - 1])
                blocks.add_frame_gradient(centres + i - 1, coeffs[i] * torch.einsum("tr,trf->tf", accel, weighted[k + i - 1]))
            # the identity moves the acceleration only through the head's rotation: its Hessian blocks here
            # are left out (the gradient keeps them)
            blocks.sequence_gradient += sum(coeffs[i] * torch.einsum("tr,trg->g", accel * accel_weight, cam_g[k + i - 1])
                                            for i in range(3)).double()
        # priors: identity (quadratic), expression L1 (linear), focal (quadratic)
        blocks.sequence_hessian[:-1, :-1] += 2.0 * self.w.identity_prior * torch.eye(len(y) - 1, dtype=torch.float64, device=x.device)
        blocks.sequence_gradient[:-1] += 2.0 * self.w.identity_prior * p.alpha.double()
        blocks.sequence_hessian[-1, -1] += 2.0 * self.w.focal_prior
        blocks.sequence_gradient[-1] += 2.0 * self.w.focal_prior * float(p.log_focal)
        blocks.frame_gradient[:, 6:] += self.w.expression_l1 / count
        return blocks

    @torch.no_grad()
    def solve(self, p: LandmarkParameters, iterations: int, free_identity: bool, free_focal: bool,
              progress: Callable[[int, int], None] | None = None) -> None:
        """Levenberg-Marquardt (Marquardt's diagonal damping) on ``p`` in place: at most ``iterations``
        Gauss-Newton systems, fewer when no damped step lowers the energy any more."""
        count, width = p.frame_vector().shape
        lower = torch.full((count, width), -math.inf, dtype=torch.float64, device=p.beta.device)
        upper = torch.full_like(lower, math.inf)
        lower[:, 6:], upper[:, 6:] = 0.0, 1.0
        held = torch.zeros(len(p.sequence_vector()), dtype=torch.bool, device=p.beta.device)
        held[:-1], held[-1] = not free_identity, not free_focal
        energy = float(self(p)[0])
        damping = 1e-3
        for step in range(iterations):
            system = self.normal_equations(p)
            value = p.frame_vector().double()
            improved = False
            while damping < 1e8:
                try:
                    frame_step, sequence_step = system.bounded_step(value, lower, upper, held, damping)
                except torch.linalg.LinAlgError:                        # not positive definite in rounding
                    damping *= 4.0
                    continue
                moved = p.moved(frame_step.to(p.beta), sequence_step.to(p.beta))
                trial = float(self(moved)[0])
                if trial < energy:
                    improved = True
                    p.assign(moved)
                    energy = trial
                    damping = max(damping / 3.0, 1e-7)
                    break
                damping *= 4.0
            if progress is not None:
                progress(step + 1 if improved else iterations, iterations)
            if not improved:
                return


class _BlockSystem:
    """Gauss-Newton normal equations in blocks (float64, on the fit's device): per frame an (F, F)
    diagonal block and (F, F) blocks to the next two frames, (F, G) frame-sequence blocks and the (G, G)
    sequence block, with the gradient. (Torch, not NumPy: two thread pools on two cores fight.)"""

    def __init__(self, count: int, width: int, sequence: int, device: torch.device) -> None:
        self.count, self.width, self.sequence = count, width, sequence
        zeros = {"dtype": torch.float64, "device": device}
        self.pairs = {offset: torch.zeros(max(count - offset, 0), width, width, **zeros) for offset in (0, 1, 2)}
        self.cross = torch.zeros(count, width, sequence, **zeros)
        self.sequence_hessian = torch.zeros(sequence, sequence, **zeros)
        self.frame_gradient = torch.zeros(count, width, **zeros)
        self.sequence_gradient = torch.zeros(sequence, **zeros)

    def add_pair(self, rows: torch.Tensor, offset: int, block: torch.Tensor) -> None:
        """Add ``block`` (C, F, F) to the Hessian blocks (rows, rows + offset); diagonal blocks are made
        exactly symmetric (float32 products are not quite)."""
        block = block.double()
        if offset == 0:
            block = 0.5 * (block + block.transpose(1, 2))
        self.pairs[offset].index_add_(0, rows, block)

    def add_cross(self, rows: torch.Tensor, block: torch.Tensor) -> None:
        """Add ``block`` (C, F, G) to the frame-sequence blocks of frames ``rows``."""
        self.cross.index_add_(0, rows, block.double())

    def add_frame_gradient(self, rows: torch.Tensor, gradient: torch.Tensor) -> None:
        self.frame_gradient.index_add_(0, rows, gradient.double())

    def add_sequence(self, hessian: torch.Tensor, gradient: torch.Tensor) -> None:
        self.sequence_hessian += hessian.double()
        self.sequence_gradient += gradient.double()

    def matvec(self, frame: torch.Tensor, sequence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Hessian times the vector (frame (T, F), sequence (G,))."""
        out = torch.einsum("tab,tb->ta", self.pairs[0], frame) + self.cross @ sequence
        for offset in (1, 2):
            out[:-offset] += torch.einsum("tab,tb->ta", self.pairs[offset], frame[offset:])
            out[offset:] += torch.einsum("tab,ta->tb", self.pairs[offset], frame[:-offset])
        return out, torch.einsum("tag,ta->g", self.cross, frame) + self.sequence_hessian @ sequence

    def solve(self, free_frame: torch.Tensor, free_sequence: torch.Tensor, damping: float, rhs_frame: torch.Tensor,
              rhs_sequence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Solve (H + damping * diag(H)) x = rhs over the free variables (x = 0 on the others): block
        Cholesky of the frames' band (blocks to two neighbours), then the sequence's Schur complement."""
        free_f, free_g = free_frame.double(), free_sequence.double()
        pairs = {offset: self.pairs[offset] * free_f[:self.count - offset, :, None] * free_f[offset:, None, :]
                 for offset in (0, 1, 2)}
        diagonal = torch.diagonal(pairs[0], dim1=1, dim2=2)
        sequence = self.sequence_hessian * free_g[:, None] * free_g[None]
        floor = 1e-9 * max(float(diagonal.max()), float(torch.diag(sequence).max()), 1e-30)
        pairs[0] = pairs[0] + torch.diag_embed(damping * (diagonal + floor) + (1.0 - free_f))
        sequence = sequence + torch.diag(damping * (torch.diag(sequence) + floor) + (1.0 - free_g))
        cross = self.cross * free_f[..., None] * free_g                         # (T, F, G)
        solved = _BandCholesky(pairs).solve(torch.cat([cross, (rhs_frame * free_f)[..., None]], dim=2))
        flat_cross, flat_solved = cross.reshape(-1, self.sequence), solved.reshape(-1, self.sequence + 1)
        schur = sequence - flat_cross.T @ flat_solved[:, :-1]
        seq = torch.linalg.solve(schur, rhs_sequence * free_g - flat_cross.T @ flat_solved[:, -1])
        return solved[..., -1] - solved[..., :-1] @ seq, seq

    def bounded_step(self, value: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, held: torch.Tensor,
                     damping: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The damped Gauss-Newton step (frame (T, F), sequence (G,)) for frame values ``value`` within
        [lower, upper]; ``held`` sequence variables stay. Variables at a bound the gradient pushes past are
        held there; a variable the step would carry past a bound is put on it and the rest solved again
        (at most ACTIVE_SET_PASSES times)."""
        gradient = self.frame_gradient
        fixed = ((value <= lower) & (gradient > 0)) | ((value >= upper) & (gradient < 0))
        placed = torch.zeros_like(value)                   # the steps of fixed variables (0, or onto a bound)
        for _ in range(ACTIVE_SET_PASSES):
            pull_frame, pull_sequence = self.matvec(placed, torch.zeros_like(self.sequence_gradient))
            frame, sequence = self.solve(~fixed, ~held, damping, -(gradient + pull_frame),
                                         -(self.sequence_gradient + pull_sequence))
            frame = torch.where(fixed, placed, frame)
            low, high = ~fixed & (value + frame < lower), ~fixed & (value + frame > upper)
            if not bool((low | high).any()):
                break
            placed = torch.where(low, lower - value, torch.where(high, upper - value, placed))
            fixed |= low | high
        return frame, sequence


class _BandCholesky:
    """Cholesky factor L of a symmetric positive definite block matrix whose blocks reach two neighbours:
    ``pairs[o][t]`` is the block (t, t + o). L's blocks: ``diag[t]`` = L(t, t) (lower triangular),
    ``near[t]`` = L(t + 1, t), ``far[t]`` = L(t + 2, t)."""

    def __init__(self, pairs: dict[int, torch.Tensor]) -> None:
        count = len(pairs[0])
        work = pairs[0].clone()
        below = pairs[1].transpose(1, 2).clone()                         # A(t + 1, t)
        self.diag = torch.zeros_like(work)
        self.near = torch.zeros_like(below)
        self.far = pairs[2].transpose(1, 2).clone()                      # A(t + 2, t), becomes L(t + 2, t)
        for t in range(count):
            self.diag[t] = torch.linalg.cholesky(work[t])
            if t + 1 < count:
                self.near[t] = torch.linalg.solve_triangular(self.diag[t], below[t].T, upper=False).T
                work[t + 1] -= self.near[t] @ self.near[t].T
            if t + 2 < count:
                self.far[t] = torch.linalg.solve_triangular(self.diag[t], self.far[t].T, upper=False).T
                work[t + 2] -= self.far[t] @ self.far[t].T
                below[t + 1] -= self.far[t] @ self.near[t].T

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """A^-1 rhs for rhs (T, F, C)."""
        count = len(self.diag)
        y = torch.zeros_like(rhs)
        for t in range(count):
            b = rhs[t].clone()
            if t >= 1:
                b -= self.near[t - 1] @ y[t - 1]
            if t >= 2:
                b -= self.far[t - 2] @ y[t - 2]
            y[t] = torch.linalg.solve_triangular(self.diag[t], b, upper=False)
        x = torch.zeros_like(rhs)
        for t in reversed(range(count)):
            b = y[t].clone()
            if t + 1 < count:
                b -= self.near[t].T @ x[t + 1]
            if t + 2 < count:
                b -= self.far[t].T @ x[t + 2]
            x[t] = torch.linalg.solve_triangular(self.diag[t].T, b, upper=True)
        return x


def energy_weights(settings: object) -> EnergyWeights:
    """The :class:`EnergyWeights` of a fit's settings (fields of the same names)."""
    return EnergyWeights(**{name: getattr(settings, name) for name in EnergyWeights.__dataclass_fields__})

"""The fit's landmark energy and its Levenberg-Marquardt solve (:mod:`engine.track.landmark_energy`).

The Gauss-Newton blocks are checked against autograd (gradient) and finite differences (Hessian, where the
residuals are zero so Gauss-Newton's Hessian is the exact one); the Schur-complement band solve against a
dense solve; the solve itself against a sequence whose truth it must recover exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.face.model import FaceModel
from engine.track.correspondence import Correspondence
from engine.track.fit import FitSettings, SequenceFitter
from engine.track.landmark_energy import EnergyWeights, LandmarkEnergy, LandmarkParameters, energy_weights, project

FRAMES = 6
FOCAL0 = 500.0
CENTRE = torch.tensor([128.0, 128.0])


@pytest.fixture(scope="module")
def fitter() -> SequenceFitter:
    return SequenceFitter(FaceModel.load(), Correspondence.load(), (256, 256), FitSettings())


def _parameters(seed: int) -> LandmarkParameters:
    """A plausible head 1 m in front of the camera, moving a little, with sparse expressions."""
    g = torch.Generator().manual_seed(seed)
    beta = torch.rand(FRAMES, 53, generator=g) * (torch.rand(FRAMES, 53, generator=g) < 0.3)
    return LandmarkParameters(rotvec=torch.randn(FRAMES, 3, generator=g) * 0.1,
                              translation=torch.tensor([0.0, 0.0, -1.0]) + torch.randn(FRAMES, 3, generator=g) * 0.01,
                              beta=beta, alpha=torch.randn(100, generator=g) * 0.5,
                              log_focal=torch.tensor(0.05))


def _energy(fitter: SequenceFitter, target: torch.Tensor, present: torch.Tensor, weights: EnergyWeights) -> LandmarkEnergy:
    return LandmarkEnergy(fitter.landmark_basis, fitter.correspondence.weight, target, present, FOCAL0, CENTRE, weights)


def _projected(fitter: SequenceFitter, p: LandmarkParameters) -> torch.Tensor:
    """(T, N, 2) pixels of the landmark points of ``p``: exact detections."""
    energy = _energy(fitter, torch.zeros(1), torch.ones(1), energy_weights(FitSettings()))
    with torch.no_grad():
        return project(energy.camera_points(p), FOCAL0 * torch.exp(p.log_focal), CENTRE)


def _autograd_gradient(energy: LandmarkEnergy, frame: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    x = torch.tensor(frame, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(sequence, dtype=torch.float64, requires_grad=True)
    p = LandmarkParameters(x[:, :3].float(), x[:, 3:6].float(), x[:, 6:].float(), y[:-1].float(), y[-1].float())
    energy(p)[0].backward()
    return np.concatenate([x.grad.numpy().ravel(), y.grad.numpy()])


@pytest.mark.parametrize("landmarks", ["random", "exact"])
def test_gauss_newton_gradient_matches_autograd(fitter: SequenceFitter, landmarks: str) -> None:
    """Random landmarks (the data term's gradient dominates) and exact ones on a head at rest (zero
    acceleration: the priors' gradient alone)."""
    p = _parameters(0)
    if landmarks == "random":
        target = torch.rand(FRAMES, len(fitter.weights), 2, generator=torch.Generator().manual_seed(1)) * 60 + 98
    else:
        p = LandmarkParameters(p.rotvec[:1].repeat(FRAMES, 1), p.translation[:1].repeat(FRAMES, 1),
                               p.beta[:1].repeat(FRAMES, 1), p.alpha, p.log_focal)
        target = _projected(fitter, p)
    present = torch.ones(FRAMES)
    present[2] = 0.0                                          # a frame without a face: temporal and priors only
    energy = _energy(fitter, target, present, energy_weights(FitSettings()))
    with torch.no_grad():
        system = energy.normal_equations(p)
    ours = np.concatenate([system.frame_gradient.numpy().ravel(), system.sequence_gradient.numpy()])
    theirs = _autograd_gradient(energy, p.frame_vector().double().numpy(), p.sequence_vector().double().numpy())
    assert np.abs(ours - theirs).max() < 1e-4 * np.abs(theirs).max()


def test_gauss_newton_hessian_is_exact_where_residuals_vanish(fitter: SequenceFitter) -> None:
    """Zero landmark residuals and a head at rest (zero acceleration): Gauss-Newton's Hessian is the
    energy's, so H d matches the gradient's central difference along d."""
    p = _parameters(2)
    p = LandmarkParameters(p.rotvec[:1].repeat(FRAMES, 1), p.translation[:1].repeat(FRAMES, 1), p.beta[:1].repeat(FRAMES, 1),
                           p.alpha, p.log_focal)
    energy = _energy(fitter, _projected(fitter, p),
                     torch.ones(FRAMES), energy_weights(FitSettings()))
    with torch.no_grad():
        system = energy.normal_equations(p)
    frame, sequence = p.frame_vector().double().numpy(), p.sequence_vector().double().numpy()
    d_frame = np.random.default_rng(3).normal(size=frame.shape) * 1e-4
    d_sequence = np.random.default_rng(4).normal(size=sequence.shape) * 1e-4
    hd = np.concatenate([part.numpy().ravel() for part in system.matvec(torch.from_numpy(d_frame), torch.from_numpy(d_sequence))])
    difference = (_autograd_gradient(energy, frame + d_frame, sequence + d_sequence)
                  - _autograd_gradient(energy, frame - d_frame, sequence - d_sequence)) / 2.0
    assert np.abs(hd - difference).max() < 0.01 * np.abs(difference).max()
    assert np.corrcoef(hd, difference)[0, 1] > 0.99999


def test_band_schur_solve_matches_a_dense_solve_with_held_variables(fitter: SequenceFitter) -> None:
    p = _parameters(5)
    target = _projected(fitter, p) + 2.0
    with torch.no_grad():
        system = _energy(fitter, target, torch.ones(FRAMES), energy_weights(FitSettings())).normal_equations(p)
    width, sequence = 59, 101
    size = FRAMES * width + sequence
    identity = torch.eye(size, dtype=torch.float64)
    dense = torch.stack([torch.cat([part.ravel() for part in system.matvec(col[:-sequence].reshape(FRAMES, width),
                                                                          col[-sequence:])])
                         for col in identity], dim=1).numpy()
    assert np.abs(dense - dense.T).max() < 1e-9 * np.abs(dense).max()
    free_frame = np.ones((FRAMES, width), bool)
    free_frame[2, 10] = free_frame[4, 30] = False
    free_sequence = np.ones(sequence, bool)
    free_sequence[7] = False
    rng = np.random.default_rng(6)
    rhs_frame, rhs_sequence = rng.normal(size=(FRAMES, width)), rng.normal(size=sequence)
    frame, seq = system.solve(torch.from_numpy(free_frame), torch.from_numpy(free_sequence), 0.1,
                              torch.from_numpy(rhs_frame), torch.from_numpy(rhs_sequence))
    free = np.concatenate([free_frame.ravel(), free_sequence])
    reduced = dense[np.ix_(free, free)]
    reduced += np.diag(0.1 * (np.diag(reduced) + 1e-9 * np.diag(reduced).max()))
    expected = np.linalg.solve(reduced, np.concatenate([rhs_frame.ravel(), rhs_sequence])[free])
    got = np.concatenate([frame.numpy().ravel(), seq.numpy()])
    assert np.abs(got[free] - expected).max() < 1e-6 * np.abs(expected).max()
    assert not got[~free].any()


def test_solve_recovers_an_exact_sequence_with_weights_on_their_bounds(fitter: SequenceFitter) -> None:
    """Exact landmarks, no priors, the focal length known: the truth is the minimum (0 px); the solve must
    reach it from a neutral start and the mean face, holding the many zero expression weights on their
    bound. (With the focal length free as well, depth and the face's size trade off by a few 0.1 mm.)"""
    truth = _parameters(7)
    truth.beta[:, :5] = 1.0                                    # some weights on the upper bound too
    weights = replace(energy_weights(FitSettings()), temporal=0.0, identity_prior=0.0, expression_l1=0.0,
                      focal_prior=0.0)
    energy = _energy(fitter, _projected(fitter, truth),
                     torch.ones(FRAMES), weights)
    p = LandmarkParameters(truth.rotvec + 0.05, truth.translation + 0.01, torch.full_like(truth.beta, 0.2),
                           torch.zeros_like(truth.alpha), truth.log_focal.clone())
    start = float(energy(p)[0])
    steps = []
    energy.solve(p, 40, free_identity=True, free_focal=False, progress=lambda step, total: steps.append(step))
    _, squared = energy(p)
    assert start > 10.0 and float(squared.sqrt().max()) < 0.01           # pixels
    assert steps and steps[-1] == 40 and len(steps) < 40                  # converged early, the bar filled
    assert float(p.beta.min()) == 0.0 and float(p.beta.max()) == 1.0
    assert float(p.log_focal) == float(truth.log_focal)                   # held: the focal length was known
    points = energy.camera_points(p).detach()
    assert float((points - energy.camera_points(truth)).norm(dim=-1).max()) < 1e-4       # metres


def test_solve_holds_expression_weights_in_the_box(fitter: SequenceFitter) -> None:
    """A jaw opened beyond the model's range (weight 1.5; exact landmarks, no priors, the identity and focal
    length known): the solve stops the weight at its bound 1 and leaves the rest of the opening as residual."""
    truth = _parameters(7)
    truth.beta.zero_()
    truth.beta[:, fitter.model.expression_names.index("jawOpen")] = 1.5
    weights = replace(energy_weights(FitSettings()), temporal=0.0, identity_prior=0.0, expression_l1=0.0,
                      focal_prior=0.0)
    energy = _energy(fitter, _projected(fitter, truth), torch.ones(FRAMES), weights)
    p = LandmarkParameters(truth.rotvec + 0.05, truth.translation + 0.01, torch.full_like(truth.beta, 0.2),
                           truth.alpha.clone(), truth.log_focal.clone())
    energy.solve(p, 60, free_identity=False, free_focal=False)
    jaw = p.beta[:, fitter.model.expression_names.index("jawOpen")]
    assert torch.equal(jaw, torch.ones(FRAMES)) and float(p.beta.max()) == 1.0 and float(p.beta.min()) >= 0.0
    assert float(energy(p)[1].sqrt().max()) > 1.0                       # pixels; measured 3.3


@pytest.mark.parametrize("frames", [1, 2])
def test_solve_handles_sequences_too_short_for_the_temporal_term(fitter: SequenceFitter, frames: int) -> None:
    """One frame (the benchmark's frame-by-frame baseline) or two: no acceleration, still a solve."""
    truth = _parameters(8)
    truth = LandmarkParameters(truth.rotvec[:frames], truth.translation[:frames], truth.beta[:frames], truth.alpha,
                               truth.log_focal)
    weights = replace(energy_weights(FitSettings()), expression_l1=0.0, identity_prior=0.0)
    energy = _energy(fitter, _projected(fitter, truth),
                     torch.ones(frames), weights)
    p = LandmarkParameters(truth.rotvec + 0.03, truth.translation.clone(), torch.zeros_like(truth.beta),
                           torch.zeros_like(truth.alpha), truth.log_focal.clone())
    energy.solve(p, 30, free_identity=True, free_focal=False)
    assert float(energy(p)[1].sqrt().max()) < 0.05                                   # pixels


def test_solve_ends_at_a_constrained_minimum(fitter: SequenceFitter) -> None:
    """Noisy landmarks and the fit's own weights (the expression L1 pins many weights at 0): where the
    solve stops, the gradient vanishes on the free unknowns and points out of the box on the held weights
    (the Karush-Kuhn-Tucker conditions), relative to the start's gradient."""
    truth = _parameters(9)
    noise = torch.randn(FRAMES, len(fitter.weights), 2, generator=torch.Generator().manual_seed(10))
    energy = _energy(fitter, _projected(fitter, truth) + noise, torch.ones(FRAMES), energy_weights(FitSettings()))
    p = LandmarkParameters(truth.rotvec + 0.05, truth.translation + 0.01, torch.full_like(truth.beta, 0.2),
                           torch.zeros_like(truth.alpha), torch.tensor(0.0))
    with torch.no_grad():
        start = energy.normal_equations(p)
    steps = []
    energy.solve(p, 120, free_identity=True, free_focal=True, progress=lambda step, total: steps.append(step))
    assert steps[-1] == 120 and len(steps) < 120              # stopped once no step lowered the energy (~72)
    with torch.no_grad():
        end = energy.normal_equations(p)
    scale = float(torch.cat([start.frame_gradient.ravel(), start.sequence_gradient]).abs().max())
    gradient, beta = end.frame_gradient, p.beta.double()
    tolerance = 1e-3 * scale
    assert float(gradient[:, :6].abs().max()) < tolerance and float(end.sequence_gradient.abs().max()) < tolerance
    expression = gradient[:, 6:]
    inside = (beta > 0) & (beta < 1)
    assert int((beta == 0).sum()) > 50                                        # the L1 holds many at zero
    assert float(expression[inside].abs().max()) < tolerance
    assert bool((expression[beta == 0] > -tolerance).all()) and bool((expression[beta == 1] < tolerance).all())

"""Linear tangent masks (engine.face.tangents): their cross product is the surface normal, on a sphere
(exact answer: the radius) and on the face model (against the area-weighted vertex normals)."""

from __future__ import annotations

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.face.tangents import tangent_masks
from engine.render.rasterize import vertex_normals


def _uv_sphere(rings: int = 24, segments: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere with outward-wound triangles; vertex 0 and 1 are the poles."""
    points = [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]
    for ring in range(1, rings):
        theta = np.pi * ring / rings
        for segment in range(segments):
            phi = 2 * np.pi * segment / segments
            points.append([np.sin(theta) * np.cos(phi), np.cos(theta), -np.sin(theta) * np.sin(phi)])
    index = lambda ring, segment: 2 + (ring - 1) * segments + segment % segments  # noqa: E731
    triangles = []
    for segment in range(segments):
        triangles.append([0, index(1, segment), index(1, segment + 1)])
        triangles.append([1, index(rings - 1, segment + 1), index(rings - 1, segment)])
        for ring in range(1, rings - 1):
            a, b = index(ring, segment), index(ring, segment + 1)
            c, d = index(ring + 1, segment), index(ring + 1, segment + 1)
            triangles += [[a, c, d], [a, d, b]]
    return np.asarray(points, dtype=np.float32), np.asarray(triangles)


def _normals(u: torch.Tensor, v: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.linalg.cross(torch.sparse.mm(u, points), torch.sparse.mm(v, points)),
                                         dim=-1)


def test_sphere_normals_are_the_radius_and_follow_the_winding() -> None:
    points, triangles = _uv_sphere()
    ids = np.arange(len(points))
    u, v, valid = tangent_masks(triangles, ids, len(points))
    assert valid.all() and u.shape == v.shape == (len(points), len(points))
    normals = _normals(u, v, torch.from_numpy(points))
    area_weighted = vertex_normals(torch.from_numpy(points), torch.from_numpy(triangles))
    assert float((area_weighted * torch.from_numpy(points)).sum(-1).min()) > 0.99   # the winding is outward
    assert float((normals * torch.from_numpy(points)).sum(-1).min()) > 0.995
    u_flipped, v_flipped, _ = tangent_masks(triangles[:, ::-1], ids, len(points))
    flipped = _normals(u_flipped, v_flipped, torch.from_numpy(points))
    assert float((flipped * torch.from_numpy(points)).sum(-1).max()) < -0.995


def test_boundary_vertices_have_no_masks() -> None:
    points, triangles = _uv_sphere()
    open_mesh = triangles[(triangles != 0).all(axis=1)]     # remove the north cap: its ring becomes a boundary
    u, v, valid = tangent_masks(open_mesh, np.arange(len(points)), len(points))
    assert not valid[0] and not valid[2:34].any() and valid[34:].all()
    assert u.to_dense()[2:34].abs().sum() == 0 and v.to_dense()[0].abs().sum() == 0


def test_face_model_normals_match_area_weighted_normals() -> None:
    model = FaceModel.load()
    ids = np.arange(0, 9409, 2)
    triangles = model.submesh("face_and_head").triangles
    u, v, valid = tangent_masks(triangles.numpy(), ids, model.vertex_count)
    verts = model.vertices(torch.randn(1, 100) * 0.5, torch.rand(1, 53) * 0.5)[0]
    normals = _normals(u, v, verts)
    reference = vertex_normals(verts, triangles)[ids]
    agreement = (normals * reference).sum(-1)[torch.from_numpy(valid)]
    assert valid.mean() > 0.99
    assert float(agreement.median()) > 0.999 and float((agreement > 0.95).float().mean()) > 0.99

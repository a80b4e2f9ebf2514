"""Linear tangent masks of a triangle mesh: vertex normals as the cross product of two linear maps.

For a vertex v whose one-ring of neighbours n_0 .. n_{k-1} is closed and ordered in the triangles'
winding, the two tangents ``t_u = sum_i cos(2 pi i / k) p(n_i)`` and ``t_v = sum_i sin(2 pi i / k) p(n_i)``
(the masks of Loop subdivision's limit tangents) span the surface there, and ``t_u x t_v`` points
the way the triangles' winding makes their normals point (outward on the face model). Both tangents
are *linear* in the vertex positions, so for a linear model (neutral + identity + expression
bases) they are linear in its coefficients too: a fitter evaluates them exactly as it evaluates the
vertices, with no gather or scatter over triangles. Vertices on a boundary or with a non-manifold
ring have no masks (``valid`` False).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch


def tangent_masks(triangles: np.ndarray, vertex_ids: np.ndarray, vertex_count: int
                  ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Sparse (V', V) masks ``u`` and ``v`` for the vertices ``vertex_ids`` (V',) of a mesh with
    ``triangles`` (F, 3) over ``vertex_count`` vertices, and ``valid`` (V',) bool."""
    following: dict[int, dict[int, int]] = defaultdict(dict)
    wanted = set(int(v) for v in vertex_ids)
    for a, b, c in np.asarray(triangles, dtype=np.int64):
        for centre, first, second in ((a, b, c), (b, c, a), (c, a, b)):
            if int(centre) in wanted:
                following[int(centre)][int(first)] = int(second)
    rows, columns, cos_values, sin_values = [], [], [], []
    valid = np.zeros(len(vertex_ids), dtype=bool)
    for row, vertex in enumerate(vertex_ids):
        ring = _closed_ring(following.get(int(vertex), {}))
        if ring is None:
            continue
        valid[row] = True
        angles = 2.0 * np.pi * np.arange(len(ring)) / len(ring)
        rows.extend([row] * len(ring))
        columns.extend(ring)
        cos_values.extend(np.cos(angles))
        sin_values.extend(np.sin(angles))
    index = torch.tensor([rows, columns], dtype=torch.long)
    shape = (len(vertex_ids), vertex_count)

    def mask(values: list[float]) -> torch.Tensor:
        weights = torch.tensor(values, dtype=torch.float32)
        return torch.sparse_coo_tensor(index, weights, shape, check_invariants=True).coalesce()

    return mask(cos_values), mask(sin_values), valid


def _closed_ring(following: dict[int, int]) -> list[int] | None:
    """The neighbours in winding order when they close a single loop, else None."""
    if len(following) < 3 or set(following) != set(following.values()):
        return None
    start = next(iter(following))
    ring = [start]
    while len(ring) <= len(following):
        after = following[ring[-1]]
        if after == start:
            return ring if len(ring) == len(following) else None
        ring.append(after)
    return None

"""Points of a box: its centre, uniform samples and vertices. The witness search, the precision
guard and the sampled equivalence check all draw their points here."""

from __future__ import annotations

import numpy as np

from .box import Box


def sample_points(box: Box, samples: int, vertices: int, rng: np.random.Generator,
                  all_vertices: bool = False) -> tuple[np.ndarray, list[str]]:
    """(points (N, n), kinds): the centre, `samples` uniform points and `vertices` random
    vertices; with all_vertices, every vertex instead when there are at most `vertices`.
    kinds names each point's kind: "centre", "uniform" or "vertex"."""
    n = box.size
    uniform = rng.uniform(box.lo, box.hi, size=(samples, n))
    if all_vertices and n < 63 and 2 ** n <= vertices:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
        corners = np.where(bits == 1, box.hi, box.lo)
    else:
        corners = np.where(rng.random((vertices, n)) < 0.5, box.lo, box.hi)
    points = np.vstack([box.center[None, :], uniform, corners])
    kinds = ["centre"] + ["uniform"] * samples + ["vertex"] * corners.shape[0]
    return points, kinds

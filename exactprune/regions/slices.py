"""2-D slices: the regions of the plane through three inputs A, B, C, as polygons.

The plane is x = A + s (B - A) + t (C - A); its domain is the part inside the input box, a
polygon in (s, t). The regions of the slice are enumerated exactly (enumerate.count_problem) and
each region's polygon is the domain polygon clipped by the region's half-planes.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from ..domain import Box
from ..errors import DomainError
from ..ir import Network
from ..solvers.highs import new_highs
from ..stability import StabilityResult
from .count import count_problem
from .problem import HiddenLayer, Problem, hidden_layers
from .search import RegionCount


@dataclass
class SliceResult:
    count: RegionCount
    problem: Problem
    polygons: list[np.ndarray]  # one (k, 2) array of (s, t) vertices per region


def _extent(rows: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bounding box of {u in R^2 : rows @ u <= rhs} by four LPs."""
    h = new_highs()
    inf = highspy.kHighsInf
    h.addVars(2, np.array([-inf, -inf]), np.array([inf, inf]))
    for row, c in zip(rows, rhs):
        h.addRow(-inf, float(c), 2, np.arange(2, dtype=np.int32), row)
    out = np.zeros((2, 2))
    for axis in range(2):
        for k, sense in enumerate((1.0, -1.0)):
            cost = np.zeros(2)
            cost[axis] = sense
            h.changeColsCost(2, np.arange(2, dtype=np.int32), cost)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                raise DomainError("the plane A, B, C does not meet the domain in a bounded polygon")
            out[k, axis] = sense * h.getInfo().objective_function_value
    return out[0], out[1]


def plane_problem(network: Network, box: Box, a, b, c,
                  stability: StabilityResult | None = None) -> Problem:
    """The network on the plane through a, b, c (flat inputs), restricted to the box."""
    a, b, c = (np.asarray(p, dtype=np.float64).reshape(-1) for p in (a, b, c))
    if not a.size == b.size == c.size == network.n_inputs:
        raise DomainError(f"--plane points need {network.n_inputs} values each, got "
                          f"{a.size}, {b.size}, {c.size}")
    basis = np.vstack([b - a, c - a])
    if np.linalg.matrix_rank(basis) < 2:
        raise DomainError("--plane points A, B, C are collinear: they do not span a plane")
    rows = np.vstack([basis.T, -basis.T])
    rhs = np.concatenate([box.hi - a, a - box.lo])
    norms = np.linalg.norm(rows, axis=1)
    keep = norms > 0.0
    if np.any(rhs[~keep] < 0.0):
        raise DomainError("the plane A, B, C lies outside the domain box")
    rows, rhs = rows[keep] / norms[keep, None], rhs[keep] / norms[keep]
    lo, hi = _extent(rows, rhs)
    layers = []
    for k, (weight, bias, activation, fixed) in enumerate(hidden_layers(network, stability)):
        if k == 0:
            weight, bias = weight @ basis.T, weight @ a + bias
        layers.append(HiddenLayer(weight, bias, activation, fixed))
    return Problem(tuple(layers), lo, hi, a, basis, rows, rhs)


def default_plane(network: Network, box: Box):
    """For a 2-input network its own plane (corners of the box), else None."""
    if network.n_inputs != 2:
        return None
    lo, hi = box.lo, box.hi
    return lo, np.array([hi[0], lo[1]]), np.array([lo[0], hi[1]])


def clip(polygon: np.ndarray, row: np.ndarray, rhs: float) -> np.ndarray:
    """Sutherland-Hodgman: the part of a convex polygon with row @ p <= rhs."""
    out = []
    n = len(polygon)
    for i in range(n):
        p, q = polygon[i], polygon[(i + 1) % n]
        fp, fq = p @ row - rhs, q @ row - rhs
        if fp <= 0.0:
            out.append(p)
        if fp * fq < 0.0:
            out.append(p + (q - p) * (fp / (fp - fq)))
    return np.array(out).reshape(-1, 2)


def slice_regions(network: Network, box: Box, plane=None, time_limit: float | None = None,
                  stability: StabilityResult | None = None) -> SliceResult:
    """Enumerate the regions of a 2-D slice (plane: three flat inputs; None: a 2-input network's own)."""
    plane = plane if plane is not None else default_plane(network, box)
    if plane is None:
        raise DomainError(f"the model has {network.n_inputs} inputs: give a plane with --plane A B C")
    problem = plane_problem(network, box, *plane, stability=stability)
    count = count_problem(problem, network, time_limit=time_limit, keep_cells=True)
    rect = np.array([[problem.lo[0], problem.lo[1]], [problem.hi[0], problem.lo[1]],
                     [problem.hi[0], problem.hi[1]], [problem.lo[0], problem.hi[1]]])
    polygons = []
    for cell in count.cells:
        poly = rect
        for row, rhs in zip(cell.rows, cell.rhs):
            poly = clip(poly, row, rhs)
        polygons.append(poly)
    return SliceResult(count, problem, polygons)

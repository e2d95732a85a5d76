"""Points next to a flat on every side of its hyperplanes (the witnesses of arrangement.py and
faces.py, and the 2^k split of enumerate.py)."""

from __future__ import annotations

from functools import lru_cache
from itertools import product

import numpy as np

from .frame import IDENTITY, Frame

DEGENERATE = 1e-9  # a trace whose normal is shorter than this is parallel to the flat
INDEPENDENT = 1e-6  # smallest singular value of unit normals for the fast path
SIGN_ENTRIES = 2 ** 22  # most entries of the 2^n points (and signs) sign_points makes at once


@lru_cache(maxsize=None)
def signs(n: int) -> np.ndarray:
    """All 2^n sign vectors (2^n, n), read-only (cached)."""
    out = np.array(list(product((1.0, -1.0), repeat=n))).reshape(2 ** n, n)
    out.flags.writeable = False
    return out


def sign_points(point, normals, offsets, lo, hi, rows, rhs, others=None,
                frame: Frame = IDENTITY) -> np.ndarray | None:
    """Points next to `point` on every side of the hyperplanes normals @ u = offsets, inside the
    box and the cell rows @ u <= rhs (rows unit norm), on the same side as `point` of the other
    hyperplanes others = (normals, offsets) that miss it; None when the point has no margin, the
    normals are dependent, or the 2^n points would exceed SIGN_ENTRIES (callers then split).
    Row i of the result has sign signs(n)[i] on the hyperplanes. Normals
    and rows in `frame` coordinates, points in input space."""
    n = normals.shape[0]
    if n == 0:
        return point[None, :]
    if 2.0 ** n * (n + point.size) > SIGN_ENTRIES:
        return None
    step = flat_step(point, normals, offsets, lo, hi, rows, rhs, others, frame)
    if step is None:
        return None
    p, pinv, eps = step
    return p + eps * frame.lift(signs(n) @ pinv.T)


def flat_step(point, normals, offsets, lo, hi, rows, rhs, others, frame):
    """(point projected on the flat, pseudo-inverse of the normals, eps) for sign_points."""
    n = normals.shape[0]
    if n > normals.shape[1]:
        return None
    u, sv, vt = np.linalg.svd(normals, full_matrices=False)
    if sv[-1] < INDEPENDENT:
        return None
    pinv = (vt.T / sv) @ u.T
    p = point - frame.lift(pinv @ (normals @ frame.coords(point) - offsets))
    y = frame.coords(p)
    gaps = np.abs(others[0] @ y - others[1]) if others is not None else np.zeros(0)
    margin = min(np.min(p - lo, initial=np.inf), np.min(hi - p, initial=np.inf),
                 np.min(rhs - rows @ y, initial=np.inf) if rows.size else np.inf,
                 np.min(gaps[gaps > DEGENERATE], initial=np.inf))
    if not margin > 0.0:
        return None
    return p, pinv, 0.5 * margin * sv[-1] / np.sqrt(n)

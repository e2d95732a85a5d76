"""The coordinates the arrangement code does its linear algebra in: the span of the first layer.

Every hyperplane of a box problem and every cell row is an affine function of W1 u (the first
layer's weights in base coordinates) or a domain row, so its normal lies in the span S of those
rows (rank r, often far below the input dimension: 8 for a 784-10-10 MNIST network with two dead
neurons). With an orthonormal basis B (dim x r) of S a normal n is represented exactly by
c = n B: norms, traces, pseudo-inverses and singular values are the same in R^r, products
n . u are c . (u B), and only the moves of points are lifted back to the inputs (c B^T).
When S is the whole space the frame is the identity and nothing is converted.
"""

from __future__ import annotations

import numpy as np

RANK_TOL = 1e-12  # singular values below this times the largest one span nothing


class Frame:
    def __init__(self, basis: np.ndarray | None):
        self.basis = basis  # (dim, r) orthonormal columns, or None for the identity
        self.live = self.live_basis = self.dead = None  # None: every input counts
        if basis is not None:  # inputs no hyperplane depends on (dead pixels) weigh nothing
            alive = np.any(basis != 0.0, axis=1)
            self.live, self.dead = np.flatnonzero(alive), np.flatnonzero(~alive)
            self.live_basis = basis[self.live]

    @classmethod
    def spanning(cls, rows: np.ndarray) -> Frame:
        """The frame of the span of `rows` (n, dim); the identity when they span everything."""
        if rows.size == 0 or rows.shape[0] >= rows.shape[1]:
            return cls(None)
        _, sv, vt = np.linalg.svd(rows, full_matrices=False)
        rank = int(np.sum(sv > RANK_TOL * sv[0])) if sv.size and sv[0] > 0.0 else 0
        return cls(vt[:max(rank, 1)].T.copy())

    def coords(self, vectors: np.ndarray) -> np.ndarray:
        """Coordinates (..., r) of vectors (..., dim) in the frame."""
        return vectors if self.basis is None else vectors @ self.basis

    def lift(self, coords: np.ndarray) -> np.ndarray:
        """Input-space vectors (..., dim) of frame coordinates (..., r)."""
        return coords if self.basis is None else coords @ self.basis.T


IDENTITY = Frame(None)

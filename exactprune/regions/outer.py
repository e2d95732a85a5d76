"""A cheap "no" to the cell LP's flat question: the same LP in frame coordinates over an outer
polytope of the domain.

The cell LP (lp.py) maximises the margin t over inputs u in the shrunk box; all its rows lie in
the frame's span (frame.py), so it sees u only through y = u B, which ranges over the zonotope
Y = {u B : u in the box}. Y lies in every half-space a . y <= h(a), h(a) = max over the box of
(B a) . u (a sum of per-input maxima, rounded up). With a pool of such cuts the LP has r + 1
variables instead of dim + 1, and its optimum is an upper bound of the cell LP's: an optimum below
tol / 2, or infeasibility, answers "no" for the cell LP. Anything else goes to the cell LP.
Cuts: the coordinate bounds of Y, and the aggregated row direction of every cell LP that answered
"no" (the reduced costs of its inputs). With that cut the outer LP's optimum equals the cell LP's
for that question, so its neighbours (same cell, nearby flats) are mostly answered here.
"""

from __future__ import annotations

import highspy
import numpy as np

from .frame import Frame

MAX_CUTS = 48  # cuts kept in the LP of a cell (the most recent ones)
ROUND = 1e-12  # relative round-up of the support values


class OuterLP:
    def __init__(self, frame: Frame, lo: np.ndarray, hi: np.ndarray, cap: float, tol: float):
        inset = np.minimum(tol, 0.25 * (hi - lo))
        self.frame, self.lo, self.hi, self.cap, self.tol = frame, lo + inset, hi - inset, cap, tol
        r = frame.basis.shape[1]
        eye = np.eye(r)
        self.upper, self.lower = self.support(eye), -self.support(-eye)
        self.cuts: list[tuple[np.ndarray, float]] = []
        self.highs: highspy.Highs | None = None
        self.base = 0  # rows of the current cell (cell rows and cuts)
        self.solves = 0

    def support(self, directions: np.ndarray) -> np.ndarray:
        """h(a) for frame directions (k, r): max over the shrunk box of a . (u B), rounded up."""
        c = self.frame.lift(directions)
        top = np.maximum(c * self.lo, c * self.hi)
        return top.sum(axis=1) + ROUND * (np.abs(top).sum(axis=1) + 1.0)

    def set_cell(self, rows: np.ndarray, rhs: np.ndarray) -> None:
        """A fresh LP for the cell rows @ y + t <= rhs (frame coordinates, unit rows) and the
        recent cuts."""
        r = self.upper.size
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("primal_feasibility_tolerance", 1e-9)
        h.setOptionValue("dual_feasibility_tolerance", 1e-9)
        h.addVars(r + 1, np.r_[self.lower, -highspy.kHighsInf], np.r_[self.upper, self.cap])
        h.changeColCost(r, -1.0)
        self.highs, self.base = h, 0
        self._rows(np.hstack([rows, np.ones((rows.shape[0], 1))]), np.full(rows.shape[0], -np.inf), rhs)
        for a, value in self.cuts[-MAX_CUTS:]:
            self._rows(np.r_[a, 0.0][None, :], np.array([-np.inf]), np.array([value]))

    def _rows(self, rows: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        k, width = rows.shape
        index = np.tile(np.arange(width, dtype=np.int32), k)
        starts = np.arange(0, k * width, width, dtype=np.int32)
        self.highs.addRows(k, low, high, k * width, starts, index, rows.ravel())
        self.base += k

    def add_cut(self, direction: np.ndarray) -> None:
        """Cuts along +-direction (input space, in the frame's span) for this and later cells."""
        a = self.frame.coords(direction)
        norm = np.linalg.norm(a)
        if not norm > 0.0 or not np.all(np.isfinite(a)):
            return
        a = np.vstack([a / norm, -a / norm])
        for row, value in zip(a, self.support(a)):
            self.cuts.append((row, float(value)))
            if self.highs is not None:
                self._rows(np.r_[row, 0.0][None, :], np.array([-np.inf]), np.array([value]))

    def misses(self, normals: np.ndarray, offsets: np.ndarray) -> bool:
        """True when the flat normals @ y = offsets (frame coordinates) provably has no point of
        the cell with margin above tol; False means no conclusion."""
        k = normals.shape[0]
        rows = np.hstack([normals, np.zeros((k, 1))])
        base = self.base
        self._rows(rows, offsets, offsets)
        self.highs.run()
        self.solves += 1
        status = self.highs.getModelStatus()
        missed = status == highspy.HighsModelStatus.kInfeasible or (
            status == highspy.HighsModelStatus.kOptimal
            and -self.highs.getInfo().objective_function_value <= 0.5 * self.tol)
        self.highs.deleteRows(k, np.arange(base, base + k, dtype=np.int32))
        self.base = base
        return bool(missed)

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
The hyperplanes of the cell's questions are rows of the LP from set_cell on, free (no bounds) until
a question fixes those of its flat: HiGHS then keeps its factorisation, where adding and deleting
the flat's rows cost a rebuild each time (docs/regions.md, "Numbers behind the code").
A "no" is re-proved in float64 from HiGHS's multipliers (the row duals of the optimum, or its
dual ray when infeasible): a combination of the rows that no point of the variable box with
t in [MISS_SHARE * tol, cap] satisfies. Flat rows whose multiplier is (nearly) zero are left out
of the combination when it still proves the "no": then every flat of the remaining hyperplanes
misses the cell too.
"""

from __future__ import annotations

import highspy
import numpy as np

from ..solvers.highs import quiet_highs, run
from .frame import Frame

MAX_CUTS = 48  # cuts kept in the LP of a cell (the most recent ones)
ROUND = 1e-12  # relative round-up of the support values and of the proofs' sums
NOISE = 1e-9  # flat rows with smaller multipliers (relative) are tried without
MISS_SHARE = 0.5  # a "no" proves that no point of the flat has margin >= MISS_SHARE * tol


class OuterLP:
    def __init__(self, frame: Frame, lo: np.ndarray, hi: np.ndarray, cap: float, tol: float):
        inset = np.minimum(tol, 0.25 * (hi - lo))
        self.frame, self.lo, self.hi, self.cap, self.tol = frame, lo + inset, hi - inset, cap, tol
        r = frame.basis.shape[1]
        eye = np.eye(r)
        self.upper, self.lower = self.support(eye), -self.support(-eye)
        self._vlo, self._vhi = np.r_[self.lower, MISS_SHARE * tol], np.r_[self.upper, cap]
        self.cuts: list[tuple[np.ndarray, float]] = []
        self.highs: highspy.Highs | None = None
        self.flats = 0  # the first hyperplane row
        self.offsets = np.zeros(0)
        self._free = (np.zeros(0), np.zeros(0))  # bounds that release hyperplane rows
        self._a = np.zeros((0, r + 1))
        self.solves = 0

    def support(self, directions: np.ndarray) -> np.ndarray:
        """h(a) for frame directions (k, r): max over the shrunk box of a . (u B), rounded up."""
        c = self.frame.lift(directions)
        top = np.maximum(c * self.lo, c * self.hi)
        return top.sum(axis=1) + ROUND * (np.abs(top).sum(axis=1) + 1.0)

    def set_cell(self, rows: np.ndarray, rhs: np.ndarray, normals: np.ndarray,
                 offsets: np.ndarray) -> None:
        """The LP for the cell rows @ y + t <= rhs (frame coordinates, unit rows), the recent cuts
        and the hyperplanes normals @ y = offsets of the flat questions, free until asked (the
        previous cell's rows are replaced; the instance and its basis are kept)."""
        r = self.upper.size
        if self.highs is None:
            h = self.highs = quiet_highs()
            h.setOptionValue("simplex_strategy", 4)
            h.addVars(r + 1, np.r_[self.lower, -highspy.kHighsInf], np.r_[self.upper, self.cap])
            h.changeColCost(r, -1.0)
        elif self._a.shape[0]:
            self.highs.deleteRows(self._a.shape[0], np.arange(self._a.shape[0], dtype=np.int32))
        self._a, self._low, self._high = np.zeros((0, r + 1)), np.zeros(0), np.zeros(0)
        self._rows(np.hstack([rows, np.ones((rows.shape[0], 1))]), np.full(rows.shape[0], -np.inf), rhs)
        if self.cuts:
            recent = self.cuts[-MAX_CUTS:]
            self._rows(np.hstack([np.array([a for a, _ in recent]), np.zeros((len(recent), 1))]),
                       np.full(len(recent), -np.inf), np.array([value for _, value in recent]))
        self.flats, self.offsets = self._a.shape[0], offsets
        self._free = (np.full(offsets.size, -np.inf), np.full(offsets.size, np.inf))
        self._rows(np.hstack([normals, np.zeros((normals.shape[0], 1))]), *self._free)

    def _rows(self, rows: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        k, width = rows.shape
        index = np.tile(np.arange(width, dtype=np.int32), k)
        starts = np.arange(0, k * width, width, dtype=np.int32)
        self.highs.addRows(k, low, high, k * width, starts, index, rows.ravel())
        self._a = np.vstack([self._a, rows])
        self._low, self._high = np.r_[self._low, low], np.r_[self._high, high]

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

    def misses(self, idx: np.ndarray) -> np.ndarray | None:
        """When the flat of the hyperplanes idx (of set_cell) provably has no point of the cell
        with margin MISS_SHARE * tol: which of them the proof needs (bool per hyperplane, so the
        flat of those alone misses as well); None means no conclusion."""
        h, rows = self.highs, (self.flats + idx).astype(np.int32)
        k, offsets = idx.size, self.offsets[idx]
        h.changeRowsBounds(k, rows, offsets, offsets)
        run(h)
        self.solves += 1
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            has_ray, ray = h.getDualRay()[1:]
            multipliers = [np.asarray(ray)] if has_ray else []
        elif (status == highspy.HighsModelStatus.kOptimal
              and -h.getObjectiveValue() <= MISS_SHARE * self.tol):
            multipliers = [np.asarray(h.getSolution().row_dual)]
        else:
            multipliers = []
        h.changeRowsBounds(k, rows, self._free[0][:k], self._free[1][:k])
        if not multipliers:
            return None
        low, high = self._low.copy(), self._high.copy()
        low[rows], high[rows] = offsets, offsets
        for duals in multipliers:
            for sign in (1.0, -1.0):
                pi = sign * duals
                if not self._proves(self._a, low, high, pi):
                    continue
                flat = pi[rows]
                needed = np.abs(flat) > NOISE * np.abs(pi).max()
                if needed.any() and not needed.all():
                    lean = pi.copy()
                    lean[rows[~needed]] = 0.0
                    if not self._proves(self._a, low, high, lean):
                        needed[:] = True
                return needed if needed.any() else np.ones(k, dtype=bool)
        return None

    def _proves(self, a: np.ndarray, low: np.ndarray, high: np.ndarray, pi: np.ndarray) -> bool:
        """Whether the combination pi of the rows low <= a v <= high proves them infeasible over
        the variable box: max over the box of (pi a) v < the combined bound (float64, rounded).
        Multipliers of the wrong sign for a one-sided row (solver noise) are dropped."""
        bound = np.where(pi > 0.0, low, high)
        use = (pi != 0.0) & np.isfinite(bound)  # a row bounded on the other side only is dropped
        terms = pi[use] * bound[use]
        g = pi[use] @ a[use]
        top = np.maximum(g * self._vhi, g * self._vlo)  # each term's maximum over the box
        total, reach = terms.sum(), top.sum()
        slack = ROUND * (np.abs(terms).sum() + np.abs(top).sum() + 1.0)
        return bool(np.isfinite(total + reach + slack) and reach + slack < total)

"""The cell LP of the enumeration, kept warm in HiGHS while the depth-first search runs.

Variables: the free inputs u (bounded by the domain box) and a margin t <= cap. Every row is
normalised to unit Euclidean norm and reads  a . u + t <= c, so t is the distance (in input units)
by which a point clears every constraint. A cell is full-dimensional iff max t > tol. Rows are a
stack (push on descent, pop on return) so each solve starts from the previous basis.
The box is shrunk by `inset` (the margin tolerance), so points lie strictly inside it as well.
`on_flat` asks the same question on an affine flat (equality rows, no margin).
With a frame (frame.py: every row lies in the span of its basis B) the LP sees the inputs through
y = u B: columns for the live inputs, for y and for t, r fixed rows y - u B = 0 first, and every
pushed or flat row written on y alone (r + 1 entries instead of one per input); inputs outside the
span take the box centre. HiGHS then adds and deletes rows without touching a dense row of every
input (fewer simplex iterations; docs/regions.md, "Numbers behind the code").
When the warm HiGHS solve ends without a conclusive status (neither optimal nor infeasible), the
same LP is solved again from scratch by fresh HiGHS instances with other options (RETRIES), then
by SCIP (fallback.py); only when all of them fail is the LP reported as trouble.
"""

from __future__ import annotations

import highspy
import numpy as np

from ..solvers.highs import CONCLUSIVE, INFEASIBLE, OPTIMAL, quiet_highs, run, solve_elsewhere
from .frame import IDENTITY, Frame


class CellLP:
    """max t s.t. the pushed rows (+ one trial row), lo <= u <= hi, t <= cap."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, cap: float, inset: float = 0.0,
                 frame: Frame = IDENTITY):
        self.n = lo.size
        inset = np.minimum(inset, 0.25 * (hi - lo))
        lo, hi = lo + inset, hi - inset
        self.frame, self.mid = frame, 0.5 * (lo + hi)
        inf = highspy.kHighsInf
        h = quiet_highs()
        if frame.basis is None:  # columns: the inputs, t
            self.inputs, self.fixed = self.n, 0
            h.addVars(self.n + 1, np.r_[lo, -inf], np.r_[hi, cap])
        else:  # columns: the live inputs, y, t; rows y - u B = 0
            live, r = frame.live, frame.basis.shape[1]
            self.inputs, self.fixed = live.size, r
            h.addVars(live.size + r + 1, np.r_[lo[live], np.full(r, -inf), -inf],
                      np.r_[hi[live], np.full(r, inf), cap])
            link = np.hstack([-frame.live_basis.T, np.eye(r)])
            h.addRows(r, np.zeros(r), np.zeros(r), link.size,
                      np.arange(0, link.size, link.shape[1], dtype=np.int32),
                      np.tile(np.arange(link.shape[1], dtype=np.int32), r), link.ravel())
        self.t = self.inputs + self.fixed  # the margin column
        width = self.n if frame.basis is None else self.fixed
        self.index = np.arange(self.t - width, self.t + 1, dtype=np.int32)  # a row's columns, then t
        self.cap = cap
        h.changeColCost(self.t, -1.0)
        self.highs = h
        self.depth = 0
        self.solves = 0
        self._solution = None

    def _coeffs(self, rows: np.ndarray) -> np.ndarray:
        """Input-space rows as written in the LP (frame coordinates with a frame)."""
        return self.frame.coords(rows)

    def _point(self, x) -> np.ndarray:
        """The input point of a solution's columns."""
        x = np.asarray(x)
        if self.frame.basis is None:
            return x[: self.n]
        u = self.mid.copy()
        u[self.frame.live] = x[: self.inputs]
        return u

    def _add(self, row: np.ndarray, rhs: float) -> None:
        self.highs.addRow(-highspy.kHighsInf, float(rhs), self.index.size, self.index,
                          np.r_[self._coeffs(row), 1.0])

    def _warm(self) -> str:
        run(self.highs)
        self.solves += 1
        return CONCLUSIVE.get(self.highs.getModelStatus(), "")

    def _solve(self) -> tuple[str, float, np.ndarray | None]:
        """(status, margin, point): status "optimal", "infeasible" or "" (no solver concluded)."""
        status = self._warm()
        self._solution = None
        if not status:
            status, objective, x = solve_elsewhere(self.highs.getLp())
            self.solves += 1
            if status != OPTIMAL:
                return status, float("nan"), None
            return status, -objective, self._point(x)
        if status != OPTIMAL:
            return status, float("nan"), None
        margin = -self.highs.getInfo().objective_function_value
        self._solution = self.highs.getSolution()
        return status, margin, self._point(self._solution.col_value)

    def reduced_costs(self) -> np.ndarray | None:
        """The inputs' reduced costs of the last warm optimum (the aggregated direction of the
        rows that bind it), or None."""
        if self._solution is None:
            return None
        duals = np.asarray(self._solution.col_dual[: self.inputs])
        if self.frame.basis is None:
            return duals
        out = np.zeros(self.n)
        out[self.frame.live] = duals
        return out

    def push(self, row: np.ndarray, rhs: float) -> None:
        self._add(row, rhs)
        self.depth += 1

    def pop(self) -> None:
        self.depth -= 1
        self.highs.deleteRows(1, np.array([self.fixed + self.depth], dtype=np.int32))

    def trial(self, row: np.ndarray | None = None, rhs: float = 0.0) -> tuple[float, np.ndarray | None]:
        """The best margin with one more row (None: the cell itself) and its point.

        The margin is nan (and the point None) when no solver reached optimality (the margin
        variable is free below, so the LP is never infeasible).
        """
        if row is not None:
            self._add(row, rhs)
        _, margin, point = self._solve()
        if row is not None:
            self.highs.deleteRows(1, np.array([self.fixed + self.depth], dtype=np.int32))
        return margin, point

    def deep(self, cap: float) -> tuple[float, np.ndarray | None]:
        """trial() on the cell itself with the margin capped at `cap` instead: a point far from
        the cell's rows (used to centre the LP-free witnesses of certify.py)."""
        self.highs.changeColBounds(self.t, -highspy.kHighsInf, cap)
        margin, point = self.trial()
        self.highs.changeColBounds(self.t, -highspy.kHighsInf, self.cap)
        return margin, point

    def on_flat(self, rows: np.ndarray, rhs: np.ndarray) -> tuple[float, np.ndarray | None]:
        """The best margin of the cell on the flat rows @ u = rhs.

        Infeasible (the flat misses the cell) gives margin -inf; solver trouble nan.
        """
        k = rows.shape[0]
        coeffs = self._coeffs(rows)
        nz = coeffs != 0.0
        starts = np.r_[0, np.cumsum(nz.sum(axis=1))[:-1]].astype(np.int32)
        self.highs.addRows(k, rhs.astype(float), rhs.astype(float), int(nz.sum()), starts,
                           self.index[np.nonzero(nz)[1]], coeffs[nz].astype(float))
        status, margin, point = self._solve()
        if status == INFEASIBLE:
            margin = -np.inf
        start = self.fixed + self.depth
        self.highs.deleteRows(k, np.arange(start, start + k, dtype=np.int32))
        return margin, point

"""The cell LP of the enumeration, kept warm in HiGHS while the depth-first search runs.

Variables: the free inputs u (bounded by the domain box) and a margin t <= cap. Every row is
normalised to unit Euclidean norm and reads  a . u + t <= c, so t is the distance (in input units)
by which a point clears every constraint. A cell is full-dimensional iff max t > tol. Rows are a
stack (push on descent, pop on return) so each solve starts from the previous basis.
The box is shrunk by `inset` (the margin tolerance), so points lie strictly inside it as well.
`on_flat` asks the same question on an affine flat (equality rows, no margin).
When the warm HiGHS solve ends without a conclusive status (neither optimal nor infeasible), the
same LP is solved again from scratch by fresh HiGHS instances with other options (RETRIES), then
by SCIP (fallback.py); only when all of them fail is the LP reported as trouble.
"""

from __future__ import annotations

import highspy
import numpy as np

from .fallback import CONCLUSIVE, INFEASIBLE, OPTIMAL, solve_elsewhere


class CellLP:
    """max t s.t. the pushed rows (+ one trial row), lo <= u <= hi, t <= cap."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, cap: float, inset: float = 0.0):
        self.n = lo.size
        inset = np.minimum(inset, 0.25 * (hi - lo))
        lo, hi = lo + inset, hi - inset
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("primal_feasibility_tolerance", 1e-9)
        h.setOptionValue("dual_feasibility_tolerance", 1e-9)
        h.addVars(self.n + 1, np.r_[lo, -highspy.kHighsInf], np.r_[hi, cap])
        self.cap = cap
        h.changeColCost(self.n, -1.0)
        self.highs = h
        self.index = np.arange(self.n + 1, dtype=np.int32)
        self.depth = 0
        self.solves = 0
        self._solution = None

    def _add(self, row: np.ndarray, rhs: float) -> None:
        self.highs.addRow(-highspy.kHighsInf, float(rhs), self.n + 1, self.index, np.r_[row, 1.0])

    def _warm(self) -> str:
        self.highs.run()
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
            return status, -objective, x[: self.n]
        if status != OPTIMAL:
            return status, float("nan"), None
        margin = -self.highs.getInfo().objective_function_value
        self._solution = self.highs.getSolution()
        return status, margin, np.asarray(self._solution.col_value[: self.n])

    def reduced_costs(self) -> np.ndarray | None:
        """The inputs' reduced costs of the last warm optimum (the aggregated direction of the
        rows that bind it), or None."""
        if self._solution is None:
            return None
        return np.asarray(self._solution.col_dual[: self.n])

    def push(self, row: np.ndarray, rhs: float) -> None:
        self._add(row, rhs)
        self.depth += 1

    def pop(self) -> None:
        self.depth -= 1
        self.highs.deleteRows(1, np.array([self.depth], dtype=np.int32))

    def trial(self, row: np.ndarray | None = None, rhs: float = 0.0) -> tuple[float, np.ndarray | None]:
        """The best margin with one more row (None: the cell itself) and its point.

        The margin is nan (and the point None) when no solver reached optimality (the margin
        variable is free below, so the LP is never infeasible).
        """
        if row is not None:
            self._add(row, rhs)
        _, margin, point = self._solve()
        if row is not None:
            self.highs.deleteRows(1, np.array([self.depth], dtype=np.int32))
        return margin, point

    def deep(self, cap: float) -> tuple[float, np.ndarray | None]:
        """trial() on the cell itself with the margin capped at `cap` instead: a point far from
        the cell's rows (used to centre the LP-free witnesses of certify.py)."""
        self.highs.changeColBounds(self.n, -highspy.kHighsInf, cap)
        margin, point = self.trial()
        self.highs.changeColBounds(self.n, -highspy.kHighsInf, self.cap)
        return margin, point

    def on_flat(self, rows: np.ndarray, rhs: np.ndarray) -> tuple[float, np.ndarray | None]:
        """The best margin of the cell on the flat rows @ u = rhs.

        Infeasible (the flat misses the cell) gives margin -inf; solver trouble nan.
        """
        k = rows.shape[0]
        nz = rows != 0.0
        starts = np.r_[0, np.cumsum(nz.sum(axis=1))[:-1]].astype(np.int32)
        self.highs.addRows(k, rhs.astype(float), rhs.astype(float), int(nz.sum()), starts,
                           np.nonzero(nz)[1].astype(np.int32), rows[nz].astype(float))
        status, margin, point = self._solve()
        if status == INFEASIBLE:
            margin = -np.inf
        self.highs.deleteRows(k, np.arange(self.depth, self.depth + k, dtype=np.int32))
        return margin, point

"""Exact enumeration of the activation regions of a ReLU network over a polytope (METHODS 6).

Depth-first over neurons, layer by layer. A cell is a polytope (the rows pushed on the cell LP)
with the affine map of the current layer's pre-activations g = G u + g0 and a few points known to
lie strictly inside it (uniform samples and earlier LP solutions, each with its exact float64
pre-activations). For the next neuron:
1. the interval of g over the domain box decides it when it does not cross zero;
2. points strictly on both sides prove that the hyperplane cuts the cell's interior;
3. otherwise one LP (a margin LP, see lp.py) asks whether the side without points is
   full-dimensional; its optimum is a new interior point.
The cell is split only when both sides are full-dimensional, so regions are full-dimensional and
every region is reached once. Each counted region's interior point is re-checked with
Network.preactivations: its pattern must be the recorded one and patterns must be distinct.
When the time limit stops the search, every cell not yet explored counts as one region (it is
full-dimensional, so it contains at least one): the count is then a lower bound (exact=False).
Two shortcuts (arrangement.py): when a layer's k undecided hyperplanes have independent normals
and one LP finds a point of the cell on all of them, the cell splits into all 2^k sub-cells at
once; and the last splitting layer (when k <= dim) is counted without materialising its regions,
as the faces of a simplicial complex (faces.py) or by deletion-restriction, its witnesses checked
for distinct patterns only. With many inputs the linear algebra runs in the span of the first
layer's rows (frame.py) and most "no" answers come from a small LP there (outer.py).
The cells after the first layer are independent: cell_workers.py counts them in worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..ir import ACTIVE, INACTIVE, Network
from .arrangement import ArrangementCounter
from .frame import Frame
from .lp import CellLP
from .outer import OuterLP
from .problem import Problem
from .search import Cell, Search
from .signpoints import INDEPENDENT, sign_points, signs

POINT_TOL = 1e-9  # a point is strictly on one side of a hyperplane when |g| > POINT_TOL
MARGIN_TOL = 1e-7  # a side is full-dimensional when the LP margin exceeds MARGIN_TOL * scale
MARGIN_CAP = 1e-3  # the LP stops improving the margin here (times scale): feasibility is enough


def tighten(lo: np.ndarray, hi: np.ndarray, row: np.ndarray, rhs: float) -> tuple[np.ndarray, np.ndarray]:
    """The box [lo, hi] shrunk by one constraint row @ u <= rhs (interval propagation), rounded out."""
    low = np.where(row > 0.0, row * lo, row * hi)
    rest = rhs - (low.sum() - low)
    slack = 1e-12 * (np.abs(rhs) + np.abs(row) @ np.maximum(np.abs(lo), np.abs(hi)) + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = (rest + slack) / row
    pos, neg = row > 1e-12, row < -1e-12
    return (np.where(neg, np.maximum(lo, cut), lo), np.where(pos, np.minimum(hi, cut), hi))


@dataclass(frozen=True, eq=False)
class CellTask:
    """A cell after the first layer, to be counted on its own: its rows beyond the domain's
    (rows @ u <= rhs), the first layer's pre-activations g = G u + g0 and phases on it, and points
    strictly inside it with their pre-activations (as _finish_layer takes them)."""

    rows: list[np.ndarray]
    rhs: list[float]
    G: np.ndarray
    g0: np.ndarray
    phase: np.ndarray
    pts: np.ndarray
    pres: list[np.ndarray]


class LPEnumerator(Search):
    """Counts the regions of a Problem by splitting cells with LPs (module docstring)."""

    def __init__(self, problem: Problem, network: Network, time_limit: float | None,
                 samples: int, seed: int, keep_cells: bool,
                 progress: Callable[[int, float], None] | None):
        super().__init__(problem, network, time_limit, keep_cells, progress)
        scale = max(1.0, float(np.max(problem.hi - problem.lo, initial=1.0)))
        self.tol = MARGIN_TOL * scale
        domain_rows = problem.rows.reshape(-1, problem.dim)
        frame = Frame.spanning(np.vstack([problem.layers[0].weight, domain_rows]))
        self.lp = CellLP(problem.lo, problem.hi, MARGIN_CAP * scale, self.tol, frame)
        self.rows: list[np.ndarray] = []
        self.boxes = [(problem.lo, problem.hi)]
        self.rhs: list[float] = []
        outer = None
        if frame.basis is not None:
            outer = OuterLP(frame, problem.lo, problem.hi, MARGIN_CAP * scale, self.tol)
        self.arrangement = ArrangementCounter(self.lp, problem.lo, problem.hi, self.tol,
                                              self._cell_rows, self.check.add_free, self.out_of_time,
                                              frame, outer)
        self.tasks: list[CellTask] | None = None  # a list: cells after layer 1 go here, uncounted
        self.worker_lps = self.worker_outer = 0
        rng = np.random.default_rng(seed)
        u = rng.uniform(problem.lo, problem.hi, size=(samples, problem.dim))
        self.root = np.vstack([(problem.lo + problem.hi) / 2.0, u])

    # points ------------------------------------------------------------------------------------
    def _with_point(self, pts, pres, u):
        g = self.p.forward(u[None, :])
        return np.vstack([pts, u]), [np.vstack([a, b]) for a, b in zip(pres, g)]

    @staticmethod
    def _take(pts, pres, mask):
        return pts[mask], [a[mask] for a in pres]

    # search ------------------------------------------------------------------------------------
    def run(self) -> None:
        self._push_domain()
        pts = self.root
        if self.p.rows.size:
            inside = np.all(pts @ self.p.rows.T < self.p.rhs, axis=1)
            pts = pts[inside]
        pres = self.p.forward(pts)
        if pts.shape[0] == 0:
            margin, u = self.lp.trial()
            if not margin > self.tol:
                return
            pts, pres = self._with_point(pts, pres, u)
        self._enter_layer(0, np.eye(self.p.dim), np.zeros(self.p.dim), pts, pres)

    def _push_domain(self) -> None:
        for row, rhs in zip(self.p.rows, self.p.rhs):
            self._push(row, rhs)

    def _push(self, row, rhs) -> None:
        self.lp.push(row, rhs)
        self.boxes.append(tighten(*self.boxes[-1], row, rhs))
        self.rows.append(row)
        self.rhs.append(rhs)

    def _pop(self) -> None:
        self.lp.pop()
        self.boxes.pop()
        self.rows.pop()
        self.rhs.pop()

    def _cell_rows(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.rows).reshape(len(self.rows), self.p.dim), np.array(self.rhs)

    def _last_split_layer(self, k) -> bool:
        return all(layer.slope is None for layer in self.p.layers[k + 1:])

    def _interior_point(self, pts):
        if pts.shape[0]:
            return pts[0]
        margin, u = self.lp.trial()
        return u if margin > self.tol else None

    def _enter_layer(self, k, M, m, pts, pres, patterns=()) -> None:
        """Start layer k in a cell whose layer k-1 output is M u + m."""
        layer = self.p.layers[k]
        G, g0 = layer.weight @ M, layer.weight @ m + layer.bias
        if layer.slope is None:
            self._finish_layer(k, G, g0, np.ones(g0.size, dtype=bool), pts, pres, patterns)
            return
        gp, gn = np.maximum(G, 0.0), np.minimum(G, 0.0)
        blo, bhi = self.boxes[-1]
        upper = gp @ bhi + gn @ blo + g0
        lower = gp @ blo + gn @ bhi + g0
        norms = np.linalg.norm(G, axis=1)
        flat = norms <= 1e-12 * (1.0 + np.abs(g0))  # constant on the cell: active iff g0 > 0
        active = np.where(flat, g0 > 0.0, (lower >= 0.0) | (layer.fixed == ACTIVE))
        inactive = np.where(flat, ~active, ((upper <= 0.0) | (layer.fixed == INACTIVE)) & ~active)
        cand = np.flatnonzero(~(active | inactive))
        keep = np.ones(pts.shape[0], dtype=bool)
        for j in np.flatnonzero(active | inactive):
            keep &= np.abs(pres[k][:, j]) > POINT_TOL
        pts, pres = self._take(pts, pres, keep)
        if 0 < cand.size <= self.p.dim and not self.keep_cells and self._last_split_layer(k):
            self._count_arrangement(k, G[cand] / norms[cand, None], -g0[cand] / norms[cand], pts)
            return
        if cand.size > 1 and self._orthants(k, G, g0, norms, active, cand, patterns):
            return
        self._visit(k, G, g0, norms, active, cand, 0, pts, pres, patterns)

    def _count_arrangement(self, k, normals, offsets, pts) -> None:
        """The last splitting layer: count its regions in the cell (arrangement.py). Used when
        the 2^k fast path is possible (k <= dim); in low dimension the depth-first split is
        faster (docs/regions.md, "Numbers behind the code")."""
        if self.out_of_time():  # a full-dimensional cell: one region at least
            n = 1
        else:
            point = self._interior_point(pts)
            if point is None:
                self.trouble += 1
                return
            n = self.arrangement.count(normals, offsets, point)
        self.regions += n
        for j in range(k, len(self.cells_per_layer)):
            self.cells_per_layer[j] += n

    def _orthants(self, k, G, g0, norms, phase, cand, patterns) -> bool:
        """Split on every candidate at once when their hyperplanes meet inside the cell with
        independent normals: all 2^|cand| sub-cells are full-dimensional (arrangement.py)."""
        normals, offsets = G[cand] / norms[cand, None], -g0[cand] / norms[cand]
        if cand.size > self.p.dim or np.linalg.svd(normals, compute_uv=False)[-1] < INDEPENDENT:
            return False
        margin, u = self.lp.on_flat(normals, offsets)
        if not margin > self.tol:
            return False
        pts = sign_points(u, normals, offsets, self.p.lo, self.p.hi, *self._cell_rows())
        if pts is None:
            return False
        pres = self.p.forward(pts)
        for i, side in enumerate(signs(cand.size)):
            cphase = phase.copy()
            cphase[cand] = side > 0
            for row, rhs in zip(-side[:, None] * normals, -side * offsets):
                self._push(row, rhs)
            self._finish_layer(k, G, g0, cphase, pts[i:i + 1], [a[i:i + 1] for a in pres], patterns)
            for _ in cand:
                self._pop()
        return True

    def _visit(self, k, G, g0, norms, phase, cand, i, pts, pres, patterns) -> None:
        while i < cand.size:
            if self.out_of_time():
                self.regions += 1
                return
            j = cand[i]
            v = pres[k][:, j]
            masks = {1: v > POINT_TOL, -1: v < -POINT_TOL}
            blo, bhi = self.boxes[-1]
            a = G[j]
            upper = np.maximum(a, 0.0) @ bhi + np.minimum(a, 0.0) @ blo + g0[j]
            lower = np.maximum(a, 0.0) @ blo + np.minimum(a, 0.0) @ bhi + g0[j]
            found = {}
            for side in (1, -1):
                if (upper if side > 0 else -lower) <= 0.0:
                    continue
                if masks[side].any():
                    found[side] = None
                    continue
                row, rhs = -side * G[j] / norms[j], side * g0[j] / norms[j]
                margin, u = self.lp.trial(row, rhs)
                if np.isnan(margin):
                    self.trouble += 1
                elif margin > self.tol:
                    found[side] = u
            if len(found) < 2:
                side = next(iter(found), -1)
                phase[j] = side > 0
                sub = masks[side] if side in found else masks[1] | masks[-1]
                pts, pres = self._take(pts, pres, sub)
                if found.get(side) is not None:
                    pts, pres = self._with_point(pts, pres, found[side])
                i += 1
                continue
            if all(u is None for u in found.values()):
                self.point_splits += 1
            for side in (1, -1):
                cpts, cpres = self._take(pts, pres, masks[side])
                if found[side] is not None:
                    cpts, cpres = self._with_point(cpts, cpres, found[side])
                cphase = phase.copy()
                cphase[j] = side > 0
                self._push(-side * G[j] / norms[j], side * g0[j] / norms[j])
                self._visit(k, G, g0, norms, cphase, cand, i + 1, cpts, cpres, patterns)
                self._pop()
            return
        self._finish_layer(k, G, g0, phase, pts, pres, patterns)

    def _finish_layer(self, k, G, g0, phase, pts, pres, patterns) -> None:
        if self.tasks is not None and k == 0 and len(self.p.layers) > 1:
            extra = slice(self.p.rhs.size, None)
            self.tasks.append(CellTask(self.rows[extra], self.rhs[extra], G, g0, phase, pts, pres))
            return
        layer = self.p.layers[k]
        self.cells_per_layer[k] += 1
        if layer.slope is not None:
            patterns = (*patterns, phase)
        slope = np.where(phase, 1.0, layer.slope if layer.slope is not None else 1.0)
        M, m = slope[:, None] * G, slope * g0
        if k + 1 < len(self.p.layers):
            self._enter_layer(k + 1, M, m, pts, pres, patterns)
            return
        if pts.shape[0] == 0:
            margin, u = self.lp.trial()
            if not margin > self.tol:  # cannot happen for a full-dimensional cell; be safe
                self.trouble += 1
                return
            pts = u[None, :]
        self.regions += 1
        pattern = np.concatenate(patterns) if patterns else np.zeros(0, dtype=bool)
        self.check.add(pts[:1], pattern[None, :])
        if self.keep_cells:
            self.cells.append(Cell(np.array(self.rows).reshape(len(self.rows), self.p.dim),
                                   np.array(self.rhs), pts[0].copy(), pattern))

    # the cells after the first layer, counted elsewhere (cell_workers.py) --------------------
    @classmethod
    def for_worker(cls, problem: Problem, network: Network, deadline: float | None,
                   keep_cells: bool) -> "LPEnumerator":
        """An enumerator that only counts cells (count_cells): no samples, the domain rows pushed."""
        state = cls(problem, network, None, 0, 0, keep_cells, None)
        state.deadline = deadline
        state._push_domain()
        return state

    def first_layer_cells(self) -> list[CellTask]:
        """run(), leaving the cells after the first layer uncounted: those cells (none when the
        first layer is the last or is counted as an arrangement: run() counted everything)."""
        self.tasks = []
        self.run()
        cells, self.tasks = self.tasks, None
        self.check.flush()
        return cells

    def count_unexplored(self, n: int) -> None:
        """n cells after the first layer were not explored: one region each (full-dimensional)."""
        self.regions += n
        self.cells_per_layer[0] += n

    def count_cells(self, cells: list[CellTask]) -> dict:
        """Count cells (in a worker): what merge() adds to the parent's enumeration."""
        before = self._tally()
        for cell in cells:
            for row, value in zip(cell.rows, cell.rhs):
                self._push(row, value)
            try:
                self._finish_layer(0, cell.G, cell.g0, cell.phase, cell.pts, cell.pres, ())
            finally:
                for _ in cell.rows:
                    self._pop()
        out = {key: value - before[key] for key, value in self._tally().items()}
        out.update(cells_per_layer=self.cells_per_layer, stopped=self.stopped,
                   check=self.check.take(), cells=self.cells)
        self.cells_per_layer, self.cells = [0] * len(self.p.layers), []
        return out

    def _tally(self) -> dict:
        outer = self.arrangement.outer
        return {"regions": self.regions, "trouble": self.trouble + self.arrangement.trouble,
                "lps": self.lp.solves, "outer": outer.solves if outer is not None else 0,
                "point_splits": self.point_splits}

    def merge(self, out: dict) -> None:
        """Add what a worker's count_cells returned."""
        self.regions += out["regions"]
        self.trouble += out["trouble"]
        self.worker_lps += out["lps"]
        self.worker_outer += out["outer"]
        self.point_splits += out["point_splits"]
        self.cells_per_layer = [a + b for a, b in zip(self.cells_per_layer, out["cells_per_layer"])]
        self.check.merge(out["check"])
        self.cells.extend(out["cells"])
        if out["stopped"] and not self.stopped:
            self.stopped = out["stopped"]

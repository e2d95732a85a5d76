"""The regions of one layer's hyperplane arrangement inside a cell, counted without materialising them.

count() first counts faces (faces.py: generic cells, the usual case); this module's
deletion-restriction takes over when a face has dependent normals.

A cell D is an open polytope (the cell rows of enumerate.py inside the open domain box); the
layer's undecided neurons give hyperplanes a . u = c (unit normals a). Deletion-restriction
(Zaslavsky) on one hyperplane H:
    r(A, D) = r(A - H, D) + r(A^H, D n H)   when H meets D, else r(A - H, D),
where A^H are the other hyperplanes traced on H (coincident traces merged, parallel ones dropped).
Fast path: when the traces of A on the current flat have independent normals and one LP finds a
point of D on all of them, every sign pattern of A occurs next to that point: r = 2^|A|.
Witnesses: at every counted leaf, the points p + eps V s for all signs s of the flat's hyperplanes
and of A (V the pseudo-inverse of their normals, eps below the point's margin in D and its distance
to every other hyperplane of the layer) lie in D; together they meet every region counted (both
sides of each restricting hyperplane, the sides of the others as at p). The caller re-checks
them with Network.preactivations and requires as many distinct patterns as regions counted.
Flat questions ("does this flat meet D?") are answered from caches, then by an LP-free witness
(certify.flat_witness, from a point deep in D), and only then by an LP.
The linear algebra runs in the coordinates of frame.py (the span of the first layer's rows, 8-D
for a 784-10-10 MNIST network); only the LPs and the box checks see all inputs.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .certify import centred_point, flat_witness
from .faces import OPEN, count_faces
from .frame import IDENTITY, Frame
from .lp import CellLP
from .outer import OuterLP
from .signpoints import DEGENERATE, INDEPENDENT, flat_step, sign_points

DEEP_CAP = 0.05  # margin cap (times the box size) of the LP that centres the witnesses


class ArrangementCounter:
    """Counts r(A, D) for the cell currently pushed on `lp`; witnesses go to `emit`."""

    def __init__(self, lp: CellLP, lo: np.ndarray, hi: np.ndarray, tol: float,
                 cell_rows: Callable[[], tuple[np.ndarray, np.ndarray]],
                 emit: Callable[[np.ndarray], None], stop: Callable[[], bool],
                 frame: Frame = IDENTITY, outer: OuterLP | None = None):
        self.lp, self.lo, self.hi, self.tol = lp, lo, hi, tol
        self.cell_rows, self.emit, self.stop = cell_rows, emit, stop
        self.frame, self.outer = frame, outer
        self.trouble = 0

    def count(self, normals: np.ndarray, offsets: np.ndarray, point: np.ndarray) -> int:
        """r(A, D) for hyperplanes normals @ u = offsets (unit rows, input space) and a point of D."""
        rows, rhs = self.cell_rows()
        self._f = self.frame if self._in_frame(np.vstack([normals, rows])) else IDENTITY
        self._rows = (self._f.coords(rows), rhs)
        self._inputs = normals  # the LPs see input-space rows
        normals = self._f.coords(normals)
        self._outer = self.outer if self._f is self.frame else None
        if self._outer is not None:
            self._outer.set_cell(*self._rows, normals, offsets)
        self._miss: list[int] = []  # bitmasks of flats that miss D (so do all their supersets)
        self._hit: list[tuple[int, list[int], np.ndarray]] = []  # flats that meet D, with a point
        self._centre = self._deep_centre(point)
        d = normals.shape[1]
        keep = self._distinct(normals, offsets, np.zeros((d, 0)), point)
        n = count_faces(self, keep, normals, offsets, point)
        if n is not None:
            return n
        return self._node([], list(keep), normals, offsets, point, np.zeros((d, 0)))

    def _in_frame(self, vectors) -> bool:
        back = self.frame.lift(self.frame.coords(vectors))
        return bool(np.all(np.abs(back - vectors) <= 1e-10 * (1.0 + np.abs(vectors).max(initial=0.0))))

    def _deep_centre(self, point):
        """A point deep in D with room in most coordinates: the LP point of margin up to DEEP_CAP
        (when it beats `point`) moved toward the box centre (certify.centred_point)."""
        rows, rhs = self._rows
        margin, u = self.lp.deep(DEEP_CAP * float(np.max(self.hi - self.lo)))
        if u is not None and rows.size and margin > np.min(rhs - rows @ self._f.coords(point)):
            point = u
        return centred_point(point, self.lo, self.hi, rows, rhs, self._f)

    # geometry ------------------------------------------------------------------------------------
    @staticmethod
    def _traces(normals, idx, basis):
        t = normals[idx] - (normals[idx] @ basis) @ basis.T
        return t, np.linalg.norm(t, axis=1)

    def _distinct(self, normals, offsets, basis, point) -> list[int]:
        """Indices whose traces on the flat (orthonormal normal basis, point on it) are proper,
        distinct hyperplanes."""
        idx = np.arange(normals.shape[0])
        t, norm = self._traces(normals, idx, basis)
        keep, seen = [], []
        at = normals @ self._f.coords(point)
        for j in idx[norm > DEGENERATE]:
            a = t[j] / norm[j]
            h = (offsets[j] - at[j]) / norm[j]
            s = 1.0 if a[np.argmax(np.abs(a))] > 0 else -1.0
            key = np.r_[s * a, s * h]
            if any(np.max(np.abs(key - other)) <= DEGENERATE * (1.0 + abs(h)) for other in seen):
                continue
            seen.append(key)
            keep.append(int(j))
        return keep

    def _leaf(self, idx, normals, offsets, point) -> bool:
        rows, rhs = self._rows
        rest = np.setdiff1d(np.arange(normals.shape[0]), idx)
        pts = sign_points(point, normals[idx], offsets[idx], self.lo, self.hi, rows, rhs,
                          (normals[rest], offsets[rest]), self._f)
        if pts is None:
            return False
        self.emit(pts)
        return True

    def _on_flat(self, idx, normals, offsets):
        """A point of D on the flat of idx, or None; answered from earlier LPs when it can be
        (a subset of a flat met: its point moved off the extra hyperplanes; a superset of a miss)."""
        mask = sum(1 << j for j in idx)
        if any(m & ~mask == 0 for m in self._miss):
            return None
        for m, big, point in self._hit:
            if mask & ~m == 0:
                u = self._off(point, idx, big, normals, offsets)
                if u is not None:
                    return u
        return self._ask(idx, mask, normals, offsets)

    def _ask(self, idx, mask, normals, offsets, anchors=(), likely=False, defer=False):
        """The flat question without caches: the outer LP (no), the LP-free witness (yes) from
        each anchor (before the outer LP when a "yes" is `likely`) and from the cell's centre,
        the cell LP; the answer is recorded in the caches. With `defer`, a question left open by
        the outer LP and the witnesses is answered OPEN (no cell LP): faces.py asserts the face
        and certifies it later, when no point of a larger face does (find)."""
        if likely:
            u = self._witness(idx, mask, normals, offsets, anchors)
            if u is not None:
                return u
        if self._outer is not None:
            needed = self._outer.misses(np.array(idx))
            if needed is not None:
                self._miss.append(sum(1 << j for j, use in zip(idx, needed) if use))
                return None
        anchors = (*(() if likely else anchors), self._centre)
        if defer and self._outer is not None:
            u = self._witness(idx, mask, normals, offsets, anchors)
            return OPEN if u is None else u
        return self.find(idx, mask, normals, offsets, anchors)

    def find(self, idx, mask, normals, offsets, anchors=()):
        """A point of D on the flat of idx: the LP-free witness from each anchor, then the cell
        LP; None when the cell LP says the flat misses D."""
        u = self._witness(idx, mask, normals, offsets, anchors)
        if u is not None:
            return u
        margin, u = self.lp.on_flat(self._inputs[idx], offsets[idx])
        if np.isnan(margin):
            self.trouble += 1
        if margin > self.tol:
            self._hit.append((mask, list(idx), u))
            return u
        if not np.isnan(margin):
            self._miss.append(mask)
            direction = self.lp.reduced_costs()
            if self._outer is not None and direction is not None:
                self._outer.add_cut(direction)
        return None

    def _witness(self, idx, mask, normals, offsets, anchors):
        for anchor in anchors:
            u = flat_witness(anchor, normals[idx], offsets[idx], self.lo, self.hi, *self._rows,
                             self.tol, self._f)
            if u is not None:
                self._hit.append((mask, list(idx), u))
                return u
        return None

    def _off(self, point, idx, big, normals, offsets):
        """`point` (on the flat of big) moved within the flat of idx off big's other hyperplanes."""
        extra = [j for j in big if j not in idx]
        if not extra:
            return point
        order = list(idx) + extra
        step = flat_step(point, normals[order], offsets[order], self.lo, self.hi, *self._rows, None,
                     self._f)
        if step is None:
            return None
        p, pinv, eps = step
        return p + eps * self._f.lift(pinv[:, len(idx):].sum(axis=1))

    def _independent(self, idx, normals, basis) -> bool:
        if len(idx) > normals.shape[1] - basis.shape[1]:
            return False
        t, _ = self._traces(normals, idx, basis)
        return np.linalg.svd(t, compute_uv=False)[-1] >= INDEPENDENT

    # deletion-restriction ------------------------------------------------------------------------
    def _node(self, flat, cand, normals, offsets, point, basis) -> int:
        """r(traces of cand on the flat {normals[flat] u = offsets[flat]}, D n flat); point is in it."""
        if not cand:
            if not self._leaf(flat, normals, offsets, point):
                self.trouble += 1
            return 1
        if self.stop():
            return 1
        if self._independent(cand, normals, basis):
            u = self._on_flat(flat + cand, normals, offsets)
            if u is not None and self._leaf(flat + cand, normals, offsets, u):
                return 2 ** len(cand)
        h, rest = cand[0], cand[1:]
        total = self._node(flat, rest, normals, offsets, point, basis)
        if self.stop():
            return total
        u = self._on_flat(flat + [h], normals, offsets)
        if u is not None:
            t, norm = self._traces(normals, [h], basis)
            sub = np.hstack([basis, (t / norm[:, None]).T])
            sub_idx = [rest[j] for j in self._distinct(normals[rest], offsets[rest], sub, u)] if rest else []
            total += self._node(flat + [h], sub_idx, normals, offsets, u, sub)
        return total

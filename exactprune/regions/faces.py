"""Regions of a generic arrangement inside a cell, counted as the faces of a simplicial complex.

For hyperplanes A inside an open convex cell D, call a set S of them a face when its flat meets D
(the empty set included). When every face has independent normals, the flats meeting D form a
boolean lattice (no other hyperplane contains a face's flat, else a dependent face would exist),
so Zaslavsky's sum over flats meeting D of |mu| is the number of faces: r(A, D) = #faces. Faces
are closed under subsets, so they are found hyperplane by hyperplane: with the faces among the
first hyperplanes known, S + {h} is asked only when all its facets are faces (so every "no" asked
is a minimal non-face), smallest S first; more hyperplanes than the rank of A are a "no" without
a question when their equations are inconsistent (least squares). Many "yes" need no question:
when two known points of D on the flat of S lie on opposite sides of h, the point where their
segment crosses h is on the flat of S + {h} and inside D (D, the box and the flat are convex),
checked in float64; the same is tried with every other facet of S + {h} in the role of S. Each
face keeps, per hyperplane, the extreme signed distances of the known points on its flat (updated
when a point is added to it or a superset), so the test is a lookup per facet. Failing that, the
question is asked: the outer LP (no), the LP-free witness of certify.py from the known point
nearest to its hyperplane (first when a "yes" is likely: that point is within
LIKELY_NEAR x LIKELY_GROWTH^m of the hyperplane, m the new flat's dimension within the span of A)
and from the cell's centre (yes). A question still open then (the outer LP is nearly exact) is
asserted as a face without a point and certified after the loop, largest first: by a known point
on its flat (a larger face's: most asserted faces are not maximal), a crossing point, or else the
cell LP, which drops it when it refutes it (a refuted face has no certified superset, as any
point of one would lie on its flat). Faces asked because of a refuted facet were asserted or
refuted themselves, so the faces kept are exactly the faces. How often each answer comes, and
what the order saves, is measured in docs/regions.md ("Numbers behind the code").

Witnesses: a maximal face's flat meets no other hyperplane inside D, so every region whose closure
reaches that flat lies next to any of its points; the closure of every region reaches some
maximal face (the faces of its closure form a complex too). So the sign points (signpoints.py)
around one point of every maximal face meet every region; one point per sign pattern of the
hyperplanes (in frame coordinates) is passed on to the float64 re-check.
"""

from __future__ import annotations

import numpy as np

from .certify import ON_FLAT, SAFETY
from .signpoints import INDEPENDENT, sign_points

MAX_HYPERPLANES = 62  # faces are int64 bitmasks
OPEN = "open"  # counter._ask's answer to a deferred question the outer LP left open
LIKELY_NEAR, LIKELY_GROWTH = 0.01, 3.0  # "likely yes": nearest known point this close (x box size)
INCONSISTENT = 1e-9  # least-squares residual (relative) of equations without a common solution


def count_faces(counter, cand: list[int], normals: np.ndarray, offsets: np.ndarray,
                point: np.ndarray) -> int | None:
    """#faces of the hyperplanes cand (rows of normals, frame coordinates) in the counter's cell,
    witnesses emitted; None when a face has dependent normals, a maximal face has no sign points
    or the clock ran out (the caller falls back to deletion-restriction)."""
    if cand and max(cand) >= MAX_HYPERPLANES:
        return None
    frame = counter._f
    rank = np.linalg.matrix_rank(normals[cand]) if cand else 0
    rows, rhs = counter._rows
    scale = float(np.max(counter.hi - counter.lo))
    known = _Known(point, frame.coords(point), normals, offsets)
    asserted = []  # faces taken on the outer LP's open answer, certified after the loop
    for j in cand:
        bit = 1 << j
        for mask in sorted(known.index, key=int.bit_count):
            if mask & bit:
                continue
            sub = mask | bit
            members = known.members[mask]
            if any(sub & ~(1 << i) not in known.index for i in members):
                continue
            idx = members + [j]
            if len(idx) > rank and _inconsistent(normals[idx], offsets[idx]):
                continue
            found, anchor, near = _crossing(counter, known, sub, idx, normals, offsets, rows, rhs)
            if found is None:
                if counter.stop():
                    return None
                likely = near < LIKELY_NEAR * scale * LIKELY_GROWTH ** (rank - len(idx))
                u = counter._ask(idx, sub, normals, offsets, () if anchor is None else (anchor,),
                                 likely, defer=True)
                if u is None:
                    continue
                if u is OPEN:
                    known.assert_face(sub, idx)
                    asserted.append(sub)
                    continue
                found = _onto(frame, u, normals[idx], offsets[idx])
            known.add(sub, idx, *found)
    if not _certify(counter, known, asserted, normals, offsets, rows, rhs):
        return None
    if not _independent(known.index, cand, normals, rank):
        return None
    inner = {mask & ~(1 << i) for mask, members in known.members.items() for i in members}
    pts = []
    for mask, row in known.index.items():
        if mask in inner:
            continue
        idx = [i for i in cand if mask >> i & 1]
        rest = [i for i in cand if not mask >> i & 1]
        got = sign_points(known.points[row], normals[idx], offsets[idx], counter.lo, counter.hi,
                          rows, rhs, (normals[rest], offsets[rest]), frame)
        if got is None:
            return None
        pts.append(got)
    pts = np.vstack(pts)
    sides = (frame.coords(pts) @ normals[cand].T > offsets[cand]).astype(np.int64)
    keys = sides @ (np.int64(1) << np.arange(len(cand), dtype=np.int64))  # sign pattern as bits
    counter.emit(pts[np.sort(np.unique(keys, return_index=True)[1])])
    return len(known.index)


class _Known:
    """The faces found so far: bitmask -> row of their points (input space), coordinates and the
    faces' hyperplanes; and per face and hyperplane, over the known points on the face's flat (the
    points of the face and of its supersets): the lowest signed distance, minus the highest and
    the smallest absolute one (`extremes`, face x (3 x hyperplanes)), each with the row of its
    point (`at`), kept up to date as points are added."""

    def __init__(self, point: np.ndarray, y: np.ndarray, normals: np.ndarray, offsets: np.ndarray):
        self.normals, self.offsets = normals, offsets
        self.index = {0: 0}
        self.members: dict[int, list[int]] = {0: []}
        self.size = 1  # rows in use (a dropped face keeps its row)
        h = offsets.size
        self.points, self.ys = np.zeros((16, point.size)), np.zeros((16, y.size))
        self.extremes, self.at = np.full((16, 3 * h), np.inf), np.zeros((16, 3 * h), dtype=np.intp)
        self._put(0, [0], point, y)

    def _row(self, mask: int, members: list[int]) -> int:
        n = self.size
        if n == self.points.shape[0]:
            self.points, self.ys, self.at = (
                np.concatenate([a, np.zeros_like(a)]) for a in (self.points, self.ys, self.at))
            self.extremes = np.concatenate([self.extremes, np.full_like(self.extremes, np.inf)])
        self.index[mask], self.members[mask] = n, members
        self.size += 1
        return n

    def add(self, mask: int, members: list[int], point: np.ndarray, y: np.ndarray) -> None:
        self._row(mask, members)
        self.fill(mask, point, y)

    def assert_face(self, mask: int, members: list[int]) -> None:
        """A face without a point yet (it gets one from fill, its own or a superset's)."""
        self._row(mask, members)

    def fill(self, mask: int, point: np.ndarray, y: np.ndarray) -> None:
        """The point of face `mask` (on its flat, inside the cell)."""
        sub, faces = mask, []  # every face whose flat holds the point: the subsets of mask
        while True:
            faces.append(self.index[sub])
            if not sub:
                break
            sub = (sub - 1) & mask
        self._put(self.index[mask], faces, point, y)

    def has_point(self, mask: int) -> bool:
        """Whether a known point lies on the face's flat (its own or a superset's)."""
        return bool(self.extremes[self.index[mask], 0] < np.inf)

    def drop(self, mask: int) -> None:
        del self.index[mask], self.members[mask]

    def _put(self, n: int, faces: list[int], point: np.ndarray, y: np.ndarray) -> None:
        self.points[n], self.ys[n] = point, y
        side = self.normals @ y - self.offsets
        rows = np.array(faces)
        value = np.concatenate([side, -side, np.abs(side)])
        old = self.extremes.take(rows, axis=0)
        self.extremes[rows] = np.minimum(old, value)
        self.at[rows] = np.where(value < old, n, self.at.take(rows, axis=0))


def _onto(frame, u, normals, offsets):
    """u moved onto the flat normals @ y = offsets (an LP point is on it only up to 1e-9; a
    witness's is within 1e-12 already and stays)."""
    y = frame.coords(u)
    gap = normals @ y - offsets
    if (np.abs(gap) <= ON_FLAT * (1.0 + np.abs(offsets))).all():
        return u, y
    try:
        shift = np.linalg.solve(normals @ normals.T, gap) @ normals
    except np.linalg.LinAlgError:  # dependent normals (the count falls back to deletion-restriction)
        shift = np.linalg.pinv(normals) @ gap
    u = u - frame.lift(shift)
    return u, frame.coords(u)


def _certify(counter, known, asserted, normals, offsets, rows, rhs) -> bool:
    """Certify the faces asserted on an open outer LP, largest first: by a known point on the
    flat (a superset's), a crossing point, or counter.find; a face find refutes is dropped (its
    supersets were dropped before it: a point of theirs would be one of its flat). False when
    the clock ran out."""
    for mask in sorted(asserted, key=int.bit_count, reverse=True):
        if known.has_point(mask):
            continue
        idx = known.members[mask]
        found = _crossing(counter, known, mask, idx, normals, offsets, rows, rhs)[0]
        if found is None:
            if counter.stop():
                return False
            u = counter.find(idx, mask, normals, offsets)  # the witnesses failed when asked
            if u is None:
                known.drop(mask)
                continue
            found = _onto(counter._f, u, normals[idx], offsets[idx])
        known.fill(mask, *found)
    return True


def _independent(masks, cand, normals, rank) -> bool:
    """Whether every face has independent normals (smallest singular value >= INDEPENDENT),
    checked in one batch per face size."""
    by_size: dict[int, list[list[int]]] = {}
    for mask in masks:
        if mask:
            by_size.setdefault(mask.bit_count(), []).append([i for i in cand if mask >> i & 1])
    for size, faces in by_size.items():
        if size > rank:
            return False
        if np.linalg.svd(normals[np.array(faces)], compute_uv=False)[:, -1].min() < INDEPENDENT:
            return False
    return True


def _inconsistent(normals, offsets) -> bool:
    """Whether the equations normals @ y = offsets (more than their rank) have no solution."""
    residual = normals @ (np.linalg.pinv(normals) @ offsets) - offsets
    return bool(np.linalg.norm(residual) > INCONSISTENT * (1.0 + np.linalg.norm(offsets)))


def _crossing(counter, known, sub, idx, normals, offsets, rows, rhs):
    """(A point of D on the flat of sub where a segment between two known points on the flat of a
    facet sub - {g} crosses hyperplane g, or None; the known point nearest to the hyperplane of
    its facet, as an anchor for the witness, and its distance to that hyperplane)."""
    facet = np.array([known.index[sub & ~(1 << i)] for i in idx])
    cols = np.array(idx)
    h = offsets.size
    low, high = known.extremes[facet, cols], -known.extremes[facet, h + cols]
    cross = ((low < 0.0) & (high > 0.0)).nonzero()[0]
    if cross.size:  # crossing points in frame coordinates first (linear in the end points)
        tol, n, o = counter.tol, normals[cols], offsets[cols]
        close = ON_FLAT * (1.0 + np.abs(o))
        a, b = known.at[facet[cross], cols[cross]], known.at[facet[cross], h + cols[cross]]
        alpha = (low[cross] / (low[cross] - high[cross]))[:, None]
        ys = known.ys[a] + alpha * (known.ys[b] - known.ys[a])
        good = (np.abs(ys @ n.T - o) <= close).all(axis=1)
        if rows.size:
            good &= (ys @ rows.T < rhs - SAFETY * tol).all(axis=1)
        for c in good.nonzero()[0]:
            u = known.points[a[c]] + alpha[c, 0] * (known.points[b[c]] - known.points[a[c]])
            y = counter._f.coords(u)
            if ((np.abs(n @ y - o) <= close).all() and (u > counter.lo + tol).all()
                    and (u < counter.hi - tol).all() and (rhs - rows @ y > SAFETY * tol).all()):
                return (u, y), None, 0.0
    near = known.extremes[facet, 2 * h + cols]
    best = int(np.argmin(near))
    return None, known.points[known.at[facet[best], 2 * h + cols[best]]], float(near[best])

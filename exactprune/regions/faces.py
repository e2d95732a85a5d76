"""Regions of a generic arrangement inside a cell, counted as the faces of a simplicial complex.

For hyperplanes A inside an open convex cell D, call a set S of them a face when its flat meets D
(the empty set included). When every face has independent normals, the flats meeting D form a
boolean lattice (no other hyperplane contains a face's flat, else a dependent face would exist),
so Zaslavsky's sum over flats meeting D of |mu| is the number of faces: r(A, D) = #faces. Faces
are closed under subsets, so they are found hyperplane by hyperplane: with the faces among the
first hyperplanes known, S + {h} is asked only when all its facets are faces (so every "no" asked
is a minimal non-face), smallest S first. Many "yes" need no question: when two known points of
D on the flat of S lie on opposite sides of h, the point where their segment crosses h is on the
flat of S + {h} and inside D (D, the box and the flat are convex), checked in float64; the same
is tried with every other facet of S + {h} in the role of S.

Witnesses: a maximal face's flat meets no other hyperplane inside D, so every region whose closure
reaches that flat lies next to any of its points; the closure of every region reaches some
maximal face (the faces of its closure form a complex too). So the sign points (arrangement.
sign_points) around one point of every maximal face meet every region.
"""

from __future__ import annotations

import numpy as np

from .signpoints import INDEPENDENT, sign_points

SAFETY = 2.0  # a crossing point must clear the cell rows by SAFETY * tol, like certify.flat_witness


def count_faces(counter, cand: list[int], normals: np.ndarray, offsets: np.ndarray,
                point: np.ndarray) -> int | None:
    """#faces of the hyperplanes cand (rows of normals, frame coordinates) in the counter's cell,
    witnesses emitted; None when a face has dependent normals, a maximal face has no sign points
    or the clock ran out (the caller falls back to deletion-restriction)."""
    frame = counter._f
    rows, rhs = counter._rows
    faces = {0: (point, frame.coords(point))}  # mask -> a point of D on its flat, its coordinates
    inner = set()  # faces that are facets of another face
    for j in cand:
        bit = 1 << j
        for mask in sorted(faces, key=int.bit_count):
            if mask & bit:
                continue
            sub = mask | bit
            if any(sub & ~(1 << i) not in faces for i in _bits(mask)):
                continue
            idx = [i for i in cand if sub >> i & 1]
            found = None
            for g in idx:
                found = _crossing(counter, sub & ~(1 << g), g, faces, normals, offsets, idx, rows, rhs)
                if found is not None:
                    break
            if found is None:
                if counter.stop():
                    return None
                u = counter._ask(idx, sub, normals, offsets)
                if u is None:
                    continue
                found = _onto(frame, u, normals[idx], offsets[idx])
            if np.linalg.svd(normals[idx], compute_uv=False)[-1] < INDEPENDENT:
                return None
            faces[sub] = found
            inner.update(sub & ~(1 << i) for i in idx)
    pts = []
    for mask, (u, _) in faces.items():
        if mask in inner:
            continue
        idx = [i for i in cand if mask >> i & 1]
        rest = [i for i in cand if not mask >> i & 1]
        got = sign_points(u, normals[idx], offsets[idx], counter.lo, counter.hi, rows, rhs,
                          (normals[rest], offsets[rest]), frame)
        if got is None:
            return None
        pts.append(got)
    counter.emit(np.vstack(pts))
    return len(faces)


def _onto(frame, u, normals, offsets):
    """u moved onto the flat normals @ y = offsets (an LP point is on it only up to 1e-9)."""
    y = frame.coords(u)
    u = u - frame.lift(np.linalg.pinv(normals) @ (normals @ y - offsets))
    return u, frame.coords(u)


def _bits(mask: int):
    i = 0
    while mask:
        if mask & 1:
            yield i
        mask >>= 1
        i += 1


def _crossing(counter, mask, j, faces, normals, offsets, idx, rows, rhs):
    """A point of D on the flat of mask + {j} where a segment between two known points on the
    flat of mask crosses hyperplane j, or None."""
    known = [pt for m, pt in faces.items() if m & mask == mask]
    ys = np.array([y for _, y in known])
    side = ys @ normals[j] - offsets[j]
    a, b = int(np.argmin(side)), int(np.argmax(side))
    if not (side[a] < 0.0 < side[b]):
        return None
    alpha = side[a] / (side[a] - side[b])
    u = known[a][0] + alpha * (known[b][0] - known[a][0])
    y = counter._f.coords(u)
    tol = counter.tol
    slack = rhs - rows @ y if rows.size else np.zeros(0)
    if (np.all(np.abs(normals[idx] @ y - offsets[idx]) <= 1e-12 * (1.0 + np.abs(offsets[idx])))
            and np.all(u > counter.lo + tol) and np.all(u < counter.hi - tol)
            and np.all(slack > SAFETY * tol)):
        return u, y
    return None

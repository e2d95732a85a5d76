"""LP-free answers to the cell LP's flat question (lp.CellLP.on_flat): does the flat
normals @ u = offsets meet the cell {rows @ u <= rhs} inside the box with margin above tol?

- Yes, by a witness: a point on the flat (residual checked) whose float64 slack on every cell row
  exceeds SAFETY * tol and which lies in the box shrunk by tol (the LP's box) strictly. The LP's
  optimum is then above tol too, so the answer is the one the LP would give.
  The candidate is a centred point of the cell moved onto the flat by the correction of least
  slack-weighted norm (coordinates near a box bound hardly move).
A "no" still needs the LP.
"""

from __future__ import annotations

import numpy as np

from .frame import IDENTITY, Frame

SAFETY = 2.0  # witnesses need slack > SAFETY * tol
ON_FLAT = 1e-12  # a point is on a flat when every residual is below ON_FLAT * (1 + |offset|)
WITNESS_ROUNDS = 6
GIVE_UP = 3  # from the second round on, this many crossed cell rows end the search (such searches
# rarely find a point: docs/regions.md, "Numbers behind the code")
CENTRE_KEEP = 0.5  # the centred point keeps at least this share of the point's slack on every row


def centred_point(point: np.ndarray, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray,
                  rhs: np.ndarray, frame: Frame = IDENTITY) -> np.ndarray:
    """`point` (strictly inside the cell) moved toward the box centre as far as every cell row keeps
    CENTRE_KEEP of its slack: a point with room in (almost) every coordinate. Rows in `frame`
    coordinates."""
    mid = 0.5 * (lo + hi)
    if not rows.size:
        return mid
    s_p, s_m = rhs - rows @ frame.coords(point), rhs - rows @ frame.coords(mid)
    loss = s_p - s_m
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(loss > 0.0, (1.0 - CENTRE_KEEP) * s_p / loss, np.inf)
    alpha = float(min(1.0, np.min(limits, initial=np.inf)))
    return point + alpha * (mid - point)


def flat_witness(centre: np.ndarray, normals: np.ndarray, offsets: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, rows: np.ndarray, rhs: np.ndarray, tol: float,
                 frame: Frame = IDENTITY, rounds: int = WITNESS_ROUNDS) -> np.ndarray | None:
    """A point of the flat inside the cell with margin > SAFETY * tol and strictly inside the box
    [lo + tol, hi - tol], or None (no conclusion). A few rounds: each coordinate may move by its
    room toward the side the previous round moved it; cell rows the previous round crossed are
    held at half the centre's slack. Normals and rows in `frame` coordinates."""
    full, live = centre, None if frame.live is None or frame.live.size == centre.size else frame.live
    basis = frame.live_basis  # None for the identity frame
    if live is not None:  # inputs outside the frame's span never move: check them once
        dead = frame.dead
        if not ((centre[dead] > lo[dead] + tol).all() and (centre[dead] < hi[dead] - tol).all()):
            return None
        centre, lo, hi = centre[live], lo[live], hi[live]
    low, high = lo + tol, hi - tol
    up, down = np.maximum(high - centre, 0.0), np.maximum(centre - low, 0.0)
    weight = np.minimum(up, down)
    held = np.zeros(rows.shape[0], dtype=bool)
    y = centre if basis is None else centre @ basis
    close, need = ON_FLAT * (1.0 + np.abs(offsets)), SAFETY * tol
    eq, gap = normals, offsets - normals @ y
    lifted = eq if basis is None else eq @ basis.T  # a step s moves u by s @ (lifted * weight)
    for done in range(rounds):
        lw = lifted * weight
        try:
            step = np.linalg.solve(lw @ lifted.T, gap)
        except np.linalg.LinAlgError:
            return None
        move = step @ lw
        u = centre + move
        yu = u if basis is None else u @ basis
        crossed = rhs - rows @ yu <= need
        if (not crossed.any() and (u > low).all() and (u < high).all()
                and (np.abs(normals @ yu - offsets) <= close).all()):
            if live is None:
                return u
            out = full.copy()
            out[live] = u
            return out
        if done and np.count_nonzero(crossed) >= GIVE_UP:
            return None
        weight = np.where(move > 0.0, up, down)
        if (crossed > held).any():
            held |= crossed
            kept = rows[held]
            eq = np.vstack([normals, kept])
            gap = np.concatenate([offsets, rhs[held] - 0.5 * (rhs[held] - kept @ y)]) - eq @ y
            lifted = eq if basis is None else eq @ basis.T
    return None

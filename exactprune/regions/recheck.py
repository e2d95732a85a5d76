"""The float64 re-check of region witnesses with Network.preactivations, in batches.

Recorded witnesses (a point and the pattern the enumeration says it has) must have exactly that
pattern; free witnesses (arrangement.py) only add their patterns. Every witness must lie in the
domain. A count is verified when nothing failed and, if it finished, there are exactly as many
distinct patterns as regions.
"""

from __future__ import annotations

import numpy as np

from ..ir import Network
from .problem import Problem

BATCH = 512  # points per forward pass: larger batches fall out of the cache (docs/regions.md)


class WitnessCheck:
    def __init__(self, problem: Problem, network: Network):
        self.p, self.network = problem, network
        self.points: list[np.ndarray] = []
        self.patterns: list[np.ndarray] = []
        self.free: list[np.ndarray] = []
        self.pending = 0
        self.seen: set[bytes] = set()
        self.mismatch = 0
        self.outside = 0

    def add(self, points: np.ndarray, patterns: np.ndarray) -> None:
        """Witnesses (n, dim) with their recorded patterns (n, two-phase neurons)."""
        self.points.append(points)
        self.patterns.append(patterns)
        self._grow(len(points))

    def add_free(self, points: np.ndarray) -> None:
        """Witnesses whose patterns are not recorded: only distinctness counts."""
        self.free.append(points)
        self._grow(len(points))

    def _grow(self, n: int) -> None:
        self.pending += n
        if self.pending >= BATCH:
            self.flush()

    def _patterns(self, u: np.ndarray) -> np.ndarray:
        pre = self.network.preactivations(self.p.lift(u))
        two_phase = [g for g, layer in zip(pre, self.network.hidden) if layer.activation.two_phase]
        return np.hstack(two_phase) > 0.0 if two_phase else np.zeros((u.shape[0], 0), dtype=bool)

    def _outside(self, u: np.ndarray) -> int:
        out = np.any((u < self.p.lo) | (u > self.p.hi), axis=1)
        if self.p.rows.size:
            out |= np.any(u @ self.p.rows.T > self.p.rhs, axis=1)
        return int(np.sum(out))

    def flush(self) -> None:
        for points, recorded in ((self.points, self.patterns), (self.free, None)):
            if not points:
                continue
            u = np.vstack(points)
            got = self._patterns(u)
            if recorded is not None:
                self.mismatch += int(np.sum(np.any(got != np.vstack(recorded), axis=1)))
            self.outside += self._outside(u)
            self.seen.update(row.tobytes() for row in np.packbits(got, axis=1))
        self.points.clear()
        self.patterns.clear()
        self.free.clear()
        self.pending = 0

    def take(self) -> tuple[int, int, set[bytes]]:
        """(mismatches, points outside, patterns seen) so far, then start afresh (a worker
        process hands them to the parent's check)."""
        self.flush()
        out = (self.mismatch, self.outside, self.seen)
        self.mismatch, self.outside, self.seen = 0, 0, set()
        return out

    def merge(self, taken: tuple[int, int, set[bytes]]) -> None:
        """Add what another check took."""
        self.mismatch += taken[0]
        self.outside += taken[1]
        self.seen |= taken[2]

    def verified(self, regions: int, finished: bool) -> bool:
        self.flush()
        return self.mismatch == 0 and self.outside == 0 and (not finished or len(self.seen) == regions)

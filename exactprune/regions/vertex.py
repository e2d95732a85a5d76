"""LP-free enumeration for low input dimension: every cell is kept as its vertices.

As in the double-description method, a cell is the list of its vertices and, for each vertex, the
set of constraints tight at it (bitmasks over the box facets, the domain rows and every hidden
neuron). A neuron's hyperplane, affine on the cell (g = G u + g0), cuts the cell into two
full-dimensional parts iff some vertex lies beyond it on each side. A vertex whose distance to the
hyperplane is at most VERTEX_TOL * scale counts as on it (both parts keep it, tight on the new
constraint), so a part that is thinner than that at every vertex is never made (as the LP margin
of enumerate.py, and an all-on cell takes the sign of its mean). The parts keep their sides'
vertices and share a new vertex on every edge that crosses the hyperplane; two vertices span an
edge iff they share >= d - 1 tight constraints and no third vertex of the cell is tight on all of
them (the combinatorial adjacency test). The domain rows clip the starting box the same way.
Cells go through the network in batches, breadth-first inside a layer: each neuron is decided for
the whole batch with a few numpy operations. Every region's witness is its vertex centroid,
re-checked by the caller (search.Search) with Network.preactivations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product

import numpy as np

from ..ir import ACTIVE, INACTIVE
from .search import Cell, Search

VERTEX_TOL = 1e-9  # vertices closer than this (times scale) to a hyperplane are on it
VERTEX_MAX_DIM = 7  # count_problem uses this path up to this input dimension (bench --crossover)
BATCH_VERTICES = 200_000  # cells enter a layer in batches of about this many vertices
MAX_VERTICES = 600_000  # a batch that grows past this inside a layer is cut into batches


@dataclass
class Cells:
    """A batch of cells: vertices V (N, d), their cell cid (N,) and tight sets T (N, words)."""

    V: np.ndarray
    cid: np.ndarray
    T: np.ndarray
    pattern: np.ndarray  # (n, two-phase neurons) bool
    M: np.ndarray  # (n, m, d): the previous layer's output is M u + m on each cell
    m: np.ndarray  # (n, m)
    rows: np.ndarray  # (n, R, d) constraints rows @ u <= rhs of each cell (only kept for slices)
    rhs: np.ndarray  # (n, R)

    @property
    def n(self) -> int:
        return self.pattern.shape[0]

    def take(self, keep: np.ndarray) -> "Cells":
        """The cells with indices `keep` (sorted), renumbered."""
        new = np.full(self.n, -1)
        new[keep] = np.arange(keep.size)
        on = new[self.cid] >= 0
        return Cells(self.V[on], new[self.cid[on]], self.T[on], self.pattern[keep], self.M[keep],
                     self.m[keep], self.rows[keep], self.rhs[keep])


def box_vertices(lo: np.ndarray, hi: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray]:
    """The 2^d corners of the box and their tight sets (facet i: u_i = lo_i, d + i: u_i = hi_i)."""
    d = lo.size
    up = np.array(list(product((False, True), repeat=d)), dtype=bool).reshape(2 ** d, d)
    T = np.zeros((2 ** d, words), dtype=np.uint64)
    for i in range(d):
        set_bit(T, ~up[:, i], i)
        set_bit(T, up[:, i], d + i)
    return np.where(up, hi, lo), T


def set_bit(T: np.ndarray, mask: np.ndarray, bit: int) -> None:
    T[mask, bit // 64] |= np.uint64(1 << (bit % 64))


def _groups(cid: np.ndarray, members: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The indices `members` sorted by cell, and each cell's start and count in that order."""
    order = members[np.argsort(cid[members], kind="stable")]
    count = np.bincount(cid[members], minlength=n)
    return order, np.cumsum(count) - count, count


def _pairs(owner: np.ndarray, order: np.ndarray, start: np.ndarray, count: np.ndarray):
    """For each i and each member j of cell owner[i]: (i repeated, j)."""
    reps = count[owner]
    first = np.repeat(np.arange(owner.size), reps)
    offset = np.arange(first.size) - np.repeat(np.cumsum(reps) - reps, reps)
    return first, order[start[owner[first]] + offset]


def _checked_pairs(cells: Cells, a: np.ndarray, b: np.ndarray, n: int, d: int):
    """The pairs (a, b) (each a with each b of its cell) that span an edge: >= d - 1 shared tight
    constraints and no third vertex of the cell tight on all of them."""
    cid = cells.cid
    if a.size == 0 or b.size == 0:
        return a[:0], b[:0]
    i, b = _pairs(cid[a], *_groups(cid, b, n))
    a = a[i]
    common = cells.T[a] & cells.T[b]
    shared = np.bitwise_count(common).sum(axis=1, dtype=np.int64) >= d - 1
    a, b, common = a[shared], b[shared], common[shared]
    p, w = _pairs(cid[a], *_groups(cid, np.flatnonzero(np.isin(cid, np.unique(cid[a]))), n))
    covers = np.all(common[p] & ~cells.T[w] == 0, axis=1) & (w != a[p]) & (w != b[p])
    edge = np.bincount(p[covers], minlength=a.size) == 0
    return a[edge], b[edge]


def _keys(T: np.ndarray, d: int) -> np.ndarray:
    """The d keys of every row of T (d set bits each): the row minus one of its bits, (n * d, words)."""
    n, words = T.shape
    rest = T.copy()
    keys = np.repeat(T[:, None, :], d, axis=1)
    rows = np.arange(n)
    for i in range(d):
        word = np.argmax(rest != 0, axis=1)
        value = rest[rows, word]
        low = value & (~value + np.uint64(1))  # the lowest set bit
        keys[rows, i, word] ^= low
        rest[rows, word] ^= low
    return keys.reshape(n * d, words)


def _sorted(keys: np.ndarray, cid: np.ndarray) -> np.ndarray:
    """An order that puts equal (cid, key) rows next to each other: a sort by a 64-bit hash, or a
    lexicographic sort when two different rows share a hash."""
    h = cid.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for w in range(keys.shape[1]):
            h = (h ^ keys[:, w]) * np.uint64(0xBF58476D1CE4E5B9)
    order = np.argsort(h)
    hs, ks, cs = h[order], keys[order], cid[order]
    clash = (hs[1:] == hs[:-1]) & ~(np.all(ks[1:] == ks[:-1], axis=1) & (cs[1:] == cs[:-1]))
    if clash.any():
        return np.lexsort([keys[:, w] for w in range(keys.shape[1])] + [cid])
    return order


def _simple_pairs(cells: Cells, a: np.ndarray, b: np.ndarray, d: int):
    """Edges between simple vertices (exactly d tight constraints): a and b span an edge iff they
    share d - 1 of them, found by matching the d keys (tight set minus one) of every vertex.
    Returns the edges and the cells whose keys are matched more than twice (left to the caller)."""
    both = np.r_[a, b]
    keys = _keys(cells.T[both], d)
    owner = np.repeat(both, d)
    side = np.repeat(np.r_[np.ones(a.size, bool), np.zeros(b.size, bool)], d)
    cid = cells.cid[owner]
    order = _sorted(keys, cid)
    keys, owner, side, cid = keys[order], owner[order], side[order], cid[order]
    same = np.all(keys[1:] == keys[:-1], axis=1) & (cid[1:] == cid[:-1])
    crowded = cid[:-2][same[1:] & same[:-1]]
    hit = np.flatnonzero(same & (side[1:] != side[:-1]))
    first, second = owner[hit], owner[hit + 1]
    pos_first = side[hit]
    return np.where(pos_first, first, second), np.where(pos_first, second, first), np.unique(crowded)


def crossing_edges(cells: Cells, pos: np.ndarray, neg: np.ndarray, cut: np.ndarray):
    """The edges (a, b), a in pos and b in neg, of the cells in `cut`, and their common tight sets.

    Simple vertices are matched by keys (_simple_pairs); pairs with a degenerate vertex (more than
    d tight constraints) and cells where keys clash go through the combinatorial test."""
    d, n, cid = cells.V.shape[1], cells.n, cells.cid
    in_cut = cut[cid]
    degenerate = np.bitwise_count(cells.T).sum(axis=1, dtype=np.int64) > d
    pa, na = pos & in_cut, neg & in_cut
    a, b, crowded = _simple_pairs(cells, np.flatnonzero(pa & ~degenerate),
                                  np.flatnonzero(na & ~degenerate), d)
    slow = np.zeros(n, dtype=bool)
    slow[crowded] = True
    keep = ~slow[cid[a]]
    found = [(a[keep], b[keep]),
             _checked_pairs(cells, np.flatnonzero(pa & degenerate & ~slow[cid]),
                            np.flatnonzero(na & ~slow[cid]), n, d),
             _checked_pairs(cells, np.flatnonzero(pa & ~degenerate & ~slow[cid]),
                            np.flatnonzero(na & degenerate & ~slow[cid]), n, d),
             _checked_pairs(cells, np.flatnonzero(pa & slow[cid]), np.flatnonzero(na & slow[cid]), n, d)]
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    return a, b, cells.T[a] & cells.T[b]


def split(cells: Cells, s: np.ndarray, thr: np.ndarray, bit: int, column: int | None):
    """Split every cell that has vertices beyond `thr` on both sides of s = 0.

    Cut cells keep their index for the positive part; their negative parts are appended. Returns
    the new batch, the side of every old cell (True: positive or positive part) and the mask of cut
    cells. `column` is the pattern column to set (None: nothing recorded, the domain rows).
    """
    n, cid = cells.n, cells.cid
    pos, neg = s > thr, s < -thr
    on = ~(pos | neg)
    has_pos = np.bincount(cid, weights=pos, minlength=n) > 0
    has_neg = np.bincount(cid, weights=neg, minlength=n) > 0
    cut = has_pos & has_neg
    side = np.where(has_pos | has_neg, has_pos, np.bincount(cid, weights=s, minlength=n) > 0)
    pattern, M, m, rows, rhs = cells.pattern, cells.M, cells.m, cells.rows, cells.rhs
    if column is not None:
        pattern = pattern.copy()
        pattern[:, column] = side
    if not cut.any():
        return replace(cells, pattern=pattern), side, cut
    a, b, common = crossing_edges(cells, pos, neg, cut)
    t = (s[a] / (s[a] - s[b]))[:, None]
    new_v = cells.V[a] + t * (cells.V[b] - cells.V[a])
    set_bit(common, slice(None), bit)
    T = cells.T.copy()
    in_cut = cut[cid]
    set_bit(T, on & in_cut, bit)
    neg_id = np.full(n, -1)
    neg_id[cut] = n + np.arange(int(cut.sum()))
    stay, move = ~in_cut | ~neg, in_cut & ~pos
    ca = cid[a]
    V = np.vstack([cells.V[stay], cells.V[move], new_v, new_v])
    new_cid = np.concatenate([cid[stay], neg_id[cid[move]], ca, neg_id[ca]])
    T = np.vstack([T[stay], T[move], common, common])
    neg_pattern = pattern[cut]
    if column is not None:
        neg_pattern[:, column] = False
    grown = Cells(V, new_cid, T, np.vstack([pattern, neg_pattern]), np.concatenate([M, M[cut]]),
                  np.vstack([m, m[cut]]), np.concatenate([rows, rows[cut]]), np.vstack([rhs, rhs[cut]]))
    return grown, side, cut


class VertexEnumerator(Search):
    """Counts the regions of a Problem by splitting vertex-represented cells (module docstring)."""

    def __init__(self, problem, network, time_limit, keep_cells, progress):
        super().__init__(problem, network, time_limit, keep_cells, progress)
        self.scale = max(1.0, float(np.max(problem.hi - problem.lo, initial=1.0)))
        d, n_rows = problem.dim, problem.rows.shape[0]
        widths = [layer.weight.shape[0] if layer.slope is not None else 0 for layer in problem.layers]
        self.columns = np.cumsum([0] + widths)  # pattern column of each layer's first neuron
        self.first_bit = 2 * d + n_rows  # constraint bit of pattern column c: first_bit + c
        self.words = (self.first_bit + int(self.columns[-1]) + 63) // 64

    def run(self) -> None:
        p, d = self.p, self.p.dim
        V, T = box_vertices(p.lo, p.hi, self.words)
        n_rows = p.rows.shape[0]
        cells = Cells(V, np.zeros(V.shape[0], dtype=np.int64), T,
                      np.zeros((1, int(self.columns[-1])), dtype=bool), np.eye(d)[None], np.zeros((1, d)),
                      p.rows[None].reshape(1, n_rows, d), p.rhs[None].reshape(1, n_rows))
        for i, (row, rhs) in enumerate(zip(p.rows, p.rhs)):
            thr = np.full(cells.V.shape[0], VERTEX_TOL * self.scale)
            cells, side, _ = split(cells, rhs - cells.V @ row, thr, 2 * d + i, None)
            cells = cells.take(np.flatnonzero(np.r_[side, np.zeros(cells.n - side.size, dtype=bool)]))
            if cells.n == 0:
                return
        self._layer(0, cells)

    def _layer(self, k: int, cells: Cells) -> None:
        """Enter layer k with a batch: its pre-activations are G u + g0 on each cell."""
        layer = self.p.layers[k]
        cells = replace(cells, M=np.einsum("ij,cjd->cid", layer.weight, cells.M),
                        m=cells.m @ layer.weight.T + layer.bias)
        if layer.slope is None:
            self._done(k, cells)
        else:
            self._neurons(k, 0, cells)

    def _neurons(self, k: int, start: int, cells: Cells) -> None:
        """Split the batch on layer k's neurons from `start` on (M, m hold the layer's own map);
        a batch grown past MAX_VERTICES goes on in smaller batches."""
        layer, first = self.p.layers[k], int(self.columns[k])
        for j in range(start, cells.m.shape[1]):
            if self.out_of_time():
                self.regions += cells.n
                return
            if layer.fixed[j] in (ACTIVE, INACTIVE):
                cells.pattern[:, first + j] = layer.fixed[j] == ACTIVE
                continue
            cid = cells.cid
            s = np.einsum("nd,nd->n", cells.V, cells.M[cid, j]) + cells.m[cid, j]
            thr = VERTEX_TOL * self.scale * np.linalg.norm(cells.M[:, j], axis=1)[cid]
            cells, _, cut = split(cells, s, thr, self.first_bit + first + j, first + j)
            self.point_splits += int(cut.sum())
            if cells.V.shape[0] > MAX_VERTICES and cells.n > 1:
                self._each(self._batches(cells), lambda batch: self._neurons(k, j + 1, batch))
                return
        if self.keep_cells:
            cells = self._with_rows(cells, first)
        phase = cells.pattern[:, first:first + cells.m.shape[1]]
        slope = np.where(phase, 1.0, layer.slope)
        self._done(k, replace(cells, M=slope[:, :, None] * cells.M, m=slope * cells.m))

    def _done(self, k: int, cells: Cells) -> None:
        """Layer k is decided and M u + m is its output: count, or go on to layer k + 1."""
        self.cells_per_layer[k] += cells.n
        if k + 1 == len(self.p.layers):
            self._count(cells)
        else:
            self._each(self._batches(cells), lambda batch: self._layer(k + 1, batch))

    def _each(self, batches, work) -> None:
        """work(batch) for every batch; once stopped, each batch's cells count one region each."""
        for batch in batches:
            if self.out_of_time():
                self.regions += batch.n
            else:
                work(batch)

    @staticmethod
    def _batches(cells: Cells):
        if cells.V.shape[0] <= BATCH_VERTICES:
            yield cells
            return
        per_cell = np.bincount(cells.cid, minlength=cells.n)
        group = np.cumsum(per_cell) // BATCH_VERTICES
        for g in np.unique(group):
            yield cells.take(np.flatnonzero(group == g))

    def _with_rows(self, cells: Cells, first: int) -> Cells:
        """Append the layer's hyperplanes, oriented by the pattern, to every cell's rows."""
        G, g0 = cells.M, cells.m
        side = np.where(cells.pattern[:, first:first + g0.shape[1]], 1.0, -1.0)
        norm = np.linalg.norm(G, axis=2)
        flat = norm <= 1e-12 * (1.0 + np.abs(g0))
        norm = np.where(flat, 1.0, norm)
        rows = np.where(flat[:, :, None], 0.0, -side[:, :, None] * G / norm[:, :, None])
        rhs = np.where(flat, 1.0, side * g0 / norm)
        return replace(cells, rows=np.concatenate([cells.rows, rows], axis=1),
                       rhs=np.hstack([cells.rhs, rhs]))

    def _count(self, cells: Cells) -> None:
        count = np.bincount(cells.cid, minlength=cells.n)
        self.trouble += int(np.sum(count <= self.p.dim))  # a full-dimensional cell has > d vertices
        centre = np.stack([np.bincount(cells.cid, weights=cells.V[:, i], minlength=cells.n)
                           for i in range(self.p.dim)], axis=1) / count[:, None]
        self.regions += cells.n
        self.check.add(centre, cells.pattern)
        if self.keep_cells:
            for c in range(cells.n):
                keep = np.any(cells.rows[c] != 0.0, axis=1)
                self.cells.append(Cell(cells.rows[c][keep], cells.rhs[c][keep], centre[c], cells.pattern[c]))

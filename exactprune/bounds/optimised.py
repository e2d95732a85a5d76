"""Optimised symbolic bounds (alpha-CROWN, Xu et al. 2021; METHODS section 2).

In the back-substitution of bounds/__init__.py every crossing neuron (lo < 0 < up) of an earlier
layer is relaxed by a chord and by a line through the origin. The line through the origin is
sound for every slope between the two phases' slopes (Activation.origin_line), so here it gets
one slope per target neuron and per bound side, chosen by projected gradient ascent (Adam) on
that target's bound. Any slope is sound, so the optimisation may stop at any iteration: the bound
kept for each target is computed once more from the best slopes met, with the rounding margin of
bounds.widen, and intersected with the bounds it started from (never looser). Layers are done in
order, each one's optimised bounds relaxing the later ones. No solver here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..domain import Box
from ..ir import Network
from . import Bounds, input_bounds, widen

ITERATIONS = 20
LEARNING_RATE = 1.0


@dataclass(frozen=True)
class _Lines:
    """The relaxation of one earlier layer: base lines (n,), the crossing neurons `free` whose
    line through the origin is optimised, on the lower side or not, within [smin, smax]."""

    ls: np.ndarray
    li: np.ndarray
    us: np.ndarray
    ui: np.ndarray
    free: np.ndarray
    lower: bool
    smin: float
    smax: float

    @staticmethod
    def of(network: Network, i: int, lo: np.ndarray, up: np.ndarray) -> "_Lines":
        act = network.layers[i].activation
        lower, smin, smax = act.origin_line
        free = np.flatnonzero((lo < 0.0) & (up > 0.0)) if act.two_phase else np.zeros(0, int)
        return _Lines(*act.relaxation(lo, up), free, lower, smin, smax)

    def initial(self) -> np.ndarray:
        """The slopes that bounds/__init__.py uses (the origin line's base slope)."""
        return (self.ls if self.lower else self.us)[self.free]

    def choose(self, a: np.ndarray, slopes: np.ndarray):
        """(line slope, intercept, mask of coefficients on the free line) for the coefficients
        a (T, n) of a lower bound: positive ones take the lower line, negative the upper."""
        pos = a > 0.0
        low = np.broadcast_to(self.ls, a.shape).copy()
        high = np.broadcast_to(self.us, a.shape).copy()
        (low if self.lower else high)[:, self.free] = slopes
        on_free = (pos if self.lower else ~pos)[:, self.free]
        return np.where(pos, low, high), np.where(pos, self.li, self.ui), on_free


def _lower_bound(network: Network, k: int, lines: dict, slopes: dict, coef: np.ndarray,
                 const: np.ndarray, h0lo: np.ndarray, h0up: np.ndarray, grad: bool):
    """Lower bound of coef @ h_k + const (rows: targets) by back-substitution with `slopes`
    ({layer i: (T, n_free)}). Returns (value, magnitude for the margin, gradients per layer or
    None); the gradient is a forward pass of the selected box corner through the relaxed lines."""
    a, aabs = coef, np.abs(coef)
    value, mag = const.copy(), np.abs(const)
    saved = []
    for i in range(k - 1, -1, -1):
        rel = lines[i]
        line, icpt, on_free = rel.choose(a, slopes[i])
        saved.append((i, a, line, icpt, on_free))
        value = value + (a * icpt).sum(axis=1)
        mag = mag + aabs @ np.abs(np.stack([rel.li, rel.ui])).max(axis=0)
        scale = np.maximum(np.abs(line), np.maximum(np.abs(rel.ls), np.abs(rel.us)))
        d = a * line
        a, aabs, d_bias, dabs_bias = network.layers[i].substitute(d, aabs * scale)
        value, mag = value + d_bias, mag + dabs_bias
    corner = np.where(a > 0.0, h0lo, h0up)
    value = value + (a * corner).sum(axis=1)
    mag = mag + aabs @ np.maximum(np.abs(h0lo), np.abs(h0up))
    if not grad:
        return value, mag, None
    grads = {}
    p = corner
    for i, a_i, line, icpt, on_free in reversed(saved):
        g = network.layers[i].affine(p)
        rel = lines[i]
        grads[i] = np.where(on_free, a_i[:, rel.free] * g[:, rel.free], 0.0)
        p = line * g + icpt
    return value, mag, grads


def _optimise(network: Network, k: int, lines: dict, coef: np.ndarray, const: np.ndarray,
              h0lo: np.ndarray, h0up: np.ndarray, iterations: int, deadline: float) -> np.ndarray:
    """The best sound lower bound of each row of coef @ h_k + const over the iterations."""
    slopes = {i: np.broadcast_to(rel.initial(), (coef.shape[0], rel.free.size)).copy()
              for i, rel in lines.items()}
    best_slopes = {i: s.copy() for i, s in slopes.items()}
    best = np.full(coef.shape[0], -np.inf)
    moment = {i: np.zeros_like(s) for i, s in slopes.items()}
    second = {i: np.zeros_like(s) for i, s in slopes.items()}
    for step in range(1, iterations + 1):
        value, _, grads = _lower_bound(network, k, lines, slopes, coef, const, h0lo, h0up, True)
        better = value > best
        best = np.where(better, value, best)
        for i, s in slopes.items():
            best_slopes[i][better] = s[better]
        if step == iterations or time.monotonic() > deadline:
            break
        for i, rel in lines.items():  # Adam ascent, projected onto the sound slopes
            moment[i] = 0.9 * moment[i] + 0.1 * grads[i]
            second[i] = 0.999 * second[i] + 0.001 * grads[i] ** 2
            m_hat, v_hat = moment[i] / (1 - 0.9 ** step), second[i] / (1 - 0.999 ** step)
            slopes[i] = np.clip(slopes[i] + LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-12),
                                rel.smin, rel.smax)
    value, mag, _ = _lower_bound(network, k, lines, best_slopes, coef, const, h0lo, h0up, False)
    return widen(value, value, mag)[0]


def optimised_bounds(network: Network, box: Box, bounds: Bounds, iterations: int = ITERATIONS,
                     deadline: float = np.inf, layers=None) -> Bounds:
    """`bounds` (sound, e.g. symbolic_bounds with proven phases as known facts) tightened by
    optimised slopes for the crossing neurons of every two-phase layer after the first (or of
    `layers`), in network order. Stops optimising at `deadline` (time.monotonic()); the bounds
    returned are sound whenever it stops."""
    h0lo, h0up = input_bounds(network, box)
    out = list(bounds)
    for k, layer in enumerate(network.layers):
        if k == 0 or not layer.activation.two_phase or (layers is not None and k not in layers):
            continue
        lo, up = out[k]
        rows = np.flatnonzero((lo < 0.0) & (up > 0.0))
        if rows.size == 0 or time.monotonic() > deadline:
            continue
        lines = {i: _Lines.of(network, i, *out[i]) for i in range(k)}
        dense = layer.as_dense()
        coef = np.vstack([dense.weight[rows], -dense.weight[rows]])
        const = np.concatenate([dense.bias[rows], -dense.bias[rows]])
        value = _optimise(network, k, lines, coef, const, h0lo, h0up, iterations, deadline)
        lo, up = lo.copy(), up.copy()
        lo[rows] = np.maximum(lo[rows], value[: rows.size])
        up[rows] = np.minimum(up[rows], -value[rows.size:])
        out[k] = (lo, up)
    return out

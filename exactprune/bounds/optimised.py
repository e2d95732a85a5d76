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

from dataclasses import dataclass

import numpy as np

from ..domain import Box
from ..ir import Network
from ..parallel import clock
from . import Bounds, input_bounds, widen

ITERATIONS = 20
LEARNING_RATE = 1.0


@dataclass(frozen=True)
class Lines:
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
    inactive: float  # the inactive phase's slope

    @staticmethod
    def of(network: Network, i: int, lo: np.ndarray, up: np.ndarray) -> "Lines":
        act = network.layers[i].activation
        lower, smin, smax = act.origin_line
        free = np.flatnonzero((lo < 0.0) & (up > 0.0)) if act.two_phase else np.zeros(0, int)
        return Lines(*act.relaxation(lo, up), free, lower, smin, smax, act.inactive_slope)

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


@dataclass(frozen=True)
class Split:
    """Phase constraints on one earlier layer, per target row: sign (T, n) is +1 where the row's
    part of the box has g >= 0 (the neuron is linear there with slope 1), -1 where g <= 0 (slope:
    the inactive one), 0 where free; beta (T, n) >= 0 are the constraints' multipliers
    (beta-CROWN: the bound of f - beta * sign * g is a bound of f on the part, any beta >= 0)."""

    sign: np.ndarray
    beta: np.ndarray


@dataclass
class Pass:
    """One back-substitution: value (T,) and magnitude (for the margin) of the lower bounds,
    their coefficients on h0 (T, n0: the box corner attaining each follows from their signs),
    per layer (i, coefficients on h_i, intercepts chosen) for branching, and the gradients
    (slopes, betas) when asked for."""

    value: np.ndarray
    mag: np.ndarray
    coef0: np.ndarray
    saved: list
    grads: dict | None = None
    beta_grads: dict | None = None


def lower_pass(network: Network, k: int, lines: dict, slopes: dict, coef: np.ndarray,
               const: np.ndarray, h0lo: np.ndarray, h0up: np.ndarray, grad: bool,
               splits: dict | None = None, margin: bool = True) -> Pass:
    """Lower bound of coef @ h_k + const (rows: targets) by back-substitution with `slopes`
    ({layer i: (T, n_free)}) and `splits` ({layer i: Split}, valid on each row's part of the box).
    The gradient is a forward pass of the selected box corner through the relaxed lines.
    margin=False skips the magnitudes (Pass.mag is then 0): for steps of an ascent, whose
    values only rank parameters, never as a bound."""
    splits = splits or {}
    a, aabs = coef, np.abs(coef)
    value, mag = const.copy(), np.abs(const)
    saved = []
    for i in range(k - 1, -1, -1):
        rel, split = lines[i], splits.get(i)
        line, icpt, on_free = rel.choose(a, slopes[i])
        if split is not None:
            fixed = split.sign != 0
            line = np.where(split.sign > 0, 1.0, np.where(split.sign < 0, rel.inactive, line))
            icpt = np.where(fixed, 0.0, icpt)
            on_free = on_free & ~fixed[:, rel.free]
        saved.append((i, a, line, icpt, on_free))
        value = value + (a * icpt).sum(axis=1)
        d = a * line
        if split is not None:
            d = d - split.beta * split.sign
        if not margin:
            layer = network.layers[i]
            a, value = layer.backward(d), value + d @ layer.bias
            continue
        mag = mag + aabs @ np.abs(np.stack([rel.li, rel.ui])).max(axis=0)
        dabs = aabs * np.maximum(np.abs(line), np.maximum(np.abs(rel.ls), np.abs(rel.us)))
        if split is not None:
            dabs = dabs + split.beta
        a, aabs, d_bias, dabs_bias = network.layers[i].substitute(d, dabs)
        value, mag = value + d_bias, mag + dabs_bias
    corner = np.where(a > 0.0, h0lo, h0up)
    value = value + (a * corner).sum(axis=1)
    if margin:
        mag = mag + aabs @ np.maximum(np.abs(h0lo), np.abs(h0up))
    out = Pass(value, mag if margin else np.zeros_like(value), a, saved)
    if grad:
        out.grads, out.beta_grads = {}, {}
        p = corner
        for i, a_i, line, icpt, on_free in reversed(saved):
            g = network.layers[i].affine(p)
            rel = lines[i]
            out.grads[i] = np.where(on_free, a_i[:, rel.free] * g[:, rel.free], 0.0)
            if i in splits:
                out.beta_grads[i] = -splits[i].sign * g
            p = line * g + icpt
    return out


class Ascent:
    """Projected Adam ascent on arrays {key: array}, each kept within [low, high] of its key."""

    def __init__(self, params: dict, limits: dict):
        self.params, self.limits, self.step = params, limits, 0
        self.moment = {key: np.zeros_like(v) for key, v in params.items()}
        self.second = {key: np.zeros_like(v) for key, v in params.items()}

    def update(self, grads: dict) -> None:
        self.step += 1
        for key, g in grads.items():
            self.moment[key] = 0.9 * self.moment[key] + 0.1 * g
            self.second[key] = 0.999 * self.second[key] + 0.001 * g ** 2
            m_hat = self.moment[key] / (1 - 0.9 ** self.step)
            v_hat = self.second[key] / (1 - 0.999 ** self.step)
            low, high = self.limits[key]
            self.params[key] = np.clip(
                self.params[key] + LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-12), low, high)


def optimise_rows(network: Network, k: int, lines: dict, coef: np.ndarray, const: np.ndarray,
                  h0lo: np.ndarray, h0up: np.ndarray, iterations: int, deadline: float,
                  slopes: dict, signs: dict | None = None, betas: dict | None = None):
    """Projected ascent on each row's slopes ({layer: (T, n_free)}, from `slopes`) and, for the
    split layers in `signs` ({layer: (T, n)}), its betas (from `betas`). Returns the sound lower
    bounds (widened) of the best parameters met, their pass, and those parameters, keyed
    ("s", layer) and ("b", layer). Stops early at `deadline`."""
    signs = signs or {}
    params = {("s", i): v for i, v in slopes.items()}
    params.update({("b", i): v for i, v in (betas or {}).items()})
    limits = {("s", i): (rel.smin, rel.smax) for i, rel in lines.items()}
    limits.update({("b", i): (0.0, np.inf) for i in signs})
    ascent = Ascent(params, limits)

    def run(values: dict, grad: bool) -> Pass:
        return lower_pass(network, k, lines, {i: values[("s", i)] for i in lines}, coef, const,
                          h0lo, h0up, grad, {i: Split(signs[i], values[("b", i)]) for i in signs},
                          margin=not grad)

    best, best_params = np.full(coef.shape[0], -np.inf), {key: v.copy() for key, v in params.items()}
    for step in range(1, iterations + 1):
        last = run(ascent.params, True)
        better = last.value > best
        best = np.where(better, last.value, best)
        for key, v in ascent.params.items():
            best_params[key][better] = v[better]
        if step == iterations or clock() > deadline:
            break
        grads = {("s", i): g for i, g in last.grads.items()}
        grads.update({("b", i): g for i, g in last.beta_grads.items()})
        ascent.update(grads)
    last = run(best_params, False)
    return widen(last.value, last.value, last.mag)[0], last, best_params


def optimised_bounds(network: Network, box: Box, bounds: Bounds, iterations: int = ITERATIONS,
                     deadline: float = np.inf, layers=None) -> Bounds:
    """`bounds` (sound, e.g. symbolic_bounds with proven phases as known facts) tightened by
    optimised slopes for the crossing neurons of every two-phase layer after the first (or of
    `layers`), in network order. Stops optimising at `deadline` (parallel.clock()); the bounds
    returned are sound whenever it stops."""
    h0lo, h0up = input_bounds(network, box)
    out = list(bounds)
    for k, layer in enumerate(network.layers):
        if k == 0 or not layer.activation.two_phase or (layers is not None and k not in layers):
            continue
        lo, up = out[k]
        rows = np.flatnonzero((lo < 0.0) & (up > 0.0))
        if rows.size == 0 or clock() > deadline:
            continue
        lines = {i: Lines.of(network, i, *out[i]) for i in range(k)}
        dense = layer.as_dense()
        coef = np.vstack([dense.weight[rows], -dense.weight[rows]])
        const = np.concatenate([dense.bias[rows], -dense.bias[rows]])
        start = {i: np.broadcast_to(rel.initial(), (coef.shape[0], rel.free.size)).copy()
                 for i, rel in lines.items()}
        value = optimise_rows(network, k, lines, coef, const, h0lo, h0up, iterations, deadline,
                              start)[0]
        lo, up = lo.copy(), up.copy()
        lo[rows] = np.maximum(lo[rows], value[: rows.size])
        up[rows] = np.minimum(up[rows], -value[rows.size:])
        out[k] = (lo, up)
    return out

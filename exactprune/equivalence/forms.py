"""Both networks as affine forms over shared atoms: a sound difference bound that sees through
the reductions exactprune makes (inactive neurons removed, active ones folded or merged by rank,
whole layers folded, lumped neurons).

Every pre-activation g of either network is written as an affine form c + sum_v F_v v over the
variables v: the flat input x, and one "atom" per neuron that the sound bounds do not prove
stable (its output h, in act.image(lo, up)). A stable neuron is substituted: active h = g,
inactive h = slope * g, identity layers h = g. So is a NEARLY stable one (say
-1e-5 <= lo < 0 < up): h = g + eta, eta = (1 - slope) relu(-g) in [0, (1 - slope) (-lo)], the
atom being eta (matched between A and B like the others). So A and B, which differ by such
substitutions and by float rounding of the folded weights, give forms of the SAME atoms that
differ only a little. A is done first, its unstable neurons becoming atoms; then every unstable
neuron of B is matched with the atom of A (of the same kind) whose g-form is nearest: if their
difference is at most d over the variables' ranges (a sound interval bound with the rounding
margin of bounds.widen), B's atom = A's atom + e with |e| <= max_slope * d (for eta:
|1 - slope| * d), a new bounded variable e. A neuron of B that matches nothing is an atom of
its own. The difference a_out - b_out is then one affine form over the variables, bounded by
intervals, and the shared atoms cancel in it.

Rounding: the forms are float64 products of the weights; alongside every form the same products
of absolute values are kept, and every bound is widened by REL_MARGIN times that magnitude plus
ABS_MARGIN (the rule of bounds/__init__.py), which covers the rounding of the products and of
the cancellations in them.
"""

from __future__ import annotations

import numpy as np

from ..bounds import Bounds, widen
from ..domain import Box
from ..ir import Network

NEAR = 1e-3  # a neuron with -lo (or up) below NEAR x max(1, the other end) is nearly stable
MATCH = 1e-3  # a neuron of B is matched when its gap is below MATCH x (1 + its magnitude)


class _Vars:
    """The variables of the forms and their ranges."""

    def __init__(self, box: Box):
        self.lo, self.hi = [box.lo.copy()], [box.hi.copy()]
        self.n = box.size

    def add(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        idx = np.arange(self.n, self.n + lo.size)
        self.lo.append(np.asarray(lo, dtype=np.float64))
        self.hi.append(np.asarray(hi, dtype=np.float64))
        self.n += lo.size
        return idx

    def ranges(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.lo), np.concatenate(self.hi)


def _pad(f: np.ndarray, n: int) -> np.ndarray:
    return np.pad(f, ((0, 0), (0, n - f.shape[1]))) if f.shape[1] < n else f


def interval(f, c, fabs, cabs, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Sound bounds of the forms c + f v (rows) for v in [lo, hi], with the rounding margin."""
    n = lo.size
    f, fabs = _pad(f, n), _pad(fabs, n)
    low = c + np.minimum(f * lo, f * hi).sum(axis=1)
    up = c + np.maximum(f * lo, f * hi).sum(axis=1)
    return widen(low, up, cabs + fabs @ np.maximum(np.abs(lo), np.abs(hi)))


def _atom_range(act, kind: int, lo: float, up: float) -> tuple[np.ndarray, np.ndarray]:
    """The range of an atom: h over [lo, up] (kind 0), or eta (kinds 1, 2; widened)."""
    if kind == 0:
        return act.image(np.array([lo]), np.array([up]))
    end = (1.0 - act.inactive_slope) * (-lo if kind == 1 else up)
    low, high = widen(np.array([end]), np.array([end]), np.array([abs(end)]))
    return np.minimum(0.0, low), np.maximum(0.0, high)


class _Network:
    """The forms of one network's layers, layer by layer."""

    def __init__(self, network: Network, bounds: Bounds, vars_: _Vars):
        self.network, self.bounds, self.vars = network, bounds, vars_
        n = network.n_inputs
        self.h, self.habs = np.eye(n), np.eye(n)  # forms of the current layer's input
        self.hc, self.hcabs = np.zeros(n), np.zeros(n)
        # (g form, const, abs form, abs const, lo, up, kind, var index, activation)
        self.atoms: list[tuple] = []

    def layer(self, k: int, match=None) -> None:
        """Move to the output of layer k; its unstable neurons become atoms (or, given `match`,
        are matched with A's atoms first)."""
        net = self.network
        layer = net.folded_first_layer() if k == 0 else net.layers[k].as_dense()
        nv = self.vars.n
        h, habs = _pad(self.h, nv), _pad(self.habs, nv)
        g, gabs = layer.weight @ h, np.abs(layer.weight) @ habs
        gc = layer.weight @ self.hc + layer.bias
        gcabs = np.abs(layer.weight) @ self.hcabs + np.abs(layer.bias)
        act, (lo, up) = layer.activation, self.bounds[k]
        s = act.inactive_slope
        if act.two_phase:
            near_a = (lo < 0.0) & (up > 0.0) & (-lo <= NEAR * np.maximum(1.0, up))
            near_i = (lo < 0.0) & (up > 0.0) & (up <= NEAR * np.maximum(1.0, -lo)) & ~near_a
            slope = np.where((lo >= 0.0) | near_a, 1.0, s)
        else:
            near_a = near_i = np.zeros(layer.n_out, dtype=bool)
            slope = np.ones(layer.n_out)
        out, outabs = g * slope[:, None], gabs * np.abs(slope)[:, None]
        outc, outcabs = gc * slope, gcabs * np.abs(slope)
        # atoms: kind 0 an unstable neuron's h; kinds 1 / 2 the eta of a nearly active /
        # inactive one: h = g + eta / s g + eta, eta = (1 - s) relu(-g) / (1 - s) relu(g)
        kinds = np.where(near_a, 1, np.where(near_i, 2, 0))
        todo = np.flatnonzero((lo < 0.0) & (up > 0.0)) if act.two_phase else []
        assign = []
        for j in todo:
            kind = int(kinds[j])
            form = (g[j], gc[j], gabs[j], gcabs[j], lo[j], up[j], kind)
            var, noise = (None, 0.0) if match is None else match(form, act)
            if var is None:
                var = int(self.vars.add(*_atom_range(act, kind, lo[j], up[j]))[0])
                self.atoms.append((*form, var, act))
            extra = int(self.vars.add(np.array([-noise]), np.array([noise]))[0]) if noise else None
            assign.append((j, kind, var, extra))
        out, outabs = _pad(out, self.vars.n), _pad(outabs, self.vars.n)
        for j, kind, var, extra in assign:  # kinds 1, 2 keep g's magnitude for the margin
            if kind == 0:
                out[j], outabs[j], outc[j], outcabs[j] = 0.0, 0.0, 0.0, 0.0
            out[j, var] = outabs[j, var] = 1.0
            if extra is not None:
                out[j, extra] = outabs[j, extra] = 1.0
        self.h, self.habs, self.hc, self.hcabs = out, outabs, outc, outcabs


class _Matcher:
    """Matches a neuron of B with the atom of A of the same kind and activation whose g-form
    is nearest (see the module docstring): every atom is compared, as one interval bound per
    atom. Another activation is never a match: equal g-forms do not make equal outputs."""

    def __init__(self, a: _Network, vars_: _Vars):
        self.vars, self.n = vars_, vars_.n
        atoms = a.atoms
        self.var = np.array([t[7] for t in atoms], dtype=np.int64)
        self.kind = np.array([t[6] for t in atoms], dtype=np.int64)
        self.acts = [t[8] for t in atoms]
        self.f = np.vstack([_pad(t[0][None, :], self.n) for t in atoms]) if atoms else None
        self.fabs = np.vstack([_pad(t[2][None, :], self.n) for t in atoms]) if atoms else None
        self.c = np.array([t[1] for t in atoms])
        self.cabs = np.array([t[3] for t in atoms])

    def __call__(self, form, act):
        if self.f is None:
            return None, 0.0
        f, c, fabs, cabs, lo, up, kind = form
        vlo, vhi = self.vars.ranges()
        n = max(f.size, self.n)
        df = _pad(f[None, :], n) - _pad(self.f, n)
        dabs = _pad(fabs[None, :], n) + _pad(self.fabs, n)
        dlo, dup = interval(df, c - self.c, dabs, cabs + self.cabs, vlo[:n], vhi[:n])
        same = (self.kind == kind) & np.array([a == act for a in self.acts], dtype=bool)
        gaps = np.where(same, np.maximum(-dlo, dup), np.inf)
        i = int(np.argmin(gaps))
        if not gaps[i] < MATCH * (1.0 + max(abs(lo), abs(up))):
            return None, 0.0
        factor = act.max_slope if kind == 0 else abs(1.0 - act.inactive_slope)
        return int(self.var[i]), factor * float(gaps[i])


def form_bound(a: Network, b: Network, box: Box, bounds_a: Bounds,
               bounds_b: Bounds) -> tuple[np.ndarray, np.ndarray]:
    """Sound (lo, up) of a_out - b_out over the box from the affine forms of both networks."""
    vars_ = _Vars(box)
    fa = _Network(a, bounds_a, vars_)
    for k in range(len(a.layers)):
        fa.layer(k)
    fb = _Network(b, bounds_b, vars_)
    match = _Matcher(fa, vars_)
    for k in range(len(b.layers)):
        fb.layer(k, match)
    n = vars_.n
    f = _pad(fa.h, n) - _pad(fb.h, n)
    fabs = _pad(fa.habs, n) + _pad(fb.habs, n)
    lo, hi = vars_.ranges()
    return interval(f, fa.hc - fb.hc, fabs, fa.hcabs + fb.hcabs, lo, hi)

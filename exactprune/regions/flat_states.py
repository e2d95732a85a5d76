"""Flat states of the SCIP count (count_milp.py): a neuron identically zero on a region.

The enumeration counts such a neuron inactive; the count's strict margin g <= -eps would make its
region infeasible. So where a neuron may be flat (can_be_flat), a binary w with flat_excl
w + z <= 1 allows g = 0 (flat_g_*) with a zero gradient (flat_grad_*, C = 0) when w = 1.
Gradients live in an orthonormal basis of the first layer's row space over the free inputs
(_first_gradients): constants in layer 0, then C = W (slope * C_prev) with slope * C of an
undecided neuron the product z * C (prod_* rows, zgrad variables).
"""

from __future__ import annotations

import numpy as np
from pyscipopt import Model, quicksum

from ..domain import Box
from ..ir import ACTIVE, INACTIVE, Network
from ..solvers.encode import NetworkMILP
from ..solvers.scip import Status, solve

SPAN_TOL = 1e-12  # singular values below this (relative) do not span the first layer's rows
PAD = 1e-9  # relative widening of the gradient bounds used as big-M constants
PROBE_TOL = 1e-7  # can_be_flat: a combination this close to zero (relative) may vanish


def _first_gradients(network: Network, box: Box) -> np.ndarray:
    """The first layer's gradients over the free inputs in an orthonormal basis of their span."""
    weight = network.folded_first_layer().weight[:, box.lo < box.hi]
    if weight.size == 0:
        return np.zeros((weight.shape[0], 0))
    _, s, vt = np.linalg.svd(weight, full_matrices=False)
    rank = int(np.sum(s > SPAN_TOL * max(float(s[0]), 1e-300)))
    return weight @ vt[:rank].T


def _combine(parts: list):
    """The sum of floats and expressions: a float when every part is one."""
    if all(isinstance(p, float) for p in parts):
        return float(sum(parts))
    return quicksum(parts)


class FlatStates:
    """The flat states: per layer, every modelled neuron's gradient C (a list of `rank`
    expressions or floats) with bounds (lo, up), and the flat binaries w of the undecided neurons
    in `keep` ((layer, neuron) pairs) whose gradient can vanish. Layers past the deepest kept
    neuron are not needed and not built."""

    def __init__(self, milp: NetworkMILP, network: Network, box: Box, bounds, phases, keep: set):
        self.milp, self.model, self.keep = milp, milp.model, keep
        self.w: dict[tuple[int, int], object] = {}
        depth = max((k for k, _ in keep), default=-1)
        first = _first_gradients(network, box)
        C = {j: [float(a) for a in first[j]] for j in range(first.shape[0])}
        lo, up = first.copy(), first.copy()
        prev, plo, pup = {}, lo, up
        for k in range(depth + 1):
            layer = network.layers[k]
            if k > 0:
                C, lo, up = self._affine(layer.weight, prev, plo, pup, first.shape[1])
            self._flat(k, C, lo, up, bounds[k])
            if k < depth:
                alpha = layer.activation.inactive_slope
                prev, plo, pup = self._slope(k, C, lo, up, phases[k], alpha)

    def _affine(self, weight, prev, plo, pup, rank):
        """C = W Ch of the next layer, with interval bounds."""
        wp, wn = np.maximum(weight, 0.0), np.minimum(weight, 0.0)
        lo, up = wp @ plo + wn @ pup, wp @ pup + wn @ plo
        slack = PAD * np.maximum(np.abs(lo), np.abs(up)) + 1e-12
        lo, up = lo - slack, up + slack
        C = {}
        for j in range(weight.shape[0]):
            terms = [(float(weight[j, i]), prev[i]) for i in np.flatnonzero(weight[j]) if i in prev]
            C[j] = [_combine([c * grad[t] for c, grad in terms]) for t in range(rank)]
        return C, lo, up

    def _slope(self, k, C, lo, up, phase, alpha):
        """slope * C of every neuron of layer k (absent: zero), with interval bounds."""
        prev, plo, pup = {}, np.zeros_like(lo), np.zeros_like(up)
        for j, grad in C.items():
            state = None if phase is None else phase[j]
            if state is None or state == ACTIVE:
                prev[j], plo[j], pup[j] = grad, lo[j], up[j]
            elif state == INACTIVE:
                if alpha:
                    prev[j] = [alpha * c for c in grad]
                    ends = np.stack([alpha * lo[j], alpha * up[j]])
                    plo[j], pup[j] = ends.min(axis=0), ends.max(axis=0)
            else:
                z = self.milp.z[k][j]
                prod = [self._product(k, j, t, c, lo[j, t], up[j, t], z) for t, c in enumerate(grad)]
                prev[j] = [alpha * c + (1.0 - alpha) * p for c, p in zip(grad, prod)] if alpha else prod
                ends = np.stack([lo[j], up[j], alpha * lo[j], alpha * up[j], np.zeros_like(lo[j])])
                plo[j], pup[j] = ends.min(axis=0), ends.max(axis=0)
        return prev, plo, pup

    def _product(self, k, j, t, c, lo, up, z):
        """z * c for a binary z: linear if c is a constant, else a variable with four rows."""
        if isinstance(c, float):
            return c * z
        model, lo, up = self.model, float(min(lo, 0.0)), float(max(up, 0.0))
        p = model.addVar(f"zgrad[l={k},j={j},t={t}]", lb=lo, ub=up)
        model.addCons(p <= up * z, name=f"prod_up[l={k},j={j},t={t}]")
        model.addCons(p >= lo * z, name=f"prod_lo[l={k},j={j},t={t}]")
        model.addCons(p <= c - lo * (1 - z), name=f"prod_on_up[l={k},j={j},t={t}]")
        model.addCons(p >= c - up * (1 - z), name=f"prod_on_lo[l={k},j={j},t={t}]")
        return p

    def _flat(self, k, C, lo, up, gbounds) -> None:
        """The flat binaries of layer k."""
        glo, gup = gbounds
        for j, z in self.milp.z[k].items():
            grad = C[j]
            if (k, j) not in self.keep:
                continue
            if np.any((lo[j] > 0.0) | (up[j] < 0.0)) or any(isinstance(c, float) and c != 0.0 for c in grad):
                continue  # the gradient cannot vanish: never flat
            model, g = self.model, self.milp.g[k][j]
            w = model.addVar(f"flat[l={k},j={j}]", vtype="B")
            model.addCons(w + z <= 1, name=f"flat_excl[l={k},j={j}]")
            model.addCons(g <= float(gup[j]) * (1 - w), name=f"flat_g_up[l={k},j={j}]")
            model.addCons(g >= float(glo[j]) * (1 - w), name=f"flat_g_lo[l={k},j={j}]")
            for t, c in enumerate(grad):
                if not isinstance(c, float):
                    model.addCons(c <= float(up[j, t]) * (1 - w), name=f"flat_grad_up[l={k},j={j},t={t}]")
                    model.addCons(c >= float(lo[j, t]) * (1 - w), name=f"flat_grad_lo[l={k},j={j},t={t}]")
            self.w[k, j] = w


def _zero_reachable(const: np.ndarray, coef: np.ndarray) -> bool:
    """Whether const + s @ coef = 0 (up to PROBE_TOL times its scale) for some binary s."""
    scale = np.abs(const) + np.abs(coef).sum(axis=0)
    tol = PROBE_TOL * scale + 1e-12
    low = const + np.minimum(coef, 0.0).sum(axis=0)
    high = const + np.maximum(coef, 0.0).sum(axis=0)
    if np.any((low > tol) | (high < -tol)):
        return False
    if coef.shape[0] == 0:
        return True
    model = Model("flat_probe")
    model.hideOutput()
    s = [model.addVar(f"s[{i}]", vtype="B") for i in range(coef.shape[0])]
    for t in range(coef.shape[1]):
        expr = quicksum(float(coef[i, t]) * s[i] for i in np.flatnonzero(coef[:, t]))
        model.addCons(expr <= float(tol[t] - const[t]), name=f"zero_up[t={t}]")
        model.addCons(expr >= float(-tol[t] - const[t]), name=f"zero_lo[t={t}]")
    return solve(model) is not Status.INFEASIBLE


def can_be_flat(network: Network, box: Box, phases, last: int) -> set:
    """The undecided neurons (layer, neuron) that may be flat on some region: all of them,
    except in layer 1 behind a two-phase layer 0, where a neuron's affine function on a region
    (gradient and value at the box centre, `first` below) is const + s @ coef over the layer-0
    activations s: a small binary program, ignoring which s are realised, says whether it can
    vanish. (The count's flat states are exact wherever they are kept; dropping the ones that
    cannot occur keeps their cost away from two-layer networks.)"""
    keep = {(k, int(j)) for k in range(last + 1) if phases[k] is not None
            for j in np.flatnonzero(phases[k] == 0)}
    if last < 1 or phases[0] is None or phases[1] is None:
        return keep
    first_layer = network.folded_first_layer()
    weight0, bias0 = first_layer.weight, first_layer.bias
    centre = (box.lo + box.hi) / 2.0
    first = np.hstack([_first_gradients(network, box), (weight0 @ centre + bias0)[:, None]])
    layer0 = network.layers[0]
    alpha = layer0.activation.inactive_slope
    undecided = phases[0] == 0
    slope = np.where(phases[0] == ACTIVE, 1.0, alpha)  # undecided neurons: alpha + (1 - alpha) s
    weight1, bias1 = network.layers[1].weight, network.layers[1].bias
    for j in np.flatnonzero(phases[1] == 0):
        const = (weight1[j] * slope) @ first
        const[-1] += bias1[j]
        coef = ((1.0 - alpha) * weight1[j, undecided])[:, None] * first[undecided]
        if not _zero_reachable(const, coef):
            keep.discard((1, int(j)))
    return keep

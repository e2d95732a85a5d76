"""Sound pre-activation bounds for every layer: interval arithmetic and symbolic back-substitution.

Both functions return one (lower, upper) pair of float64 arrays per layer of the network (the
output layer included), valid for every input of the box. Float64 rounding is covered by
widening each bound outward by

    REL_MARGIN * magnitude + ABS_MARGIN,

where `magnitude` is the sum of absolute values of the terms the bound was computed from
(|coefficients| @ max(|lo|, |hi|) + |constant|). The worst-case rounding error of a float64 dot
product of n terms is about n * 1.1e-16 * magnitude, so REL_MARGIN = 1e-9 covers sums of up to
millions of terms and the products of a few back-substitution steps with room to spare.

Symbolic bounds follow the DeepPoly / CROWN back-substitution (METHODS section 2): each earlier
two-phase neuron with lo < 0 < up is replaced by its upper relaxation line through
(lo, act(lo)) and (up, up) and a lower line through the origin whose slope (1 or alpha) is
chosen adaptively; stable neurons and identity layers are substituted exactly. They are
computed for a batch of boxes at once, which `prove_by_splitting` uses to prove phases on a
partition of a low-dimensional input box. `lp_tighten` (OBBT, in SCIP) tightens chosen neurons
over the LP relaxation of the big-M model.
"""

from __future__ import annotations

import time

import numpy as np

from .domain import FLOAT32_MAX, Box, check_range
from .errors import DomainError
from .ir import Dense, Network

REL_MARGIN = 1e-9
ABS_MARGIN = 1e-12
LP_MARGIN = 1e-6  # added (relative to 1 + |value|) to LP optima to absorb solver tolerances

Bounds = list[tuple[np.ndarray, np.ndarray]]


def widen(lo: np.ndarray, up: np.ndarray, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen [lo, up] outward by the documented rounding margin."""
    pad = REL_MARGIN * magnitude + ABS_MARGIN
    return lo - pad, up + pad


def input_bounds(network: Network, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The box of h0 (the input map applied to the box), widened for rounding."""
    lo, hi = _h0_boxes(network, box.lo[None, :], box.hi[None, :])
    return lo[0], hi[0]


def _h0_boxes(network: Network, lo: np.ndarray, hi: np.ndarray):
    """Boxes of h0 for a batch of input boxes (B, d), widened for rounding."""
    imap = network.input_map
    a = imap.scale * lo[:, imap.perm] + imap.shift
    c = imap.scale * hi[:, imap.perm] + imap.shift
    lo0, hi0 = np.minimum(a, c), np.maximum(a, c)
    return widen(lo0, hi0, np.maximum(np.abs(lo0), np.abs(hi0)))


def activation_bounds(layer: Dense, lo: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of act(g) for g in [lo, up]. act is piecewise linear with its kink at 0, so its
    extremes over [lo, up] are at lo, up or 0; a LeakyReLU with alpha < 0 is not monotone and has
    its minimum act(0) = 0 inside an interval that contains 0."""
    at_lo, at_up = layer.activate(lo), layer.activate(up)
    low, high = np.minimum(at_lo, at_up), np.maximum(at_lo, at_up)
    if layer.activation == "leaky_relu" and layer.alpha < 0.0:
        low = np.where((lo < 0.0) & (up > 0.0), 0.0, low)
    return low, high


def check_domain(network: Network, box: Box) -> None:
    """DomainError unless `box` fits `network`: one finite bound pair per input, within float32's
    range, and every value the network computes over the box provably within it too (a model
    whose float32 evaluation overflows on the domain cannot be compressed or compared there).
    Interval bounds first; the tighter symbolic bounds only when those overflow."""
    if box.size != network.n_inputs:
        raise DomainError(f"domain {box.source} has {box.size} inputs, the model has "
                          f"{network.n_inputs}")
    if not (np.isfinite(box.lo).all() and np.isfinite(box.hi).all()):
        raise DomainError(f"domain {box.source} is unbounded; exactprune needs finite bounds")
    check_range(box)
    with np.errstate(over="ignore", invalid="ignore"):
        if _overflow(network, interval_bounds(network, box)) is None:
            return
        found = _overflow(network, symbolic_bounds(network, box))
    if found is not None:
        k, value = found
        raise DomainError(
            f"domain {box.source}: the pre-activations of layer {k} "
            f"({network.layers[k].act_node or 'output'}) reach {value:.3g} over it (a sound "
            f"bound), beyond float32's range "
            f"({FLOAT32_MAX:.3g}): the model cannot be evaluated there in float32")


def _overflow(network: Network, bounds: Bounds) -> tuple[int, float] | None:
    """(layer, magnitude) of the first layer whose bounds leave float32's range, or None."""
    for k, (lo, up) in enumerate(bounds):
        value = float(np.max(np.maximum(np.abs(lo), np.abs(up)), initial=0.0))
        if not value <= FLOAT32_MAX:
            return k, value
    return None


def _affine_interval(layer: Dense, hlo: np.ndarray, hup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds of W h + b for h in [hlo, hup] (rows of a batch)."""
    wp = np.maximum(layer.weight, 0.0).T
    wn = np.minimum(layer.weight, 0.0).T
    lo = hlo @ wp + hup @ wn + layer.bias
    up = hup @ wp + hlo @ wn + layer.bias
    mag = np.maximum(np.abs(hlo), np.abs(hup)) @ np.abs(layer.weight).T + np.abs(layer.bias)
    return widen(lo, up, mag)


def interval_bounds(network: Network, box: Box, known: Bounds | None = None) -> Bounds:
    """Interval-arithmetic bounds of g for every layer.

    known: optional sound bounds per layer (or None entries), intersected with the computed ones
    before they are propagated (e.g. MILP optima of earlier layers).
    """
    hlo, hup = input_bounds(network, box)
    out: Bounds = []
    for k, layer in enumerate(network.layers):
        lo, up = _affine_interval(layer, hlo, hup)
        if known is not None and known[k] is not None:
            lo, up = np.maximum(lo, known[k][0]), np.minimum(up, known[k][1])
        out.append((lo, up))
        hlo, hup = activation_bounds(layer, lo, up)
    return out


def relaxation(layer: Dense, lo: np.ndarray, up: np.ndarray):
    """Linear relaxations lower_slope*g + lower_icpt <= act(g) <= upper_slope*g + upper_icpt.

    Returns (lower_slope, lower_icpt, upper_slope, upper_icpt), each shaped like lo, for g in
    [lo, up].
    """
    if layer.activation == "identity":
        one, zero = np.ones_like(lo), np.zeros_like(lo)
        return one, zero, one, zero
    alpha = layer.alpha if layer.activation == "leaky_relu" else 0.0
    active = lo >= 0.0
    inactive = up <= 0.0
    cross = ~(active | inactive)
    ls = np.where(active, 1.0, alpha)
    us = ls.copy()
    li = np.zeros_like(lo)
    ui = np.zeros_like(lo)
    lc, uc = lo[cross], up[cross]
    chord = (uc - alpha * lc) / (uc - lc)
    chord_icpt = alpha * lc - chord * lc
    if alpha <= 1.0:  # convex: the chord is above, a line through the origin below
        us[cross], ui[cross], ls[cross] = chord, chord_icpt, np.where(uc > -lc, 1.0, alpha)
    else:  # concave (alpha > 1): the roles swap
        ls[cross], li[cross], us[cross] = chord, chord_icpt, np.where(uc > -lc, alpha, 1.0)
    return ls, li, us, ui


def _rowdot(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(B, k, n) times (B, n) -> (B, k)."""
    return np.matmul(a, v[:, :, None])[:, :, 0]


def _backsub(network: Network, k: int, bounds, h0lo, h0up, upper: bool):
    """One side of the symbolic bound of layer k's g (batched over boxes), given layers < k."""
    layer = network.layers[k]
    batch = h0lo.shape[0]
    a = np.broadcast_to(layer.weight, (batch,) + layer.weight.shape)
    c = np.broadcast_to(layer.bias, (batch, layer.n_out)).copy()
    cmag = np.abs(c)
    # aabs: the same back-substitution on absolute values; it bounds every product that went
    # into `a`, so the rounding margin also covers cancellation inside `a = d @ W`
    aabs = np.abs(a)
    for i in range(k - 1, -1, -1):
        prev = network.layers[i]
        ls, li, us, ui = relaxation(prev, *bounds[i])
        if not upper:
            ls, li, us, ui = us, ui, ls, li
        pos = a > 0.0  # positive coefficients take the upper line (for an upper bound)
        d = a * np.where(pos, us[:, None, :], ls[:, None, :])
        terms = a * np.where(pos, ui[:, None, :], li[:, None, :])
        shift = terms.sum(axis=2)
        c = c + shift + d @ prev.bias
        dabs = aabs * np.maximum(np.abs(us), np.abs(ls))[:, None, :]
        icpt = np.maximum(np.abs(ui), np.abs(li))
        cmag = cmag + _rowdot(aabs, icpt) + dabs @ np.abs(prev.bias)
        a = d @ prev.weight
        aabs = dabs @ np.abs(prev.weight)
    hi_side, lo_side = (h0up, h0lo) if upper else (h0lo, h0up)
    corner = np.where(a > 0.0, hi_side[:, None, :], lo_side[:, None, :])
    value = c + (a * corner).sum(axis=2)
    mag = cmag + _rowdot(aabs, np.maximum(np.abs(h0lo), np.abs(h0up)))
    return value, mag, a


def batch_symbolic_bounds(network: Network, lo: np.ndarray, hi: np.ndarray,
                          known: Bounds | None = None, last: int | None = None,
                          coeffs: list | None = None) -> Bounds:
    """symbolic_bounds for a batch of input boxes lo, hi of shape (B, d); arrays are (B, n).

    last: stop after this layer. coeffs: if a list is given, the upper bound's coefficients on
    h0 of every layer, (B, n_k, n0), are appended to it.
    """
    h0lo, h0up = _h0_boxes(network, lo, hi)
    hlo, hup = h0lo, h0up
    out: Bounds = []
    for k, layer in enumerate(network.layers[: None if last is None else last + 1]):
        glo, gup = _affine_interval(layer, hlo, hup)
        a = np.broadcast_to(layer.weight, (lo.shape[0],) + layer.weight.shape)
        if k > 0:
            slo, lmag, _ = _backsub(network, k, out, h0lo, h0up, upper=False)
            sup, umag, a = _backsub(network, k, out, h0lo, h0up, upper=True)
            glo = np.maximum(glo, widen(slo, slo, lmag)[0])
            gup = np.minimum(gup, widen(sup, sup, umag)[1])
        if coeffs is not None:
            coeffs.append(a)
        if known is not None and known[k] is not None:
            glo, gup = np.maximum(glo, known[k][0]), np.minimum(gup, known[k][1])
        out.append((glo, gup))
        hlo, hup = activation_bounds(layer, glo, gup)
    return out


def symbolic_bounds(network: Network, box: Box, known: Bounds | None = None) -> Bounds:
    """Back-substitution bounds of g for every layer, intersected with interval bounds.

    known: optional sound bounds per layer (from LP tightening or proven phases, e.g. upper = 0
    for a neuron proven stably inactive) that are intersected with the computed ones before they
    are used to relax later layers.
    """
    out = batch_symbolic_bounds(network, box.lo[None, :], box.hi[None, :], known)
    return [(lo[0], up[0]) for lo, up in out]


def linear_bound_coefficients(network: Network, box: Box, bounds: Bounds, layer: int,
                              upper: bool) -> np.ndarray:
    """Coefficients (n_out, d) on the flat input of the symbolic upper (or lower) linear bound of
    layer `layer`'s g, built from the relaxations that `bounds` give the earlier layers."""
    h0lo, h0up = _h0_boxes(network, box.lo[None, :], box.hi[None, :])
    earlier = [(lo[None, :], up[None, :]) for lo, up in bounds[:layer]]
    _, _, coef = _backsub(network, layer, earlier, h0lo, h0up, upper)
    return network.input_map.pull_back(coef[0], network.n_inputs)


def folded_first_layer(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of layer 0 acting on the flat original input (input map folded in)."""
    imap = network.input_map
    first = network.layers[0]
    return imap.pull_back(first.weight, network.n_inputs), first.bias + first.weight @ imap.shift


def prove_by_splitting(network: Network, box: Box, inactive: dict, active: dict,
                       time_limit: float, max_boxes: int = 200_000, observe=None,
                       batch: int = 256) -> tuple[dict, dict]:
    """Input splitting (for low-dimensional inputs): prove phases on every part of a partition.

    inactive / active: {layer index: bool mask} of the neurons to prove stably inactive
    (up <= 0) / stably active (lo >= 0). The box is bisected along the input with the largest
    width times first-layer weight mass until, on every part, the symbolic bounds settle each
    open neuron. observe(points) records the parts' centres as witnesses and returns (pos, neg):
    {layer: mask} of neurons seen strictly positive / negative so far; those stop being open.
    Returns the proven masks (inactive, active). Neurons still unresolved on some part when the
    time or box budget runs out (or a part cannot be split further) are not proven.
    """
    deadline = time.monotonic() + time_limit
    imap = network.input_map
    last = max([i for i in inactive if inactive[i].any() or active[i].any()], default=0)
    open_in = {i: m.copy() for i, m in inactive.items() if i <= last}
    open_ac = {i: m.copy() for i, m in active.items() if i <= last}
    stack = [(box.lo.copy(), box.hi.copy())]
    used = 0
    while stack:
        part = stack[-batch:]
        del stack[-batch:]
        used += len(part)
        exhausted = time.monotonic() > deadline or used > max_boxes
        lo = np.array([p[0] for p in part])
        hi = np.array([p[1] for p in part])
        if observe is not None:
            pos, neg = observe((lo + hi) / 2.0)
            for i in open_in:
                open_in[i] &= ~pos[i]
                open_ac[i] &= ~neg[i]
        coeffs: list = []
        bnds = batch_symbolic_bounds(network, lo, hi, last=last, coeffs=coeffs)
        bad_in = {i: (bnds[i][1] > 0.0) & open_in[i] for i in open_in}
        bad_ac = {i: (bnds[i][0] < 0.0) & open_ac[i] for i in open_ac}
        # smear: how much each h0 coordinate moves the unresolved neurons over its width
        smear = np.zeros((len(part), imap.perm.size))
        for i in open_in:
            bad = (bad_in[i] | bad_ac[i]).astype(np.float64)
            smear += np.einsum("bk,bkn->bn", bad, np.abs(coeffs[i]))
        score = np.zeros_like(lo)
        np.add.at(score.T, imap.perm, (smear * np.abs(imap.scale)).T)
        unresolved = np.zeros(len(part), dtype=bool)
        for i in open_in:
            unresolved |= (bad_in[i] | bad_ac[i]).any(axis=1)
        for b in np.flatnonzero(unresolved):
            width = hi[b] - lo[b]
            dim = int(np.argmax(width * score[b]))
            # a part whose unresolved neurons do not depend on the inputs (score 0: splitting
            # cannot help), a part too thin to split, or an exhausted budget: not proven
            if (exhausted or not smear[b].any()
                    or width[dim] <= 1e-9 * (1.0 + abs(lo[b, dim]))):
                for i in open_in:  # give up on what this part leaves unresolved
                    open_in[i] &= ~bad_in[i][b]
                    open_ac[i] &= ~bad_ac[i][b]
                continue
            mid = (lo[b, dim] + hi[b, dim]) / 2.0
            left_hi, right_lo = hi[b].copy(), lo[b].copy()
            left_hi[dim], right_lo[dim] = mid, mid
            stack.append((lo[b], left_hi))
            stack.append((right_lo, hi[b]))
    return ({i: open_in.get(i, np.zeros_like(m)) for i, m in inactive.items()},
            {i: open_ac.get(i, np.zeros_like(m)) for i, m in active.items()})


def padded(value: float, sign: int) -> float:
    """A solver's dual bound moved outward (sign +1: an upper bound, -1: a lower bound) by LP_MARGIN."""
    return value + sign * LP_MARGIN * (1.0 + abs(value))


def lp_tighten(network: Network, box: Box, bounds: Bounds, phases, layer: int,
               neurons, time_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """OBBT: max and min of g[layer][j] over the LP relaxation, for the given neurons.

    The LP is the big-M model of exactprune.milp with continuous z (phases fix stable neurons).
    Its dual bound, widened by LP_MARGIN, replaces a bound only where it is tighter; a solve that
    does not end optimally within the time left keeps the old bound. Returns (lo, up) of `layer`;
    raises milp.SolverTrouble when SCIP fails (the bounds found so far are then lost, not wrong).
    """
    from pyscipopt import SCIP_PARAMSETTING

    from .milp import NetworkMILP, scip_calls, solve  # SCIP is only needed here

    deadline = time.monotonic() + time_limit
    lo, up = bounds[layer][0].copy(), bounds[layer][1].copy()
    lp = NetworkMILP(network, box, bounds, phases, layer, relax=True, name="obbt")
    model = lp.model
    with scip_calls():
        model.setPresolve(SCIP_PARAMSETTING.OFF)
        model.setHeuristics(SCIP_PARAMSETTING.OFF)
        model.setSeparating(SCIP_PARAMSETTING.OFF)
    for j in neurons:
        for sense in ("maximize", "minimize"):
            left = deadline - time.monotonic()
            if left <= 0:
                return lo, up
            with scip_calls():
                model.freeTransform()
                model.setObjective(lp.g[layer][j], sense)
                model.setParam("limits/time", left)
            if solve(model) != "optimal":
                continue
            if sense == "maximize":
                up[j] = min(up[j], padded(model.getDualbound(), 1))
            else:
                lo[j] = max(lo[j], padded(model.getDualbound(), -1))
    return lo, up

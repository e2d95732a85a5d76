"""Sound pre-activation bounds for every layer: interval arithmetic and symbolic back-substitution.

Both functions return one (lower, upper) pair of float64 arrays per layer of the network (the
output layer included), valid for every input of the box. Float64 rounding is covered by
widening each bound outward by

    REL_MARGIN * magnitude + ABS_MARGIN   (0 when magnitude is 0),

where `magnitude` is the sum of absolute values of the terms the bound was computed from
(|coefficients| @ max(|lo|, |hi|) + |constant|). A magnitude of 0 means every term was exactly
0 (a neuron with zero weights and bias, common after L1 training): its bound is exactly 0.
The worst-case rounding error of a float64 dot
product of n terms is about n * 1.1e-16 * magnitude, so REL_MARGIN = 1e-9 covers sums of up to
millions of terms and the products of a few back-substitution steps with room to spare.

Symbolic bounds follow the DeepPoly / CROWN back-substitution (METHODS section 2): each earlier
two-phase neuron with lo < 0 < up is replaced by its upper relaxation line through
(lo, act(lo)) and (up, up) and a lower line through the origin whose slope (1 or alpha) is
chosen adaptively; stable neurons and identity layers are substituted exactly. They are
computed for a batch of boxes at once (the stability analysis's input splitting proves phases on
a partition of a low-dimensional box with them). No solver here: OBBT is exactprune.solvers.obbt.
"""

from __future__ import annotations

import numpy as np

from ..domain import FLOAT32_MAX, Box, check_range
from ..errors import DomainError
from ..ir import Layer, Network
from ..ir.network import CHUNK_ENTRIES

REL_MARGIN = 1e-9
ABS_MARGIN = 1e-12

Bounds = list[tuple[np.ndarray, np.ndarray]]


def widen(lo: np.ndarray, up: np.ndarray, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen [lo, up] outward by the documented rounding margin."""
    pad = np.where(magnitude > 0.0, REL_MARGIN * magnitude + ABS_MARGIN, 0.0)
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


def _affine_interval(layer: Layer, hlo: np.ndarray, hup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds of W h + b for h in [hlo, hup] (rows of a batch), widened for rounding."""
    return widen(*layer.interval(hlo, hup))


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
        hlo, hup = layer.activation.image(lo, up)
    return out


def _rowdot(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(B, k, n) times (B, n) -> (B, k)."""
    return np.matmul(a, v[:, :, None])[:, :, 0]


def _backsub(network: Network, k: int, bounds, h0lo, h0up, upper: bool, rows=None):
    """One side of the symbolic bound of layer k's g (batched over boxes), given layers < k;
    for the neurons `rows` only (None: all), a chunk of them at a time so that no coefficient
    stack holds more than CHUNK_ENTRIES entries per box (layers of up to 1024 neurons on up to
    4096 inputs: one chunk, as before conv layers)."""
    layer = network.layers[k]
    rows = np.arange(layer.n_out) if rows is None else np.asarray(rows)
    widest = max([layer.n_in] + [prev.n_in for prev in network.layers[:k]])
    step = max(1, CHUNK_ENTRIES // widest)
    parts = [_backsub_rows(network, k, bounds, h0lo, h0up, upper, rows[i:i + step])
             for i in range(0, rows.size, step)]
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(part, axis=1) for part in zip(*parts))


def _backsub_rows(network: Network, k: int, bounds, h0lo, h0up, upper: bool, rows):
    layer = network.layers[k]
    batch = h0lo.shape[0]
    weight = layer.weight_rows(rows)
    a = np.broadcast_to(weight, (batch,) + weight.shape)
    c = np.broadcast_to(layer.bias[rows], (batch, rows.size)).copy()
    cmag = np.abs(c)
    # aabs: the same back-substitution on absolute values; it bounds every product that went
    # into `a`, so the rounding margin also covers cancellation inside `a = d @ W`
    aabs = np.abs(a)
    for i in range(k - 1, -1, -1):
        prev = network.layers[i]
        ls, li, us, ui = prev.activation.relaxation(*bounds[i])
        if not upper:
            ls, li, us, ui = us, ui, ls, li
        pos = a > 0.0  # positive coefficients take the upper line (for an upper bound)
        d = a * np.where(pos, us[:, None, :], ls[:, None, :])
        terms = a * np.where(pos, ui[:, None, :], li[:, None, :])
        shift = terms.sum(axis=2)
        dabs = aabs * np.maximum(np.abs(us), np.abs(ls))[:, None, :]
        icpt = np.maximum(np.abs(ui), np.abs(li))
        intercepts = _rowdot(aabs, icpt)
        a, aabs, d_bias, dabs_bias = prev.substitute(d, dabs)
        c = c + shift + d_bias
        cmag = cmag + intercepts + dabs_bias
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
        a = None
        if k == 0 and coeffs is not None:
            weight = layer.weight_rows(np.arange(layer.n_out))
            a = np.broadcast_to(weight, (lo.shape[0],) + weight.shape)
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
        hlo, hup = layer.activation.image(glo, gup)
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
                              upper: bool, rows=None) -> np.ndarray:
    """Coefficients (len(rows), d) on the flat input of the symbolic upper (or lower) linear
    bound of layer `layer`'s g for its neurons `rows` (None: all), built from the relaxations
    that `bounds` give the earlier layers."""
    h0lo, h0up = _h0_boxes(network, box.lo[None, :], box.hi[None, :])
    earlier = [(lo[None, :], up[None, :]) for lo, up in bounds[:layer]]
    _, _, coef = _backsub(network, layer, earlier, h0lo, h0up, upper, rows)
    return network.input_map.pull_back(coef[0], network.n_inputs)

"""Two networks over one shared input, side by side (the product network): which neurons they
share, sound bounds of both, and a sound bound of the differences of their outputs.

Shared neurons. Layer by layer, a neuron of B is the SAME as a neuron of A when both have the
same activation, the same bias and the same weights on the same earlier (shared) neurons, equal
as float64 numbers: then they compute the same function of the input exactly, in real
arithmetic. Weights on a neuron that the sound bounds prove to be 0 on the domain (a relu with
up <= 0) are left out of the comparison (that neuron contributes nothing there), so a B that
is A with stably inactive neurons removed still shares every other neuron with A. Nothing is
matched with a tolerance: a neuron that differs in any bit is a neuron of its own.

Bounds. Each network gets its symbolic bounds (bounds.symbolic_bounds, sound in float64); a
shared pair gets the intersection of both (both are sound for the one function). The
difference bound comes from the same engine run on the product network P: layer k of P holds
the neurons of A's layer k and B's neurons of layer k that A does not share, the output layer
both output layers, and one more layer computes a_out - b_out. Back-substitution through P
cancels the shared neurons exactly where A's and B's outputs weigh them equally, so a B that
is A with stable neurons removed usually gets a bound of rounding size at once. P needs both
networks to have the same depth and the same activation per layer; otherwise the difference is
bounded by intervals (A's output bounds minus B's). The affine forms of forms.py give a third
bound, which also sees through folded and rank-merged neurons; the tightest of the three is
kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bounds import Bounds, symbolic_bounds, widen
from ..domain import Box
from ..ir import ACTIVE, INACTIVE, UNKNOWN, Dense, InputMap, Network
from .forms import form_bound


@dataclass(frozen=True, eq=False)
class Product:
    """A and B over one box: their bounds, their shared neurons and the difference bound.

    shared[k]: dict B neuron -> A neuron of layer k that computes the same function (hidden
    layers only). diff: (lo, up) arrays bounding a_out - b_out over the box. exact_product:
    whether diff comes from the product network (else from intervals)."""

    a: Network
    b: Network
    box: Box
    bounds_a: Bounds
    bounds_b: Bounds
    shared: list[dict]
    diff: tuple[np.ndarray, np.ndarray]
    exact_product: bool

    @property
    def n_shared(self) -> int:
        return sum(len(s) for s in self.shared)

    def phases(self, network: Network, bounds: Bounds) -> list:
        """Per layer: the phases the bounds prove (ACTIVE, INACTIVE, else UNKNOWN), None for a
        layer without a kink (the MILP encoding's convention)."""
        out = []
        for layer, (lo, up) in zip(network.layers, bounds):
            if not layer.activation.two_phase:
                out.append(None)
                continue
            out.append(np.where(lo >= 0.0, ACTIVE, np.where(up <= 0.0, INACTIVE, UNKNOWN))
                       .astype(np.int8))
        return out


def _zero(layer: Dense, up: np.ndarray) -> np.ndarray:
    """Which neurons of a layer output 0 everywhere on the box (a relu with up <= 0)."""
    act = layer.activation
    if act.two_phase and act.inactive_slope == 0.0:
        return up <= 0.0
    return np.zeros(layer.n_out, dtype=bool)


def _same_activation(x: Dense, y: Dense) -> bool:
    return x.activation == y.activation


def _hidden(network: Network) -> list[Dense]:
    """The layers as dense matrices over the flat input (the input map folded into layer 0)."""
    return [network.folded_first_layer() if k == 0 else layer.as_dense()
            for k, layer in enumerate(network.layers)]


class _Merge:
    """The product network's neuron sets, built layer by layer: A's neurons keep their index,
    B's neurons that A does not share come after them."""

    def __init__(self, a: list[Dense], b: list[Dense], bounds_a: Bounds, bounds_b: Bounds):
        self.a, self.b = a, b
        self.bounds_a, self.bounds_b = list(bounds_a), list(bounds_b)
        self.shared: list[dict] = []
        self.col_a = np.arange(a[0].n_in)  # column of each input / previous neuron in P
        self.col_b = np.arange(b[0].n_in)
        self.zero = np.zeros(a[0].n_in, dtype=bool)  # P's previous neurons that are 0
        self.width = a[0].n_in
        self.layers: list[Dense] = []

    def rows(self, layer: Dense, cols: np.ndarray) -> np.ndarray:
        """A layer's weights placed in P's columns of the previous layer."""
        out = np.zeros((layer.n_out, self.width))
        np.add.at(out.T, cols, layer.weight.T)
        return out

    def hidden(self, k: int) -> None:
        """Layer k of P: A's neurons, then B's neurons A does not share."""
        la, lb = self.a[k], self.b[k]
        wa, wb = self.rows(la, self.col_a), self.rows(lb, self.col_b)
        keys = {}
        if _same_activation(la, lb):
            seen = np.where(self.zero[None, :], 0.0, wa)
            for j in range(la.n_out):
                keys.setdefault(seen[j].tobytes() + la.bias[j:j + 1].tobytes(), j)
        shared = {}
        if keys:
            seen = np.where(self.zero[None, :], 0.0, wb)
            for i in range(lb.n_out):
                j = keys.get(seen[i].tobytes() + lb.bias[i:i + 1].tobytes())
                if j is not None:
                    shared[i] = j
        self.shared.append(shared)
        self._intersect(k, shared)
        own = np.array([i for i in range(lb.n_out) if i not in shared], dtype=np.int64)
        col_b = np.empty(lb.n_out, dtype=np.int64)
        for i, j in shared.items():
            col_b[i] = j
        col_b[own] = la.n_out + np.arange(own.size)
        self.layers.append(Dense(np.vstack([wa, wb[own]]),
                                 np.concatenate([la.bias, lb.bias[own]]), la.activation))
        self.zero = np.concatenate([_zero(la, self.bounds_a[k][1]),
                                    _zero(lb, self.bounds_b[k][1])[own]])
        self.col_a, self.col_b = np.arange(la.n_out), col_b
        self.width = la.n_out + own.size

    def _intersect(self, k: int, shared: dict) -> None:
        """Both bounds of a shared pair are sound for the one function: keep the tighter."""
        if not shared:
            return
        (alo, aup), (blo, bup) = self.bounds_a[k], self.bounds_b[k]
        ib, ja = np.array(list(shared), dtype=np.int64), np.array(list(shared.values()))
        lo, up = np.maximum(alo[ja], blo[ib]), np.minimum(aup[ja], bup[ib])
        alo, aup, blo, bup = alo.copy(), aup.copy(), blo.copy(), bup.copy()
        alo[ja], aup[ja], blo[ib], bup[ib] = lo, up, lo, up
        self.bounds_a[k], self.bounds_b[k] = (alo, aup), (blo, bup)

    def outputs(self) -> Network:
        """P with both output layers and the difference layer a_out - b_out after them."""
        la, lb = self.a[-1], self.b[-1]
        out = Dense(np.vstack([self.rows(la, self.col_a), self.rows(lb, self.col_b)]),
                    np.concatenate([la.bias, lb.bias]), la.activation)
        n = la.n_out
        diff = Dense(np.hstack([np.eye(n), -np.eye(n)]), np.zeros(n), "identity")
        return Network((*self.layers, out, diff), InputMap.identity(self.a[0].n_in))


def product(a: Network, b: Network, box: Box, bounds_a: Bounds | None = None,
            bounds_b: Bounds | None = None) -> Product:
    """The Product of A and B over `box` (both already checked to fit it); bounds_*: sound
    bounds of each network (None: its symbolic bounds). The difference bound is the tightest of
    the product network's, the intervals' and the affine forms' (forms.py)."""
    bounds_a = symbolic_bounds(a, box) if bounds_a is None else bounds_a
    bounds_b = symbolic_bounds(b, box) if bounds_b is None else bounds_b
    la, lb = _hidden(a), _hidden(b)
    merge = _Merge(la, lb, bounds_a, bounds_b)
    aligned = len(la) == len(lb) and all(map(_same_activation, la, lb))
    if aligned:
        for k in range(len(la) - 1):
            merge.hidden(k)
        p_bounds = symbolic_bounds(merge.outputs(), box)
        diff = p_bounds[-1]
    else:
        merge.shared = [{} for _ in range(len(lb) - 1)]
    (alo, aup), (blo, bup) = merge.bounds_a[-1], merge.bounds_b[-1]
    act_a, act_b = a.layers[-1].activation, b.layers[-1].activation
    (alo, aup), (blo, bup) = act_a.image(alo, aup), act_b.image(blo, bup)
    mag = np.maximum(np.abs(alo), np.abs(aup)) + np.maximum(np.abs(blo), np.abs(bup))
    interval = widen(alo - bup, aup - blo, mag)
    if aligned:
        diff = (np.maximum(diff[0], interval[0]), np.minimum(diff[1], interval[1]))
    else:
        diff = interval
    flo, fup = form_bound(a, b, box, merge.bounds_a, merge.bounds_b)
    diff = (np.maximum(diff[0], flo), np.minimum(diff[1], fup))
    return Product(a, b, box, merge.bounds_a, merge.bounds_b, merge.shared, diff, aligned)

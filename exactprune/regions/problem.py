"""The hidden part of a network over a polytope, in the coordinates the region code works in.

Base coordinates u map to the flat model input by x = offset + u @ basis. For a box domain u are
the inputs with lo < hi (fixed inputs are folded into the first bias); for a 2-D slice u = (s, t)
on the plane x = A + s (B - A) + t (C - A). Extra rows `rows @ u <= rhs` (unit-norm rows) cut the
base box down to the domain (the slice of the input box).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..bounds import check_domain
from ..domain import Box
from ..errors import UnsupportedModelError
from ..ir import ACTIVE, INACTIVE, Activation, Network
from ..stability import StabilityResult


@dataclass(frozen=True, eq=False)
class HiddenLayer:
    """g = W u_prev + b, then the layer's activation."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation
    fixed: np.ndarray  # int8 per neuron: ACTIVE / INACTIVE when proven on the whole domain, else 0

    @property
    def slope(self) -> float | None:
        """The inactive slope of a two-phase activation (0 relu, alpha leaky), None for identity."""
        return self.activation.inactive_slope if self.activation.two_phase else None


@dataclass(frozen=True, eq=False)
class Problem:
    layers: tuple[HiddenLayer, ...]
    lo: np.ndarray
    hi: np.ndarray
    offset: np.ndarray
    basis: np.ndarray  # (dim, n_inputs)
    rows: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    rhs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    columns: np.ndarray | None = None  # basis is the selection of these input columns


    @property
    def dim(self) -> int:
        return self.lo.size

    def lift(self, u: np.ndarray) -> np.ndarray:
        """Flat model inputs of base points (N, dim)."""
        if self.columns is not None:
            x = np.repeat(self.offset[None, :], u.shape[0], axis=0)
            x[:, self.columns] = u
            return x
        return self.offset + u @ self.basis

    def forward(self, u: np.ndarray) -> list[np.ndarray]:
        """Pre-activations of every hidden layer for base points (N, dim), float64."""
        out, h = [], u
        for layer in self.layers:
            g = h @ layer.weight.T + layer.bias
            out.append(g)
            h = layer.activation.apply(g)
        return out


def hidden_layers(network: Network, stability: StabilityResult | None = None):
    """(weight, bias, activation, fixed) of every hidden layer, the input map folded into the first."""
    fixed = {k: np.zeros(layer.n_out, dtype=np.int8) for k, layer in enumerate(network.hidden)}
    if stability is not None:
        for ls in stability.layers:
            if ls.layer in fixed:
                status = ls.status
                fixed[ls.layer] = np.where((status == ACTIVE) | (status == INACTIVE), status, 0)
    out = []
    for k, layer in enumerate(network.hidden):
        dense = network.folded_first_layer() if k == 0 else layer.as_dense()
        weight, bias = dense.weight, dense.bias
        out.append((weight, bias, layer.activation, fixed[k].astype(np.int8)))
    if not out:
        raise UnsupportedModelError("the network has no hidden layer: it has a single linear region")
    return out


def box_problem(network: Network, box: Box, stability: StabilityResult | None = None) -> Problem:
    """The network over a box, fixed inputs (lo == hi) folded into the first layer; inputs the
    first layer does not read (zero weight column, e.g. dead MNIST pixels) change no pattern, so
    they are fixed at the box centre too (the regions are their products with those inputs)."""
    check_domain(network, box)
    hidden = hidden_layers(network, stability)
    read = np.any(hidden[0][0] != 0.0, axis=0)  # inputs the first layer reads at all
    free = np.flatnonzero((box.lo < box.hi) & read)
    offset = np.where(read, box.lo, 0.5 * (box.lo + box.hi))  # unread inputs: any value will do
    layers = []
    for k, (weight, bias, activation, fixed) in enumerate(hidden):
        if k == 0:
            bias = bias + weight @ offset - weight[:, free] @ offset[free]
            weight = weight[:, free]
        layers.append(HiddenLayer(weight, bias, activation, fixed))
    basis = np.zeros((free.size, box.size))
    basis[np.arange(free.size), free] = 1.0
    offset[free] = 0.0
    return Problem(tuple(layers), box.lo[free].copy(), box.hi[free].copy(), offset, basis,
                   columns=free)

"""Upper bounds on the number of linear regions from the architecture, as exact Python ints.

- "2^N": one region per activation pattern of the N two-phase hidden neurons.
- "product": prod_l sum_{j <= d_l} C(n_l, j), d_l = min(n_0, ..., n_l) (each layer an
  arrangement of n_l hyperplanes in at most d_l dimensions).
- "theorem1": Theorem 1 of "Bounding and Counting Linear Regions of Deep Neural Networks",
  sum over (j_1..j_L) in J of prod_l C(n_l, j_l), J = {0 <= j_l <= min(n_0, n_1 - j_1, ...,
  n_{l-1} - j_{l-1}, n_l)}, by dynamic programming over (layer, remaining dimension d):
  f(l, d) = sum_{j <= min(d, n_l)} C(n_l, j) f(l + 1, min(d, n_l - j)).
- "theorem1_rank": the same with the rank of each weight matrix capping the dimension: the
  hyperplanes of layer l have normals in a space of dimension rank(W_l), so j_l <= rank(W_l) and
  the image after layer l has dimension <= rank(W_l).
- "sparsity_expected": the expectation of "theorem1_rank" when each weight matrix is replaced by a
  random one with the same number of non-zeros per layer (uniform positions; its rank taken as
  the structural rank, the largest matching of its non-zero pattern, which bounds the rank of
  every matrix with that pattern). This follows the idea of "Getting Away with More Network
  Pruning: From Sparsity to Geometry and Linear Regions" (sparsity lowers the expected rank and so
  the expected bound); it is an estimate over random masks (fixed seed), not the paper's formula.
Identity hidden layers do not split; they only cap the dimension by their width and rank.
Conv layers take min(n_in, n_out) as their rank (their dense matrix is never built).
"""

from __future__ import annotations

import math
from functools import lru_cache
from math import comb

import numpy as np

from ..ir import Dense, Network

SPARSITY_SAMPLES = 32


def _layers(network: Network) -> list[tuple[int, int, bool]]:
    """(width, rank, splits) per hidden layer (a conv layer's rank: min(n_in, n_out))."""
    return [(layer.n_out, _rank(layer), layer.activation.two_phase) for layer in network.hidden]


def _rank(layer) -> int:
    if isinstance(layer, Dense):
        return int(np.linalg.matrix_rank(layer.weight))
    return min(layer.n_in, layer.n_out)


def theorem1(n0: int, layers: list[tuple[int, int, bool]]) -> int:
    """Theorem 1 over (width, dimension cap, splits) layers; cap = width gives the plain bound."""
    spec = tuple(layers)

    @lru_cache(maxsize=None)
    def f(index: int, dim: int) -> int:
        if index == len(spec):
            return 1
        width, cap, splits = spec[index]
        dim = min(dim, cap)
        if not splits:
            return f(index + 1, min(dim, width))
        return sum(comb(width, j) * f(index + 1, min(dim, width - j)) for j in range(min(dim, width) + 1))

    return f(0, n0)


def product_bound(n0: int, widths: list[int]) -> int:
    total, dim = 1, n0
    for width in widths:
        dim = min(dim, width)
        total *= sum(comb(width, j) for j in range(dim + 1))
    return total


def structural_rank(mask: np.ndarray) -> int:
    """The size of a largest matching between rows and columns of a boolean matrix."""
    match_col = -np.ones(mask.shape[1], dtype=int)

    def augment(r: int, seen: np.ndarray) -> bool:
        for c in np.flatnonzero(mask[r]):
            if not seen[c]:
                seen[c] = True
                if match_col[c] < 0 or augment(match_col[c], seen):
                    match_col[c] = r
                    return True
        return False

    return sum(augment(r, np.zeros(mask.shape[1], dtype=bool)) for r in range(mask.shape[0]))


def sparsity_expected(network: Network, samples: int = SPARSITY_SAMPLES, seed: int = 0) -> int:
    """The expected rank-refined Theorem 1 bound over random masks of the network's density."""
    rng = np.random.default_rng(seed)
    hidden = network.hidden
    dense = all(np.count_nonzero(layer.weight) == layer.weight.size for layer in hidden
                if isinstance(layer, Dense))
    plain = [(layer.n_out, min(layer.n_in, layer.n_out), layer.activation.two_phase)
             for layer in hidden]
    if dense:
        return theorem1(network.n_inputs, plain)
    total = 0
    for _ in range(samples):
        spec = []
        for layer in hidden:
            if not isinstance(layer, Dense):  # a conv layer: its rank cap, no random mask
                spec.append((layer.n_out, _rank(layer), layer.activation.two_phase))
                continue
            mask = np.zeros(layer.weight.size, dtype=bool)
            mask[rng.choice(layer.weight.size, np.count_nonzero(layer.weight), replace=False)] = True
            spec.append((layer.n_out, structural_rank(mask.reshape(layer.weight.shape)),
                         layer.activation.two_phase))
        total += theorem1(network.n_inputs, spec)
    return -(-total // samples)


def region_bounds(network: Network) -> dict[str, int]:
    """Every bound above, by name; for a network with conv layers (thousands of neurons: the
    numbers have thousands of digits and Theorem 1's recursion is too slow) the base-2
    logarithms of "product" and "2^N" only."""
    layers = _layers(network)
    splitting = [width for width, _, splits in layers if splits]
    if not all(isinstance(layer, Dense) for layer in network.layers):
        return {"log2 product": round(math.log2(product_bound(network.n_inputs, splitting)), 1),
                "log2 2^N": float(sum(splitting))}
    return {
        "theorem1": theorem1(network.n_inputs, [(w, w, s) for w, _, s in layers]),
        "theorem1_rank": theorem1(network.n_inputs, layers),
        "sparsity_expected": sparsity_expected(network),
        "product": product_bound(network.n_inputs, splitting),
        "2^N": 2 ** sum(splitting),
    }

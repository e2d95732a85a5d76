"""Per-layer sparsities for a total sparsity: the same in every layer, or chosen to keep the
sparsity-aware upper bound on linear regions high (Cai et al., CPAIOR 2023; docs/prune.md).

"regions": the bound is Theorem 1 of regions/upper_bounds.py with each hidden layer's dimension
capped by the expected rank of a weight matrix with that many non-zeros at uniform positions,
estimated by min(expected non-empty rows, expected non-empty columns): with density p an
(m, n) matrix has m (1 - (1 - p)^n) non-empty rows. Starting from the dense network, steps of
STEP of one layer's weights are removed, each time from the layer whose step keeps the bound
highest; among layers that keep it equally high, the one whose sparsity stays lowest (so the
allocation is uniform wherever the bound does not prefer a layer). The output layer is not in
the bound (it would be pruned for free): it keeps the sparsity S, and the hidden layers share
the rest. A layer keeps at least one weight per row.
"""

from __future__ import annotations

import numpy as np

from ..ir import Network
from ..regions import theorem1

ALLOCATIONS = ("uniform", "regions")
STEP = 0.01


def expected_rank(n_out: int, n_in: int, nonzeros: int) -> int:
    """min(expected non-empty rows, expected non-empty columns), rounded down."""
    p = nonzeros / (n_out * n_in)
    rows = n_out * (1.0 - (1.0 - p) ** n_in)
    cols = n_in * (1.0 - (1.0 - p) ** n_out)
    return int(np.floor(min(rows, cols) + 1e-9))


def allocate(network: Network, sparsity: float, how: str = "uniform") -> list[float]:
    """The sparsity of each layer (all layers, the output layer last) so that the weights removed
    add up to `sparsity` of all weights, up to rounding (see the module docstring for
    "regions")."""
    if how == "uniform":
        return [sparsity] * len(network.layers)
    sizes = np.array([layer.n_out * layer.n_in for layer in network.hidden])
    floor = np.array([layer.n_out for layer in network.hidden])  # one weight per row stays
    target = int(round(sparsity * sizes.sum()))
    if not sizes.size or target > (sizes - floor).sum():
        return [sparsity] * len(network.layers)
    removed = np.zeros(len(sizes), dtype=np.int64)
    cache: dict[tuple, int] = {}

    def bound(counts: np.ndarray) -> int:
        spec = tuple((layer.n_out, expected_rank(layer.n_out, layer.n_in, int(size - c)),
                      layer.activation.two_phase)
                     for layer, size, c in zip(network.hidden, sizes, counts))
        if spec not in cache:
            cache[spec] = theorem1(network.n_inputs, list(spec))
        return cache[spec]

    while removed.sum() < target:
        left = target - removed.sum()
        best = None
        for k, (size, low) in enumerate(zip(sizes, floor)):
            step = min(max(1, int(STEP * size)), left, size - low - removed[k])
            if step <= 0:
                continue
            trial = removed.copy()
            trial[k] += step
            key = (bound(trial), -trial[k] / size)
            if best is None or key > best[0]:
                best = (key, trial)
        removed = best[1]
    return [float(c / s) for c, s in zip(removed, sizes)] + [sparsity]

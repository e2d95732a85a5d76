"""Post-training weight pruning of every dense layer to a target sparsity, without fine-tuning.

prune_network(network, data, options) -> Pruned: the per-layer sparsities (allocate.py), then
layer by layer, first to last, the weights to zero: "cbs" (cbs.py; per-sample gradients of the
loss on `data` through the network pruned so far, gradients.py: later layers' Fishers see the
earlier layers' pruning) or "magnitude" (the smallest |w|). cbs reaches the sparsity in
`stages` passes (the gradual schedule S (1 - (1 - i / stages)^3) of pass i, each pass with the
Fisher of the network as pruned so far: still no training, only OBS updates). Biases are kept.
With `float32` the changed weights are rounded to float32 first, so that the returned Network
is exactly the one a float32 ONNX file holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..domain import Labelled
from ..errors import DomainError
from ..ir import Network
from .allocate import ALLOCATIONS, allocate
from .cbs import cbs_layer, magnitude_layer
from .gradients import layer_signals

METHODS = ("cbs", "magnitude")


@dataclass(frozen=True)
class PruneOptions:
    """sparsity: the share of all weights (not biases) that are zero afterwards, in [0, 1).
    method: METHODS. allocate: ALLOCATIONS. block: inputs per CBS block. fisher_samples: data
    rows for the Fisher (the first ones of a seeded shuffle). damp: the Fisher's damping,
    relative to its mean diagonal. swaps: rounds of CBS's swap search per block. stages: cbs
    passes with a recomputed Fisher (1: one shot). seed: the shuffle's."""

    sparsity: float = 0.9
    method: str = "cbs"
    allocate: str = "uniform"
    block: int = 64
    fisher_samples: int = 1000
    damp: float = 0.1
    swaps: int = 0
    stages: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise DomainError(f"--sparsity {self.sparsity} must be in [0, 1)")
        if self.method not in METHODS:
            raise DomainError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.allocate not in ALLOCATIONS:
            raise DomainError(f"unknown allocation {self.allocate!r}; use one of "
                              f"{', '.join(ALLOCATIONS)}")


@dataclass(frozen=True, eq=False)
class Pruned:
    """The pruned network and, per layer, (weights, zeros before, zeros after, target sparsity)."""

    network: Network
    layers: list[tuple[int, int, int, float]]
    time_s: float

    @property
    def sparsity(self) -> float:
        return sum(z for _, _, z, _ in self.layers) / sum(n for n, _, _, _ in self.layers)


def _pass(network: Network, shares: list[float], fisher: Labelled | None,
          options: PruneOptions, float32: bool, told) -> Network:
    """One pass over the layers, first to last: layer k to round(shares[k] x its weights) zeros
    (cbs with the gradients of the network pruned so far when `fisher`, else magnitude)."""
    layers = []
    for k, (layer, share) in enumerate(zip(network.layers, shares)):
        told(k)
        dense = layer.as_dense()
        zeros = int(round(share * dense.weight.size))
        weight = dense.weight
        if zeros > np.count_nonzero(weight == 0.0):
            if fisher is not None:
                current = network.replace(layers=tuple(layers) + network.layers[k:])
                h, delta = layer_signals(current, fisher.x, fisher.y)[k]
                weight = cbs_layer(weight, h, delta, zeros, options.block, options.damp,
                                   options.swaps)
            else:
                weight = magnitude_layer(weight, zeros)
            if float32:
                weight = weight.astype(np.float32).astype(np.float64)
        layers.append(dense.with_params(weight, dense.bias))
    return network.replace(layers=tuple(layers))


def prune_network(network: Network, data: Labelled, options: PruneOptions = PruneOptions(),
                  float32: bool = True, progress=None) -> Pruned:
    """Prune every layer of `network` (see the module docstring); progress(stage, layer index)
    is called before each layer of each stage."""
    start = time.monotonic()
    if data.y.max() >= network.n_outputs:
        raise DomainError(f"{data.source}: label {int(data.y.max())} but the model has "
                          f"{network.n_outputs} outputs (one per class)")
    targets = allocate(network, options.sparsity, options.allocate)
    fisher, stages = None, 1
    if options.method == "cbs":
        order = np.random.default_rng(options.seed).permutation(data.y.size)
        fisher, stages = data.rows(order[:options.fisher_samples]), options.stages
    pruned = network
    for stage in range(1, stages + 1):
        fraction = 1.0 - (1.0 - stage / stages) ** 3

        def told(k: int, stage=stage) -> None:
            if progress is not None:
                progress(stage, k)

        pruned = _pass(pruned, [t * fraction for t in targets], fisher, options, float32, told)
    report = [(old.n_in * old.n_out, int(np.count_nonzero(old.as_dense().weight == 0.0)),
               int(np.count_nonzero(new.weight == 0.0)), share)
              for old, new, share in zip(network.layers, pruned.layers, targets)]
    return Pruned(pruned, report, time.monotonic() - start)

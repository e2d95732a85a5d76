"""The precision guard: an exact reduction must not make the float32 model much less accurate.

Reductions are exact in real arithmetic, but the written model runs in float32: merging rows
through a large basis combination K or folding layers puts new products into float32 weights,
and their rounding can be far larger than the rounding the original model makes itself. The
guard measures the rounding of a network on probe points of the domain (centre, uniform
samples, vertices):

    error(net) = max |net in float32 (numpy, as onnxruntime runs it) - net in float64|

and accepts a candidate network only while error(candidate) <= GUARD * max(error(original),
FLOOR * scale), scale = max(1, max |original output|). (Whether the candidate computes the
original's function is the reductions' proof and the final verification's job, not the
guard's.) Rules that create new weights (rank-merge, layer-fold, lump) ask it before they
commit an edit; a refused edit keeps the neurons, which is always exact. Deleting neurons
(inactive, dead, constant) only removes terms and needs no guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..domain import Box, sample_points
from ..ir import Dense, Network

GUARD = 4.0  # a reduced model may round at most this many times worse than the original
FLOOR = 8 * 2.0 ** -24  # float32 error floor, relative to the output scale
PROBE_UNIFORM, PROBE_VERTICES = 256, 64


def forward32(network: Network, x: np.ndarray) -> np.ndarray:
    """The network's output layer (before any tail) evaluated in float32, as the exported ONNX
    model computes it: float32 weights, biases, input map and arithmetic."""
    imap = network.input_map
    h = x.astype(np.float32)[:, imap.perm]
    if not np.all(imap.scale == 1.0):
        h = h * imap.scale.astype(np.float32)
    if not np.all(imap.shift == 0.0):
        h = h + imap.shift.astype(np.float32)
    for layer in network.layers:
        if isinstance(layer, Dense):
            g = h @ layer.weight.astype(np.float32).T + layer.bias.astype(np.float32)
        else:  # a Conv2d: float64 rounded to float32 (its kernels are not merged or folded)
            g = layer.affine(h.astype(np.float64)).astype(np.float32)
        h = layer.activation.apply(g).astype(np.float32)
    return h.astype(np.float64)


@dataclass(eq=False)
class PrecisionGuard:
    """Accepts reduced networks whose float32 error stays within GUARD x the original's.

    refused: (rule, layer name, neurons kept) for every edit it turned down.
    """

    network: Network
    box: Box
    factor: float = GUARD
    refused: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.points = sample_points(self.box, PROBE_UNIFORM, PROBE_VERTICES,
                                    np.random.default_rng(0))[0]
        exact = self.network.forward(self.points)
        scale = max(1.0, float(np.abs(exact).max(initial=0.0)))
        self.own = self.error(self.network)
        self.limit = self.factor * max(self.own, FLOOR * scale)

    def error(self, network: Network) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            dev = np.abs(forward32(network, self.points)
                         - network.forward(self.points))
        return float(np.nan_to_num(dev, nan=np.inf).max(initial=0.0))

    def accepts(self, layers: list[Dense], rule: str, layer: str, neurons: int) -> bool:
        """Whether the network with these layers rounds acceptably; records a refusal."""
        ok = self.error(self.network.replace(layers=tuple(layers))) <= self.limit
        if not ok and (rule, layer, neurons) not in self.refused:  # again in a later round
            self.refused.append((rule, layer, neurons))
        return ok

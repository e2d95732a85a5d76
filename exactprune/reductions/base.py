"""What every reduction shares: the action record and the edit that deletes neurons of a layer."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..ir import Dense, Network

RULES = ("inactive", "rank-merge", "layer-fold", "output-zero", "constant", "dead", "lump", "channel",
         "position")


@dataclass(frozen=True)
class Action:
    """One reduction applied to one layer.

    rule: one of RULES; layer: the layer's name (`layer_name`); neurons: original flat indices
    (Dense.origin) of the neurons that went (for "layer-fold": the whole folded layer; for
    "position": the positions whose column of the next Dense layer went, which stay);
    params_saved: parameters the network lost by it.
    """

    rule: str
    layer: str
    neurons: tuple[int, ...]
    params_saved: int

    def to_json(self) -> dict:
        return {"rule": self.rule, "layer": self.layer, "neurons": list(self.neurons),
                "params_saved": self.params_saved}


def layer_name(layer: Dense) -> str:
    """A layer's name for reports: its activation node, else its last affine node."""
    return layer.act_node or (layer.nodes[-1] if layer.nodes else "")


def name_layers(network: Network) -> Network:
    """Give unnamed layers (networks built in code) the name "layer<k>" so reports can follow them."""
    layers = [
        layer if layer_name(layer) else replace(layer, nodes=(f"layer{k}",))
        for k, layer in enumerate(network.layers)
    ]
    return network.replace(layers=tuple(layers))


def set_layers(network: Network, layers: list[Dense]) -> Network:
    return network.replace(layers=tuple(layers))


def keep_neurons(layers: list[Dense], k: int, keep: np.ndarray, next_weight: np.ndarray,
                 next_bias: np.ndarray) -> None:
    """Keep the neurons `keep` (bool mask) of hidden layer k; layer k+1 gets the given parameters
    (already updated for what the removed neurons contributed), restricted to the kept columns."""
    layer, nxt = layers[k], layers[k + 1]
    origin = [o for o, flag in zip(layer.origin, keep) if flag]
    layers[k] = replace(layer, weight=layer.weight[keep], bias=layer.bias[keep], origin=tuple(origin))
    layers[k + 1] = nxt.with_params(next_weight[:, keep], next_bias)


def dense_pair(layers: list, k: int) -> bool:
    """Whether layers k and k+1 are both Dense (the neuron-wise rules edit dense rows and
    columns; conv layers have the channel rules of channels.py)."""
    return isinstance(layers[k], Dense) and isinstance(layers[k + 1], Dense)


def dropped(layer: Dense, keep: np.ndarray) -> tuple[int, ...]:
    """Original indices of the neurons not in the mask `keep`."""
    return tuple(int(o) for o, flag in zip(layer.origin, keep) if not flag)


def params_of(layers: list[Dense]) -> int:
    return sum(layer.n_params for layer in layers)

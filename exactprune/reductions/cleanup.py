"""Data-free cleanup (METHODS section 4.3, 4.4): constant neurons, dead neurons, empty layers.

These hold on all of R^n. Output neurons are never deleted.
"""

from __future__ import annotations

import numpy as np

from ..ir import Network
from .base import Action, dense_pair, dropped, keep_neurons, layer_name, params_of, set_layers
from .channels import fold_constant_channels


def remove_constant(network: Network) -> tuple[Network, list[Action]]:
    """Fold hidden neurons with an all-zero incoming row (h = act(b)) into the next bias, and
    conv channels constant on all inputs, an all-zero kernel say (channels.py)."""
    layers = list(network.layers)
    actions: list[Action] = []
    for k in range(len(layers) - 1):
        if not dense_pair(layers, k):
            fold_constant_channels(layers, k, network.input_map, actions)
            continue
        layer, nxt = layers[k], layers[k + 1]
        const = ~np.any(layer.weight != 0.0, axis=1)
        if not const.any():
            continue
        value = layer.activation.apply(layer.bias[const])
        b_next = nxt.bias + nxt.weight[:, const] @ value
        before = params_of(layers)
        neurons = dropped(layer, ~const)
        keep_neurons(layers, k, ~const, nxt.weight, b_next)
        actions.append(Action("constant", layer_name(layers[k]), neurons, before - params_of(layers)))
    return set_layers(network, layers), actions


def remove_dead(network: Network) -> tuple[Network, list[Action]]:
    """Delete hidden neurons whose outgoing column is all zero, back to front."""
    layers = list(network.layers)
    actions: list[Action] = []
    for k in range(len(layers) - 2, -1, -1):
        if not dense_pair(layers, k):
            continue
        layer, nxt = layers[k], layers[k + 1]
        keep = np.any(nxt.weight != 0.0, axis=0)
        if keep.all():
            continue
        before = params_of(layers)
        neurons = dropped(layer, keep)
        keep_neurons(layers, k, keep, nxt.weight, nxt.bias)
        actions.append(Action("dead", layer_name(layers[k]), neurons, before - params_of(layers)))
    return set_layers(network, layers), actions


def drop_empty_layers(network: Network) -> Network:
    """Remove hidden layers (other than the first) with neither inputs nor neurons.

    Such a layer sits between two empty interfaces and computes nothing; the first layer is kept
    (as a 0-neuron layer) because it carries the model input.
    """
    layers = [
        layer for k, layer in enumerate(network.layers)
        if k == 0 or k == len(network.layers) - 1 or layer.n_in or layer.n_out
    ]
    return set_layers(network, layers)

"""Reductions that keep the convolutional structure (METHODS section 4.1 per channel).

A ReLU channel of a Conv2d layer whose every output position is proven stably inactive outputs
0 on the domain: its filter and bias go, and so does everything that reads it: the channel's
groups of the pools after it (average, or the stages of a max pool: passed through) and then the
next Conv's input channel or the next Dense layer's columns of that channel's positions.
"""

from __future__ import annotations

import numpy as np

from ..ir import INACTIVE, Conv2d, Dense
from .base import Action, dropped, layer_name, params_of


def _readers_fit(layers: list, k: int) -> bool:
    """Whether every layer from k+1 on that reads the channels of layer k can drop one: pools
    (a group per channel) pass them on to a Dense layer or a Conv with groups 1."""
    for nxt in layers[k + 1:]:
        if isinstance(nxt, Conv2d) and nxt.pool:
            continue
        return isinstance(nxt, Dense) or nxt.groups == 1
    return False


def _drop_inputs(layers: list, j: int, keep: np.ndarray) -> None:
    """Layer j (and the pools from it on) stop reading the input channels not in `keep`."""
    layer = layers[j]
    if isinstance(layer, Dense):
        cols = np.repeat(keep, layer.n_in // keep.size)
        layers[j] = layer.with_params(layer.weight[:, cols], layer.bias)
    elif layer.pool:
        layers[j], out = layer.keep_groups(keep)
        _drop_inputs(layers, j + 1, out)
    else:
        layers[j] = layer.keep_inputs(keep)


def remove_dead_channels(layers: list, k: int, status: np.ndarray | None,
                         actions: list[Action]) -> np.ndarray | None:
    """Delete the channels of Conv2d layer k whose every position is stably inactive (ReLU);
    returns the status of the positions kept."""
    layer = layers[k]
    act = layer.activation
    if (status is None or layer.pool or layer.groups != 1 or not act.two_phase
            or act.inactive_slope != 0.0 or not _readers_fit(layers, k)):
        return status
    dead = (status.reshape(layer.out_shape[0], -1) == INACTIVE).all(axis=1)
    if not dead.any() or dead.all():
        return status
    keep = ~dead
    before = params_of(layers)
    positions = np.repeat(keep, layer.positions)
    gone = dropped(layer, positions)
    layers[k] = layer.keep_channels(keep)
    _drop_inputs(layers, k + 1, keep)
    actions.append(Action("channel", layer_name(layers[k]), gone, before - params_of(layers)))
    return status[positions]

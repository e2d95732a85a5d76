"""Reductions that keep the convolutional structure (METHODS sections 4.1 and 4.3 per channel).

A ReLU channel of a Conv2d layer whose every output position is proven stably inactive outputs
0 on the domain: its filter and bias go, and so does everything that reads it: the channel's
groups of the pools after it (average, or the stages of a max pool: passed through) and then the
next Conv's input channel or the next Dense layer's columns of that channel's positions.

A channel whose every position is constant (constancy.py) outputs the same values at every
point: with an all-zero kernel act(bias) on all inputs (a data-free rule); on the domain also a
channel whose non-zero kernel taps, at every position, read only inputs that are constant there
(inputs the box fixes, stably inactive ReLUs, neurons that read only such inputs), its values
being those of an exact float64 forward pass at the box's centre. Its values, carried through
the pools after it, are folded into the reader's bias (a Dense layer's per neuron; a Conv's per
channel, only where they add exactly the same (float64) at each of its output positions, which
a zero padding of the reader or values that differ by position can prevent: then the channel
stays), and it goes as above.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..domain import Box
from ..ir import INACTIVE, Conv2d, Dense, InputMap
from .base import Action, dropped, layer_name, params_of
from .constancy import constant_outputs


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
        layers[j] = layer.keep_inputs(np.repeat(keep, layer.n_in // keep.size))
    elif layer.pool:
        layers[j], out = layer.keep_groups(keep)
        _drop_inputs(layers, j + 1, out)
    else:
        layers[j] = layer.keep_inputs(keep)


def _fits(layers: list, k: int) -> bool:
    """Whether channels of layer k can go: a Conv (not a pool, groups 1) whose readers fit."""
    layer = layers[k]
    return (isinstance(layer, Conv2d) and not layer.pool and layer.groups == 1
            and _readers_fit(layers, k))


def remove_dead_channels(layers: list, k: int, status: np.ndarray | None,
                         actions: list[Action]) -> np.ndarray | None:
    """Delete the channels of Conv2d layer k whose every position is stably inactive (ReLU);
    returns the status of the positions kept."""
    layer = layers[k]
    act = layer.activation
    if (status is None or not _fits(layers, k) or not act.two_phase
            or act.inactive_slope != 0.0):
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


def _linear(layer, h: np.ndarray) -> np.ndarray:
    """What h (n_in,) adds to the layer's pre-activations (its map without the bias)."""
    if isinstance(layer, Dense):
        return layer.weight @ h
    return replace(layer, channel_bias=np.zeros(layer.out_shape[0])).affine(h[None])[0]


def _carried(layers: list, k: int, h: np.ndarray) -> tuple[int, np.ndarray]:
    """(j, what h, an output of layer k, adds to the pre-activations of layer j): the first
    layer after k that is not a pool, through the pools (a group per channel) in between."""
    j = k + 1
    while isinstance(layers[j], Conv2d) and layers[j].pool:
        h = layers[j].activation.apply(layers[j].affine(h[None])[0])
        j += 1
    return j, _linear(layers[j], h)


def fold_constant_channels(layers: list, k: int, input_map: InputMap, actions: list[Action],
                           box: Box | None = None, stat: list | None = None) -> np.ndarray | None:
    """Fold the channels of Conv2d layer k (of input_map -> layers) that are constant on `box`
    (on all inputs when None; constancy.py, with the statuses `stat` per layer index) into the
    bias of the layer that reads them (the module docstring); one channel at least stays.
    Returns stat[k] for the positions kept (None without it)."""
    status = stat[k] if stat else None
    if not _fits(layers, k):
        return status
    layer = layers[k]
    channels, positions = layer.out_shape[0], layer.positions
    value = constant_outputs(layers, k, input_map, box, stat).reshape(channels, positions)
    constant = ~np.isnan(value).any(axis=1)
    fold, added, j = np.zeros(channels, dtype=bool), 0.0, k + 1
    for c in np.flatnonzero(constant)[:channels - 1]:
        h = np.zeros((channels, positions))
        h[c] = value[c]
        j, add = _carried(layers, k, h.reshape(-1))
        if isinstance(layers[j], Conv2d):
            add = add.reshape(layers[j].out_shape[0], -1)
            if np.ptp(add, axis=1).any():
                continue  # the reader's zero padding makes it position-dependent
            add = add[:, 0]
        fold[c], added = True, added + add
    if not fold.any():
        return status
    before, reader = params_of(layers), layers[j]
    if isinstance(reader, Dense):
        layers[j] = reader.with_params(reader.weight, reader.bias + added)
    else:
        layers[j] = replace(reader, channel_bias=reader.channel_bias + added)
    positions_kept = np.repeat(~fold, positions)
    gone = dropped(layer, positions_kept)
    layers[k] = layer.keep_channels(~fold)
    _drop_inputs(layers, k + 1, ~fold)
    actions.append(Action("constant", layer_name(layers[k]), gone, before - params_of(layers)))
    return None if status is None else status[positions_kept]

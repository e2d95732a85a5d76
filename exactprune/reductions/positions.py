"""Single positions of a conv layer that a Dense layer reads (METHODS section 4.1 per column).

A ReLU position (a neuron of a Conv2d layer: one channel at one output position) proven stably
inactive on the domain outputs exactly 0 there, and so does a position of a pool after it whose
every input with a non-zero kernel entry is 0 (its bias being 0, as every pool's is). The Dense
layer that reads the last of these conv layers (through the Flatten) gets a zero column for
each such position ("position", one per column). A LeakyReLU position is alpha * g, not 0: kept.

The columns stay in the IR's weight (zero), so every consumer sees the same full-width map; the
Dense layer records the columns the written model reads (`Dense.columns`: a Gather after the
Flatten, then a Gemm of only those columns) when that makes the model smaller: the dropped
weights (4 bytes each, float32) weigh more than the kept indices (8 bytes each, int64). Otherwise
the written matrix keeps its full width, zero columns included. The record is derived again from
the zero columns on every pass, so an edit that drops it (a layer fold) only delays it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir import Conv2d, Dense
from .base import Action, layer_name, params_of
from .constancy import proven_zero

INDEX_BYTES, WEIGHT_BYTES = 8, 4  # an int64 Gather index, a float32 weight


def _zero_out(layer: Conv2d, zero_in: np.ndarray, status: np.ndarray | None) -> np.ndarray:
    """Which outputs of `layer` are 0 on the domain: every term and the bias 0 (|W| over the
    inputs not known 0, plus |b|, is 0; act(0) = 0 for every kind), or a proven inactive ReLU."""
    up = (~zero_in).astype(np.float64)[None]
    _, _, magnitude = layer.interval(np.zeros_like(up), up)
    return (magnitude[0] == 0.0) | proven_zero(layer, status)


def zero_positions(layers: list, j: int, stat: list) -> np.ndarray:
    """The inputs of Dense layer j (the outputs of the conv layers before it) that are 0 on the
    domain, from the statuses `stat` (per layer index; None or a stale size: not used)."""
    start = j
    while start > 0 and isinstance(layers[start - 1], Conv2d):
        start -= 1
    zero = np.zeros(layers[start].n_in, dtype=bool)
    for i in range(start, j):
        zero = _zero_out(layers[i], zero, stat[i])
    return zero


def select_columns(layer: Dense) -> Dense:
    """The layer with its `columns` record: the non-zero columns when a Gather of them makes the
    written model smaller, else None (the module docstring)."""
    read = layer.weight.any(axis=0)
    kept = int(read.sum())
    pays = 0 < kept and layer.n_out * (layer.n_in - kept) * WEIGHT_BYTES > kept * INDEX_BYTES
    columns = tuple(int(c) for c in np.flatnonzero(read)) if pays else None
    if columns == layer.columns:
        return layer
    return replace(layer, columns=columns)


def drop_positions(layers: list, j: int, stat: list, actions: list[Action]) -> None:
    """Zero the columns of Dense layer j (after a conv layer) of the positions that are 0 on
    the domain, then record the columns the written model reads."""
    if not (isinstance(layers[j], Dense) and j > 0 and isinstance(layers[j - 1], Conv2d)):
        return
    layer, source = layers[j], layers[j - 1]
    drop = zero_positions(layers, j, stat) & layer.weight.any(axis=0)
    before = params_of(layers)
    if drop.any():
        weight = layer.weight.copy()
        weight[:, drop] = 0.0
        layer = layer.with_params(weight, layer.bias)
    layers[j] = select_columns(layer)
    if drop.any():
        neurons = tuple(int(source.origin[i]) for i in np.flatnonzero(drop))
        actions.append(Action("position", layer_name(source), neurons,
                              before - params_of(layers)))

"""MaxPool in the IR: a ReLU tournament of Conv2d stages, and the record of the ONNX MaxPool the
stages came from, so that a tournament that is still whole is written back as that one node.

For a, b >= 0, max(a, b) = relu(a) + relu(b - a): the m values of a window are paired in
ceil(log2 m) ReLU stages, then a linear stage sums each pair's units into the maximum. Each stage
is a Conv2d with one group per channel (pool "max"); the first reads the windows, the others are
1 x 1. Exact on the non-negative output of a ReLU layer, where a zero pad (not -inf) changes no
maximum as long as every window holds a real value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .activation import RELU


@dataclass(frozen=True)
class MaxPoolStage:
    """Stage `stage` (0-based) of the `stages` Conv2d layers of a MaxPool's tournament, with
    the pool's ONNX attributes as imported (pads: auto_pad resolved, a zero Pad before the pool
    added; ceil_mode only where it adds no window, so the shapes are floor's)."""

    kernel_shape: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    ceil_mode: int
    stage: int
    stages: int


def tournament(m: int) -> list[np.ndarray]:
    """The stages of max(v_1..v_m) for v >= 0 as ReLU layers: each pairs the values (a, b) into
    relu(a) = a and relu(b - a), whose sum is max(a, b) (an odd one is passed on as relu(v));
    rows are neurons, columns the previous stage's neurons (the window's m values first). The
    last entry is the linear map to the maximum (one row)."""
    values, stages = list(np.eye(m)), []
    while len(values) > 1:
        rows, sums = [], []
        for a, b in zip(values[0::2], values[1::2]):
            rows += [a, b - a]
            sums.append((len(rows) - 2, len(rows) - 1))
        if len(values) % 2:
            rows.append(values[-1])
            sums.append((len(rows) - 1,))
        stages.append(np.array(rows))
        values = [np.isin(np.arange(len(rows)), pick).astype(float) for pick in sums]
    return stages + [values[0][None, :]]


def stage_kernels(window: tuple[int, int], channels: int) -> list[np.ndarray]:
    """The Conv2d kernels of the tournament over `window` for `channels` channels (a group
    each): the first (rows * C, 1, KH, KW), the others 1 x 1."""
    stages = tournament(window[0] * window[1])
    first = np.tile(stages[0].reshape((-1, 1) + tuple(window)), (channels, 1, 1, 1))
    return [first] + [np.tile(s.reshape(s.shape + (1, 1)), (channels, 1, 1, 1))
                      for s in stages[1:]]


def whole_at(layers: list, k: int) -> bool:
    """Whether layers[k:k + stages] are the whole tournament of the MaxPool recorded on layer k
    (its stage 0), as the importer built it for the channels it still reads (whole channels may
    have gone), after a ReLU layer, with pads an ONNX MaxPool takes (smaller than the window):
    then they compute that MaxPool exactly."""
    record = getattr(layers[k], "maxpool", None)
    if record is None or record.stage != 0 or k == 0 or k + record.stages > len(layers):
        return False
    if layers[k - 1].activation != RELU:
        return False
    pads, window = record.pads, record.kernel_shape
    if max(pads[0], pads[2]) >= window[0] or max(pads[1], pads[3]) >= window[1]:
        return False
    channels = layers[k].in_shape[0]
    geometry = [(record.strides, record.pads, record.dilations)]
    geometry += [((1, 1), (0, 0, 0, 0), (1, 1))] * (record.stages - 1)
    for i, kernel in enumerate(stage_kernels(window, channels)):
        layer = layers[k + i]
        if (getattr(layer, "maxpool", None) != replace(record, stage=i)
                or layer.groups != channels or not np.array_equal(layer.kernel, kernel)
                or layer.channel_bias.any()
                or (layer.strides, layer.pads, layer.dilations) != geometry[i]
                or (i < record.stages - 1 and layer.activation != RELU)):
            return False
    return True


def as_written(layers: list) -> list:
    """The layers with the stages of tournaments that are no longer whole (`whole_at`) as the
    plain grouped convolutions the exporter writes for them (pool "", no record)."""
    out, k = list(layers), 0
    while k < len(out):
        record = getattr(out[k], "maxpool", None)
        if record is None:
            k += 1
        elif record.stage == 0 and whole_at(out, k):
            k += record.stages
        else:
            out[k] = replace(out[k], pool="", maxpool=None)
            k += 1
    return out

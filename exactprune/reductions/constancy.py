"""Which neurons are constant on the domain, and their value there (issue 16).

An input coordinate h0_i is constant when the box fixes the input it reads (lo == hi after the
input map's permutation) or the input map scales it by 0. A neuron is constant when it is a
ReLU proven stably inactive (value 0), or when every non-zero weight of its row (a conv's kernel
taps at its position; taps in the zero padding read nothing) meets a constant input: it then
computes the same float64 value at every point of the domain, and its value at one point (the
box's centre), from an exact float64 forward pass, is its value everywhere. Without a box (all
of R^n) only neurons reading no varying input at all are constant (a zero kernel, say).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..domain import Box
from ..ir import INACTIVE, Dense, InputMap


def proven_zero(layer, status: np.ndarray | None) -> np.ndarray:
    """The neurons of `layer` that `status` proves output 0: stably inactive ReLUs (none when
    status is None or of a stale size, or for a LeakyReLU: alpha * g is not 0)."""
    act = layer.activation
    if (status is None or status.size != layer.n_out or not act.two_phase
            or act.inactive_slope != 0.0):
        return np.zeros(layer.n_out, dtype=bool)
    return status == INACTIVE


def _reads(layer, varying: np.ndarray) -> np.ndarray:
    """Which neurons of `layer` have a non-zero weight on an input marked in `varying`."""
    if isinstance(layer, Dense):
        return (layer.weight[:, varying] != 0.0).any(axis=1)
    pattern = replace(layer, kernel=(layer.kernel != 0.0).astype(np.float64),
                      channel_bias=np.zeros(layer.out_shape[0]))
    return pattern.affine(varying.astype(np.float64)[None])[0] > 0.0


def constant_outputs(layers: list, k: int, input_map: InputMap, box: Box | None,
                     stat: list | None = None) -> np.ndarray:
    """The outputs (n_out,) of layer k of input_map -> layers that are constant on `box` (on
    all inputs when None), as their float64 value there; NaN where not constant. stat: the
    status per layer index (an entry None or of a stale size is not used)."""
    fixed = input_map.scale == 0.0
    point = np.zeros(input_map.perm.size)
    if box is not None:
        fixed |= box.lo[input_map.perm] == box.hi[input_map.perm]
        point = box.center
    h = input_map.apply(point[None])[0]
    for i, layer in enumerate(layers[:k + 1]):
        zero = proven_zero(layer, stat[i] if stat else None)
        h = layer.activation.apply(layer.affine(h[None])[0])
        h[zero] = 0.0
        fixed = zero | ~_reads(layer, ~fixed)
    return np.where(fixed, h, np.nan)

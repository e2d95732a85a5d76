"""Per-sample gradients of the cross-entropy loss through a Network, in float64 numpy.

For a sample x with label y, layer l maps its input h_l to g_l = W_l h_l + b_l, and the loss is
L = -log softmax(out)_y with out the output layer's activation of g_L. The gradient of L with
respect to W_l is the outer product delta_l h_l^T, where
    delta_L = (softmax(out) - onehot(y)) * act'(g_L),
    delta_l = (delta_{l+1} W_{l+1}) * act'(g_l)          (act' from Activation.slope_at).
"""

from __future__ import annotations

import numpy as np

from ..ir import Network


def layer_signals(network: Network, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(h_l (N, n_in), delta_l (N, n_out)) per layer: the per-sample gradient of the loss with
    respect to layer l's weight is delta_l[n] outer h_l[n] (see the module docstring)."""
    pre = network.preactivations(x)
    inputs = [network.input_map.apply(network.flatten_input(x))]
    for layer, g in zip(network.layers[:-1], pre[:-1]):
        inputs.append(layer.activation.apply(g))
    out = network.layers[-1].activation.apply(pre[-1])
    p = np.exp(out - out.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(y.size), y] -= 1.0
    delta = p * network.layers[-1].activation.slope_at(pre[-1])
    deltas = [delta]
    for k in range(len(network.layers) - 1, 0, -1):
        delta = network.layers[k].backward(delta) * network.layers[k - 1].activation.slope_at(pre[k - 1])
        deltas.append(delta)
    return list(zip(inputs, deltas[::-1]))

"""Lumping (METHODS section 4.5): merge neurons of a layer whose rows [W_j | b_j] are equal or
positively proportional.

act(c t) = c act(t) for c > 0 holds for relu, leaky_relu and identity, so row_k = c row_j with
c > 0 lets k go: its outgoing column times c is added to j's. Rows are normalised to unit max-abs
and sorted by a projection; only neighbours within the tolerance window are compared, so a layer
costs O(n log n) plus the window. With tol = 0 (the default) normalised rows must be identical.
Layers are processed front to back, because merging in layer l sums columns of layer l+1.
"""

from __future__ import annotations

import numpy as np

from ..ir import Network
from .base import Action, dense_pair, dropped, keep_neurons, layer_name, params_of, set_layers
from .precision import PrecisionGuard


def proportional_groups(rows: np.ndarray, tol: float = 0.0) -> list[tuple[int, int, float]]:
    """(k, j, c) for every row k that is c * row j (c > 0, to tol in unit max-abs scale).

    j is the first row of its group in sort order; zero rows are left alone (see the constant rule).
    """
    scale = np.abs(rows).max(axis=1) if rows.size else np.zeros(rows.shape[0])
    live = np.flatnonzero(scale > 0.0)
    if live.size < 2:
        return []
    unit = rows[live] / scale[live, None]
    direction = np.random.default_rng(0).standard_normal(unit.shape[1])
    proj = unit @ direction
    # |unit_b - unit_i| <= tol entrywise implies |proj_b - proj_i| <= tol * ||direction||_1;
    # the 1e-12 slack absorbs the rounding of the projection itself
    window = (tol + 1e-12) * np.abs(direction).sum()
    order = np.argsort(proj, kind="stable")
    merged = np.zeros(live.size, dtype=bool)
    out = []
    for a, i in enumerate(order):
        if merged[i]:
            continue
        for b in order[a + 1:]:
            if proj[b] - proj[i] > window:
                break
            if not merged[b] and np.abs(unit[b] - unit[i]).max() <= tol:
                merged[b] = True
                out.append((int(live[b]), int(live[i]), float(scale[live[b]] / scale[live[i]])))
    return out


def lump(network: Network, tol: float = 0.0,
         guard: PrecisionGuard | None = None) -> tuple[Network, list[Action]]:
    """Merge equal / positively proportional neurons of every hidden layer, front to back
    (a layer's merge is skipped when the precision guard refuses it)."""
    layers = list(network.layers)
    actions: list[Action] = []
    for k in range(len(layers) - 1):
        if not dense_pair(layers, k):
            continue
        layer, nxt = layers[k], layers[k + 1]
        rows = np.concatenate([layer.weight, layer.bias[:, None]], axis=1)
        pairs = proportional_groups(rows, tol)
        if not pairs:
            continue
        w_next = nxt.weight.copy()
        keep = np.ones(layer.n_out, dtype=bool)
        for gone, rep, c in pairs:
            w_next[:, rep] += c * w_next[:, gone]
            keep[gone] = False
        candidate = list(layers)
        keep_neurons(candidate, k, keep, w_next, nxt.bias)
        if guard is not None and not guard.accepts(candidate, "lump", layer_name(layer),
                                                   len(pairs)):
            continue
        before = params_of(layers)
        layers[:] = candidate
        actions.append(Action("lump", layer_name(layers[k]), dropped(layer, keep),
                              before - params_of(layers)))
    return set_layers(network, layers), actions

"""Reductions of neurons that are affine on the domain (METHODS section 4.1, 4.2).

A neuron that never changes phase on the domain D computes h_j = c_j * (W_j h + b_j) there, with
c_j = 1 (stably active, or any neuron of an identity layer), c_j = alpha (stably inactive
LeakyReLU) or c_j = 0 (stably inactive ReLU). Rules, applied front to back:
- c_j = 0: the neuron is deleted ("inactive");
- the affine neurons A of a layer: a basis B of their effective rows c_A W_A is kept and every
  other affine neuron D, whose row is K W_B, is folded into the next layer ("rank-merge");
- a layer whose neurons are all affine is multiplied into the next layer when that lowers the
  parameter count ("layer-fold");
- a final output Relu whose neuron is stably inactive gets a zero row and bias ("output-zero").

Rank tolerance: a row is merged only if it is reproduced by its basis combination to within
RANK_TOL times the largest |entry| of the affine block, in every entry. With RANK_TOL = 1e-9 a
merged neuron deviates by at most 1e-9 * max|W_A| * ||h||_1 from its real value; the final
verification measures the real deviation. Rank merges and layer folds also pass the precision
guard (precision.py): their float32 rounding must stay near the original model's own.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..domain import Box
from ..ir import ACTIVE, INACTIVE, Conv2d, Dense, Network
from .base import Action, dense_pair, dropped, keep_neurons, layer_name, params_of, set_layers
from .channels import fold_constant_channels, remove_dead_channels
from .positions import drop_positions
from .precision import PrecisionGuard

RANK_TOL = 1e-9


def phase_factors(layer: Dense, status: np.ndarray | None) -> np.ndarray:
    """c_j per neuron (NaN where the neuron is not proven affine on the domain)."""
    if not layer.activation.two_phase:
        return np.ones(layer.n_out)
    c = np.full(layer.n_out, np.nan)
    if status is None:
        return c
    c[status == ACTIVE] = 1.0
    c[status == INACTIVE] = layer.activation.inactive_slope
    return c


def select_basis(rows: np.ndarray, tol: float = RANK_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split rows into a basis B and dependent rows D with rows[D] = K @ rows[B] (to tol).

    Greedy Gram-Schmidt with pivoting on the largest residual norm (a rank-revealing QR of
    rows.T); a candidate row is accepted into D only if K reproduces it to tol * max|rows| in
    every entry, else it joins the basis. Returns (B, D, K) with K of shape (|D|, |B|).
    """
    m = rows.shape[0]
    scale = float(np.abs(rows).max()) if rows.size else 0.0
    if scale == 0.0:
        return np.zeros(0, dtype=int), np.arange(m), np.zeros((m, 0))
    resid = rows / scale
    in_basis = np.zeros(m, dtype=bool)
    while not in_basis.all():
        norms = np.where(in_basis, -1.0, np.linalg.norm(resid, axis=1))
        j = int(np.argmax(norms))
        if norms[j] <= tol:
            break
        v = resid[j] / norms[j]
        in_basis[j] = True
        for _ in range(2):  # twice is enough for orthogonality
            resid = resid - np.outer(resid @ v, v)
    while True:
        basis, dep = np.flatnonzero(in_basis), np.flatnonzero(~in_basis)
        if dep.size == 0:
            return basis, dep, np.zeros((0, basis.size))
        k_t, *_ = np.linalg.lstsq(rows[basis].T, rows[dep].T, rcond=None)
        err = np.abs(rows[dep] - k_t.T @ rows[basis]).max(axis=1)
        if err.max() <= tol * scale:
            return basis, dep, k_t.T
        in_basis[dep[int(np.argmax(err))]] = True


def _remove_inactive(layers: list[Dense], k: int, c: np.ndarray, actions: list[Action]) -> np.ndarray:
    keep = c != 0.0
    if keep.all():
        return c
    before = params_of(layers)
    nxt = layers[k + 1]
    actions_neurons = dropped(layers[k], keep)
    keep_neurons(layers, k, keep, nxt.weight, nxt.bias)
    actions.append(Action("inactive", layer_name(layers[k]), actions_neurons, before - params_of(layers)))
    return c[keep]


def _rank_merge(layers: list[Dense], k: int, c: np.ndarray, tol: float, actions: list[Action],
                guard: PrecisionGuard | None) -> np.ndarray:
    layer, nxt = layers[k], layers[k + 1]
    affine = np.flatnonzero(np.isfinite(c))
    if affine.size == 0:
        return c
    rows = c[affine, None] * layer.weight[affine]
    beta = c[affine] * layer.bias[affine]
    basis, dep, kmat = select_basis(rows, tol)
    if dep.size == 0:
        return c
    w_next, b_next = nxt.weight.copy(), nxt.bias.copy()
    cols_b, cols_d = affine[basis], affine[dep]
    b_next += w_next[:, cols_d] @ (beta[dep] - kmat @ beta[basis])
    w_next[:, cols_b] += w_next[:, cols_d] @ kmat
    keep = np.ones(layer.n_out, dtype=bool)
    keep[cols_d] = False
    candidate = list(layers)
    keep_neurons(candidate, k, keep, w_next, b_next)
    if guard is not None and not guard.accepts(candidate, "rank-merge", layer_name(layer),
                                               int(dep.size)):
        return c
    before = params_of(layers)
    layers[:] = candidate
    actions.append(Action("rank-merge", layer_name(layers[k]), dropped(layer, keep),
                          before - params_of(layers)))
    return c[keep]


def _fold_layer(layers: list[Dense], k: int, c: np.ndarray, actions: list[Action],
                guard: PrecisionGuard | None) -> bool:
    """Multiply the fully affine hidden layer k into layer k+1 if that saves parameters."""
    layer, nxt = layers[k], layers[k + 1]
    if not np.isfinite(c).all():
        return False
    before = layer.n_params + nxt.n_params
    after = nxt.n_out * (layer.n_in + 1)
    if after >= before:
        return False
    rows = c[:, None] * layer.weight
    merged = replace(nxt, weight=nxt.weight @ rows, bias=nxt.weight @ (c * layer.bias) + nxt.bias,
                     nodes=layer.nodes + nxt.nodes)
    if guard is not None and not guard.accepts(layers[:k] + [merged] + layers[k + 2:],
                                               "layer-fold", layer_name(layer), layer.n_out):
        return False
    actions.append(Action("layer-fold", layer_name(layer), tuple(layer.origin), before - after))
    layers[k:k + 2] = [merged]
    return True


def _zero_output(layers: list[Dense], status: np.ndarray | None, actions: list[Action]) -> None:
    out = layers[-1]
    if out.activation.kind != "relu" or status is None or not isinstance(out, Dense):
        return
    idx = np.flatnonzero(status == INACTIVE)
    idx = idx[np.any(out.weight[idx] != 0.0, axis=1) | (out.bias[idx] != 0.0)]
    if idx.size == 0:
        return
    w, b = out.weight.copy(), out.bias.copy()
    w[idx], b[idx] = 0.0, 0.0
    layers[-1] = out.with_params(w, b)
    actions.append(Action("output-zero", layer_name(out), tuple(int(out.origin[i]) for i in idx), 0))


def reduce_stable(network: Network, status: dict[int, np.ndarray] | None = None,
                  rank_tol: float = RANK_TOL, guard: PrecisionGuard | None = None,
                  box: Box | None = None) -> tuple[Network, list[Action]]:
    """Apply the stable-neuron rules; `status` maps layer index -> codes for THIS network.

    Without a status only identity hidden layers (affine everywhere) are reduced. guard: the
    precision guard that rank merges and layer folds must pass (None: no guard). box: the domain
    `status` holds on; with it, conv channels constant on the box are folded (channels.py).
    """
    status = status or {}
    layers = list(network.layers)
    stat = [status.get(k) for k in range(len(layers))]
    actions: list[Action] = []
    k = 0
    while k < len(layers) - 1:
        if not dense_pair(layers, k):
            if isinstance(layers[k], Conv2d):
                stat[k] = remove_dead_channels(layers, k, stat[k], actions)
                if box is not None:
                    stat[k] = fold_constant_channels(layers, k, network.input_map, actions, box,
                                                     stat)
                drop_positions(layers, k + 1, stat, actions)
            k += 1
            continue
        c = phase_factors(layers[k], stat[k])
        c = _remove_inactive(layers, k, c, actions)
        c = _rank_merge(layers, k, c, rank_tol, actions, guard)
        if _fold_layer(layers, k, c, actions, guard):
            stat[k:k + 2] = [stat[k + 1]]
            continue
        k += 1
    _zero_output(layers, stat[-1], actions)
    return set_layers(network, layers), actions

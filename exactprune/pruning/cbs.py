"""The Combinatorial Brain Surgeon on one dense layer, in blocks (docs/prune.md, "CBS").

Yu et al. (ICML 2022) choose the weights to remove jointly under a quadratic model of the loss,
L(w + dw) - L(w) ~ 1/2 dw^T F dw, with F the empirical Fisher, and move the remaining weights
by the Optimal Brain Surgeon correction. A layer's full Fisher (n_out n_in)^2 does not fit, so,
as in the paper, F is taken block diagonal. A block here is one output row i and a run of at most
`block` consecutive inputs C; with per-sample gradients delta_n,i h_n,C (gradients.py),
    F_iC = 1/N sum_n delta_n,i^2 h_n,C h_n,C^T + lambda I,   lambda = damp * mean diag F (layer).
Removing the set Q of a block costs 1/2 w_Q^T [(F^-1)_QQ]^-1 w_Q and moves the block's weights by
dw = -F^-1_{:,Q} [(F^-1)_QQ]^-1 w_Q. Selection: the layer's budget is split over blocks by the
single-weight OBS saliencies w_q^2 / (2 (F^-1)_qq) (the smallest across the whole layer), then
each block removes its share one weight at a time, each time the weight of least saliency under
the current weights and inverse, followed by the OBS update and the downdate
F^-1 <- F^-1 - F^-1_{:,q} F^-1_{q,:} / (F^-1)_qq. This sequential selection sees how weights
cancel one another (a weight whose removal another weight absorbs becomes cheap); the composed
updates equal the joint update of the final set Q.
"""

from __future__ import annotations

import numpy as np

ROW_BATCH = 32  # rows whose blocks are built at once (memory: N x ROW_BATCH x block floats)


def _inverses(h: np.ndarray, d2: np.ndarray, damp_abs: float) -> np.ndarray:
    """(R, B, B) inverse damped Fishers of the blocks (rows of d2 (N, R)) x (columns h (N, B))."""
    n, b = h.shape
    r = d2.shape[1]
    scaled = (d2[:, :, None] * h[:, None, :]).reshape(n, r * b)
    fisher = (scaled.T @ h).reshape(r, b, b) / n
    fisher[:, np.arange(b), np.arange(b)] += damp_abs
    return np.linalg.inv(fisher)


def _greedy(w: np.ndarray, inv: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Remove counts[r] weights of each block r (w (R, B), inv (R, B, B)) by sequential OBS;
    returns the updated weights with exact zeros at the removed positions."""
    w, inv = w.copy(), inv.copy()
    removed = np.zeros(w.shape, dtype=bool)
    rows = np.arange(w.shape[0])
    for step in range(int(counts.max(initial=0))):
        live = rows[counts > step]
        diag = np.einsum("rbb->rb", inv[live])
        with np.errstate(divide="ignore", invalid="ignore"):
            saliency = np.where(removed[live] | (diag <= 0), np.inf, w[live] ** 2 / diag)
        q = saliency.argmin(axis=1)
        column = inv[live, :, q]  # (R', B)
        pivot = column[np.arange(live.size), q]
        factor = w[live, q] / pivot
        w[live] -= column * factor[:, None]
        inv[live] -= column[:, :, None] * column[:, None, :] / pivot[:, None, None]
        removed[live, q] = True
        w[live, q] = 0.0
    w[removed] = 0.0
    return w


def cbs_layer(weight: np.ndarray, h: np.ndarray, delta: np.ndarray, zeros: int,
              block: int = 64, damp: float = 1e-4) -> np.ndarray:
    """The layer's weight (n_out, n_in) with `zeros` exact zeros (its existing zeros among them
    where the budget allows), chosen and compensated as in the module docstring; h (N, n_in)
    are the layer's inputs, delta (N, n_out) the loss gradients on its outputs."""
    n_out, n_in = weight.shape
    chunks = [np.arange(c, min(c + block, n_in)) for c in range(0, n_in, block)]
    d2 = delta ** 2
    mean_diag = float((d2.mean(axis=0)[:, None] * (h ** 2).mean(axis=0)[None, :]).mean())
    damp_abs = damp * mean_diag + 1e-12
    inverses = []
    for cols in chunks:
        inverses.append(np.concatenate([_inverses(h[:, cols], d2[:, r:r + ROW_BATCH], damp_abs)
                                        for r in range(0, n_out, ROW_BATCH)]))
    diag = np.concatenate([np.einsum("rbb->rb", inv) for inv in inverses], axis=1)
    saliency = np.where(weight == 0.0, -1.0, weight ** 2 / diag)  # existing zeros first
    chosen = np.zeros(weight.size, dtype=bool)
    chosen[np.argsort(saliency, axis=None, kind="stable")[:zeros]] = True
    chosen = chosen.reshape(weight.shape)
    out = np.empty_like(weight)
    for cols, inv in zip(chunks, inverses):
        out[:, cols] = _greedy(weight[:, cols], inv, chosen[:, cols].sum(axis=1))
    return out


def magnitude_layer(weight: np.ndarray, zeros: int) -> np.ndarray:
    """The layer's weight with its `zeros` smallest |w| set to 0 (the baseline; no update)."""
    out = weight.copy().reshape(-1)
    out[np.argsort(np.abs(out), kind="stable")[:zeros]] = 0.0
    return out.reshape(weight.shape)

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
cancel one another (a weight whose removal another weight absorbs becomes cheap). Then `swaps`
rounds of the paper's local search (_swap) may exchange a removed weight for a kept one where
that lowers the joint cost; the weights are finally updated jointly for each block's set.
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
    """The mask of counts[r] weights of each block r (w (R, B), inv (R, B, B)) chosen by
    sequential OBS (each step the least saliency under the weights and inverse updated so far)."""
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
        w[live] -= column * (w[live, q] / pivot)[:, None]
        inv[live] -= column[:, :, None] * column[:, None, :] / pivot[:, None, None]
        removed[live, q] = True
    return removed


def _joint(w: np.ndarray, inv: np.ndarray, idx: np.ndarray):
    """For blocks (G, B) removing the sets idx (G, k): (loss 1/2 w_Q^T [(F^-1)_QQ]^-1 w_Q (G,),
    S = [(F^-1)_QQ]^-1 (G, k, k), F^-1_{:,Q} (G, B, k), the updated weights (G, B))."""
    g = np.arange(w.shape[0])
    wq = w[g[:, None], idx]
    s = np.linalg.inv(inv[g[:, None, None], idx[:, :, None], idx[:, None, :]])
    u = np.einsum("gkl,gl->gk", s, wq)
    cols = inv[g[:, None, None], np.arange(w.shape[1])[None, :, None], idx[:, None, :]]
    new = w - np.einsum("gbk,gk->gb", cols, u)
    new[g[:, None], idx] = 0.0
    return 0.5 * np.einsum("gk,gk->g", wq, u), s, cols, new


def _swap(w: np.ndarray, inv: np.ndarray, idx: np.ndarray, rounds: int) -> np.ndarray:
    """Local search on the sets idx (G, k) of blocks with k removals each: per round, put back
    the removed weight whose return lowers the loss most, (u_q)^2 / (2 S_qq) with u = S w_Q,
    remove instead the kept weight of least OBS saliency in the current state, and keep the swap
    where the joint loss fell. Returns the updated weights of the final sets."""
    g = np.arange(w.shape[0])
    loss, s, cols, new = _joint(w, inv, idx)
    for _ in range(rounds):
        u = np.einsum("gkl,gl->gk", s, w[g[:, None], idx])
        back = (u ** 2 / np.einsum("gkk->gk", s)).argmax(axis=1)
        left = np.einsum("gbb->gb", inv) - np.einsum("gbk,gkl,gbl->gb", cols, s, cols)
        with np.errstate(divide="ignore", invalid="ignore"):
            saliency = np.where(left > 1e-12 * np.einsum("gbb->gb", inv), new ** 2 / left, np.inf)
        saliency[g[:, None], idx] = np.inf
        out = saliency.argmin(axis=1)
        trial = idx.copy()
        trial[g, back] = out
        ok = np.isfinite(saliency[g, out])
        t_loss, t_s, t_cols, t_new = _joint(w, inv, trial)
        better = ok & (t_loss < loss * (1.0 - 1e-9))
        if not better.any():
            break
        idx[better], loss[better], s[better] = trial[better], t_loss[better], t_s[better]
        cols[better], new[better] = t_cols[better], t_new[better]
    return new


def _prune_blocks(w: np.ndarray, inv: np.ndarray, counts: np.ndarray, swaps: int) -> np.ndarray:
    """The blocks' weights after removing counts[r] weights of block r: greedy selection, then
    `swaps` rounds of swaps, then the joint OBS update of each final set."""
    removed = _greedy(w, inv, counts)
    out = w.copy()
    for k in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == k)
        idx = np.nonzero(removed[rows])[1].reshape(rows.size, k)
        out[rows] = _swap(w[rows], inv[rows], idx, swaps if k < w.shape[1] else 0)
    return out


def cbs_layer(weight: np.ndarray, h: np.ndarray, delta: np.ndarray, zeros: int,
              block: int = 64, damp: float = 0.1, swaps: int = 0) -> np.ndarray:
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
        out[:, cols] = _prune_blocks(weight[:, cols], inv, chosen[:, cols].sum(axis=1), swaps)
    return out


def magnitude_layer(weight: np.ndarray, zeros: int) -> np.ndarray:
    """The layer's weight with its `zeros` smallest |w| set to 0 (the baseline; no update)."""
    out = weight.copy().reshape(-1)
    out[np.argsort(np.abs(out), kind="stable")[:zeros]] = 0.0
    return out.reshape(weight.shape)

"""Input splitting: bounds on the parts of a partition of a low-dimensional input box.

The box is bisected along the input with the largest width times first-layer weight mass until,
on every part, the symbolic bounds settle each open neuron; the parts' centres are float64
witnesses too. A neuron settled on every part is stable on the box.
"""

from __future__ import annotations

import time

import numpy as np

from ..bounds import batch_symbolic_bounds
from ..domain import Box
from ..ir import ACTIVE, INACTIVE, UNKNOWN, Network
from .result import Evidence
from .state import Analysis, Stage

SPLIT_MAX_INPUTS = 16  # input splitting is tried for inputs of at most this many dimensions
SPLIT_SHARE = 0.5  # of the time left


def prove_by_splitting(network: Network, box: Box, inactive: dict, active: dict,
                       time_limit: float, max_boxes: int = 200_000, observe=None,
                       batch: int = 256) -> tuple[dict, dict]:
    """Input splitting (for low-dimensional inputs): prove phases on every part of a partition.

    inactive / active: {layer index: bool mask} of the neurons to prove stably inactive
    (up <= 0) / stably active (lo >= 0). The box is bisected along the input with the largest
    width times first-layer weight mass until, on every part, the symbolic bounds settle each
    open neuron. observe(points) records the parts' centres as witnesses and returns (pos, neg):
    {layer: mask} of neurons seen strictly positive / negative so far; those stop being open.
    Returns the proven masks (inactive, active). Neurons still unresolved on some part when the
    time or box budget runs out (or a part cannot be split further) are not proven.
    """
    deadline = time.monotonic() + time_limit
    imap = network.input_map
    last = max([i for i in inactive if inactive[i].any() or active[i].any()], default=0)
    open_in = {i: m.copy() for i, m in inactive.items() if i <= last}
    open_ac = {i: m.copy() for i, m in active.items() if i <= last}
    stack = [(box.lo.copy(), box.hi.copy())]
    used = 0
    while stack:
        part = stack[-batch:]
        del stack[-batch:]
        used += len(part)
        exhausted = time.monotonic() > deadline or used > max_boxes
        lo = np.array([p[0] for p in part])
        hi = np.array([p[1] for p in part])
        if observe is not None:
            pos, neg = observe((lo + hi) / 2.0)
            for i in open_in:
                open_in[i] &= ~pos[i]
                open_ac[i] &= ~neg[i]
        coeffs: list = []
        bnds = batch_symbolic_bounds(network, lo, hi, last=last, coeffs=coeffs)
        bad_in = {i: (bnds[i][1] > 0.0) & open_in[i] for i in open_in}
        bad_ac = {i: (bnds[i][0] < 0.0) & open_ac[i] for i in open_ac}
        # smear: how much each h0 coordinate moves the unresolved neurons over its width
        smear = np.zeros((len(part), imap.perm.size))
        for i in open_in:
            bad = (bad_in[i] | bad_ac[i]).astype(np.float64)
            smear += np.einsum("bk,bkn->bn", bad, np.abs(coeffs[i]))
        score = np.zeros_like(lo)
        np.add.at(score.T, imap.perm, (smear * np.abs(imap.scale)).T)
        unresolved = np.zeros(len(part), dtype=bool)
        for i in open_in:
            unresolved |= (bad_in[i] | bad_ac[i]).any(axis=1)
        for b in np.flatnonzero(unresolved):
            width = hi[b] - lo[b]
            dim = int(np.argmax(width * score[b]))
            # a part whose unresolved neurons do not depend on the inputs (score 0: splitting
            # cannot help), a part too thin to split, or an exhausted budget: not proven
            if (exhausted or not smear[b].any()
                    or width[dim] <= 1e-9 * (1.0 + abs(lo[b, dim]))):
                for i in open_in:  # give up on what this part leaves unresolved
                    open_in[i] &= ~bad_in[i][b]
                    open_ac[i] &= ~bad_ac[i][b]
                continue
            mid = (lo[b, dim] + hi[b, dim]) / 2.0
            left_hi, right_lo = hi[b].copy(), lo[b].copy()
            left_hi[dim], right_lo[dim] = mid, mid
            stack.append((lo[b], left_hi))
            stack.append((right_lo, hi[b]))
    return ({i: open_in.get(i, np.zeros_like(m)) for i, m in inactive.items()},
            {i: open_ac.get(i, np.zeros_like(m)) for i, m in active.items()})


def split_inputs(state: Analysis) -> None:
    """The stage (for inputs of at most SPLIT_MAX_INPUTS dimensions): prove undecided neurons by
    bounds on a partition of the box, recording the parts' centres as witnesses."""
    if state.network.n_inputs > SPLIT_MAX_INPUTS:
        return
    state.stage = Stage.SPLITTING
    todo = state.open_masks()

    def observe(points):
        state.signs.observe(points)
        return state.signs.pos, state.signs.neg

    inactive, active = prove_by_splitting(state.network, state.box, todo, todo,
                                          state.remaining * SPLIT_SHARE, observe=observe)
    state.apply_signs(Evidence.WITNESS)
    for i in state.layers:
        for code, mask in ((INACTIVE, inactive[i]), (ACTIVE, active[i])):
            for j in np.flatnonzero(mask & (state.status[i] == UNKNOWN)):
                state.set(i, j, code, Evidence.BOUNDS)
    state.report()

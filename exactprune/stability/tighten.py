"""The OBBT stage: LP bounds (exactprune.solvers.obbt) for the two-phase neurons before the last
undecided layer, layer by layer, each layer's result carried forward by symbolic bounds."""

from __future__ import annotations

import numpy as np

from ..ir import UNKNOWN, UNSTABLE
from ..solvers.obbt import lp_tighten
from ..solvers.scip import SolverTrouble
from .state import Analysis, Stage


def tighten(state: Analysis) -> None:
    """Their bounds are the big-M constants of the MILP; the last layer's undecided neurons are
    left to the MILP itself, which decides them better than their LP bounds would."""
    state.stage = Stage.OBBT
    todo = state.undecided()
    if not todo:
        return
    last = max(i for i, _ in todo)
    for i in state.layers:
        if i == 0 or i >= last or state.remaining <= 0:
            continue
        mask = (state.status[i] == UNKNOWN) | (state.status[i] == UNSTABLE)
        if not mask.any():
            continue
        known = [None] * len(state.network.layers)
        try:
            known[i] = lp_tighten(state.network, state.box, state.bounds, state.phases(), i,
                                  np.flatnonzero(mask), state.remaining)
        except SolverTrouble as exc:  # keep the bounds this layer had
            state.solver_failed(f"{exc} (bounds of layer {i} not tightened)")
            continue
        state.tighten_bounds(known)
        state.apply_bounds()
        state.report()

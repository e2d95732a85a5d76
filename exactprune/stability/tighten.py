"""The stages that tighten bounds: optimised relaxation slopes (exactprune.bounds.optimised) and
OBBT, LP bounds (exactprune.solvers.obbt) for the two-phase neurons before the last undecided
layer, layer by layer, each layer's result carried forward by symbolic bounds."""

from __future__ import annotations

import time

import numpy as np

from ..bounds.optimised import optimised_bounds
from ..ir import UNKNOWN, UNSTABLE
from ..solvers.obbt import lp_tighten
from ..solvers.scip import SolverTrouble
from .state import Analysis, Stage

OPTIMISE_SHARE = 0.25  # of the time left, at most, for the optimised slopes


def optimise(state: Analysis, after: int = -1) -> None:
    """Optimised slopes for the crossing neurons of the layers after `after` up to the last
    undecided one (the earlier layers' bounds relax the later ones), with the proven phases as
    known facts, for at most OPTIMISE_SHARE of the time left."""
    state.stage = Stage.OPTIMISE
    todo = state.undecided()
    if not todo:
        return
    last = max(i for i, _ in todo)
    deadline = time.monotonic() + OPTIMISE_SHARE * state.remaining
    state.bounds = optimised_bounds(state.network, state.box, state.known_bounds(),
                                    deadline=deadline, layers=range(after + 1, last + 1))
    state.apply_bounds()
    state.report()


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

"""OBBT: tighter pre-activation bounds from the LP relaxation of the big-M model, in SCIP."""

from __future__ import annotations

import time

import numpy as np
from pyscipopt import SCIP_PARAMSETTING

from ..domain import Box
from ..ir import Network
from .encode import NetworkMILP
from .scip import Status, scip_calls, solve

LP_MARGIN = 1e-6  # added (relative to 1 + |value|) to LP optima to absorb solver tolerances


def padded(value: float, sign: int) -> float:
    """A solver's dual bound moved outward by LP_MARGIN (sign +1: an upper bound, -1: a lower)."""
    return value + sign * LP_MARGIN * (1.0 + abs(value))


def lp_tighten(network: Network, box: Box, bounds, phases, layer: int,
               neurons, time_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """OBBT: max and min of g[layer][j] over the LP relaxation, for the given neurons.

    The LP is the big-M model of encode.py with continuous z (phases fix stable neurons).
    Its dual bound, widened by LP_MARGIN, replaces a bound only where it is tighter; a solve that
    does not end optimally within the time left keeps the old bound. Returns (lo, up) of `layer`;
    raises SolverTrouble when SCIP fails (the bounds found so far are then lost, not wrong).
    """
    deadline = time.monotonic() + time_limit
    lo, up = bounds[layer][0].copy(), bounds[layer][1].copy()
    lp = NetworkMILP(network, box, bounds, phases, layer, relax=True, name="obbt")
    model = lp.model
    with scip_calls():
        model.setPresolve(SCIP_PARAMSETTING.OFF)
        model.setHeuristics(SCIP_PARAMSETTING.OFF)
        model.setSeparating(SCIP_PARAMSETTING.OFF)
    for j in neurons:
        for sense in ("maximize", "minimize"):
            left = deadline - time.monotonic()
            if left <= 0:
                return lo, up
            with scip_calls():
                model.freeTransform()
                model.setObjective(lp.g[layer][j], sense)
                model.setParam("limits/time", left)
            if solve(model) is not Status.OPTIMAL:
                continue
            if sense == "maximize":
                up[j] = min(up[j], padded(model.getDualbound(), 1))
            else:
                lo[j] = max(lo[j], padded(model.getDualbound(), -1))
    return lo, up

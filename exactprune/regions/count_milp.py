"""Cross-check: count the regions with SCIP's counting mode on the MILP of METHODS 6.

The network's MILP (exactprune.milp.NetworkMILP: a binary z only for neurons the bounds do not
prove stable) gets one margin variable f >= eps with, for every binary neuron,
    f <= g + M (1 - z),   f <= -g + M z,   M = up - lo + eps,
so z = 1 forces g >= eps and z = 0 forces g <= -eps: a z-assignment is feasible iff its region
contains a point that clears every undecided hyperplane by eps in pre-activation units. SCIP
counts the feasible assignments of the integer variables (the projection: an assignment counts
once if the continuous rest is feasible), which is the number of full-dimensional regions for
small enough eps. A time limit makes the count a lower bound.
"""

from __future__ import annotations

import time

import numpy as np

from ..bounds import symbolic_bounds
from ..domain import Box
from ..ir import Network
from ..milp import NetworkMILP
from ..stability_result import ACTIVE, INACTIVE
from .enumerate import RegionCount

COUNT_EPS = 1e-6


def _phases(network: Network, bounds) -> list:
    out = []
    for layer, (lo, up) in zip(network.layers, bounds):
        if layer.activation == "identity":
            out.append(None)
        else:
            out.append(np.where(lo >= 0.0, ACTIVE, np.where(up <= 0.0, INACTIVE, 0)).astype(np.int8))
    return out


def count_regions_milp(network: Network, box: Box, time_limit: float | None = None,
                       eps: float = COUNT_EPS) -> RegionCount:
    """The number of regions of `network` on `box` by SCIP's solution counting."""
    start = time.perf_counter()
    bounds = symbolic_bounds(network, box)
    last = len(network.layers) - 2
    milp = NetworkMILP(network, box, bounds, _phases(network, bounds), last, name="regions")
    model = milp.model
    f = model.addVar("margin", lb=eps, ub=None)
    for k in range(last + 1):
        lo, up = bounds[k]
        for j, z in milp.z[k].items():
            big = float(up[j] - lo[j]) + eps
            g = milp.g[k][j]
            model.addCons(f <= g + big * (1 - z), name=f"margin_on[l={k},j={j}]")
            model.addCons(f <= -g + big * z, name=f"margin_off[l={k},j={j}]")
    model.setParamsCountsols()
    if time_limit is not None:
        model.setParam("limits/time", max(time_limit, 0.01))
    model.count()
    regions = int(model.getNCountedSols())
    stopped = model.getStatus() not in ("infeasible", "optimal")
    if not any(milp.z[k] for k in range(last + 1)):
        regions = 1  # no undecided neuron: the whole domain is one region
    return RegionCount(regions=regions, exact=not stopped, method="milp",
                       time_s=time.perf_counter() - start,
                       note=f"stopped by {model.getStatus()}: lower bound" if stopped else "")

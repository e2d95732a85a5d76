"""Cross-check: count the regions by enumerating activation patterns in SCIP's branch and bound.

Contract. count_regions_milp(network, box, time_limit=None, eps=COUNT_EPS) -> RegionCount
(method "milp") counts the activation patterns of the neurons the bounds leave undecided
(exactprune.bounds.symbolic_bounds) whose region has a point where every such neuron is active
with g >= eps, inactive with g <= -eps, or flat (identically zero there: inactive, as in the
enumeration, which counts a constant neuron active iff its constant is > 0). eps is in
pre-activation units: regions thinner than that are missed. Every counted pattern has a witness
re-checked in float64 with Network.preactivations (_recheck): strict signs, flat neurons |g| ~ 0
with their zero gradient computed from the weights. So the count is a verified lower bound and
never `exact` (the thin regions it misses cannot be ruled out); the note says so, and also when
a time limit, an interrupt, solver trouble or a failed witness cut it shorter. No undecided
neuron: one region, exact, SCIP is not called.

Model (pattern_model). exactprune.solvers.encode.NetworkMILP (a binary z per undecided neuron) plus
  margin_on   g >= lo + (eps - lo) z             (z = 1: g >= eps)
  margin_off  g <= -eps + (up + eps) z + eps w   (z = 0, w = 0: g <= -eps)
and, where a neuron may be flat, a binary w that allows g = 0 with a zero gradient (flat_states.py).

Search. Not SCIP's solution counting (`count()`, cons_countsols): on these models it crashed
(segmentation fault when presolving removes the last integer variable) and, after every fix of
the model and its numerics, still miscounted now and then: 2 in a sub-box where exactly one
assignment is feasible, a total one more than its two halves (docs/regions.md, "SCIP count
cross-check"). Instead a constraint handler (_Collect), called last, turns every node whose
integers are all fixed into a recorded pattern and a cutoff, so SCIP's ordinary branch and bound
visits each feasible pattern. Settings (SCIP_PARAMS): feastol and sumepsilon far below eps (at
eps, patterns that exist only on a hyperplane pass, and propagation loses patterns); presolving,
restarts, symmetry handling, components, dual reductions and heuristics off: nothing may remove a
feasible pattern. SCIP proposes, the float64 re-check decides: a pattern whose re-derived region
(_witness) is empty was accepted within SCIP's tolerances and is dropped.
"""

from __future__ import annotations

import time

import numpy as np
from pyscipopt import SCIP_PARAMSETTING, SCIP_RESULT, Conshdlr

from ..bounds import symbolic_bounds
from ..domain import Box
from ..ir import ACTIVE, INACTIVE, Network
from ..solvers.encode import NetworkMILP
from ..solvers.scip import SolverTrouble, Status, scip_calls, solve
from .flat_states import FlatStates, can_be_flat
from .lp import CellLP
from .search import RegionCount

COUNT_EPS = 1e-6  # the strictness margin, in pre-activation units
FLAT_TOL = 1e-9  # _recheck: a flat neuron's |g| at its witness (relative to its bound)
WITNESS_TOL = 1e-9  # _witness: the least distance (times the box size) to every hyperplane
SCIP_PARAMS = {  # an enumeration: nothing may cut off a feasible pattern
    "numerics/feastol": 1e-8,  # << COUNT_EPS
    "numerics/sumepsilon": 1e-9,  # SCIP's zero for sums (default 1e-6), << COUNT_EPS
    "presolving/maxrounds": 0,
    "presolving/maxrestarts": 0,
    "misc/allowstrongdualreds": False,
    "misc/allowweakdualreds": False,
    "misc/usesymmetry": 0,
    "constraints/components/maxprerounds": 0,
    "constraints/components/propfreq": -1,
}


def bound_phases(network: Network, bounds) -> list:
    out = []
    for layer, (lo, up) in zip(network.layers, bounds):
        if not layer.activation.two_phase:
            out.append(None)
        else:
            out.append(np.where(lo >= 0.0, ACTIVE, np.where(up <= 0.0, INACTIVE, 0)).astype(np.int8))
    return out


def pattern_model(network: Network, box: Box, bounds, phases, last: int, eps: float, keep: set):
    """The count's model: NetworkMILP, flat states for `keep` (FlatStates), the margins and
    the numerics of the module docstring. Returns (NetworkMILP, {(layer, neuron): flat binary})."""
    milp = NetworkMILP(network, box, bounds, phases, last, name="regions")
    model = milp.model
    flat = FlatStates(milp, network, box, bounds, phases, keep).w if keep else {}
    for k in range(last + 1):
        lo, up = bounds[k]
        for j, z in milp.z[k].items():
            g, w = milp.g[k][j], flat.get((k, j))
            model.addCons(g >= float(lo[j]) + (eps - float(lo[j])) * z, name=f"margin_on[l={k},j={j}]")
            off = -eps + (float(up[j]) + eps) * z + (eps * w if w is not None else 0.0)
            model.addCons(g <= off, name=f"margin_off[l={k},j={j}]")
    for name, value in SCIP_PARAMS.items():
        model.setParam(name, value)
    return milp, flat


class _Collect(Conshdlr):
    """Enumerates the patterns: called last on every LP (or pseudo) solution the other constraint
    handlers accept. With an integer variable (z or w) still unfixed it answers infeasible, so
    SCIP branches; with all fixed it records the pattern z (once) with the solution's inputs as
    its witness and cuts the node off. It accepts no solution, so the search ends "infeasible"
    when it has seen every feasible z."""

    def __init__(self, z: list, w: list, x: list):
        self.z, self.integer, self.x = z, z + w, x
        self.found: dict[bytes, list] = {}

    def _record(self, solinfeasible: bool) -> dict:
        if solinfeasible or any(v.getUbLocal() - v.getLbLocal() > 0.5 for v in self.integer):
            return {"result": SCIP_RESULT.INFEASIBLE}
        key = bytes(int(v.getLbLocal() > 0.5) for v in self.z)
        if key not in self.found:
            self.found[key] = [self.model.getSolVal(None, v) for v in self.x]
        return {"result": SCIP_RESULT.CUTOFF}

    def consenfolp(self, constraints, nusefulconss, solinfeasible):
        return self._record(solinfeasible)

    def consenfops(self, constraints, nusefulconss, solinfeasible, objinfeasible):
        return self._record(solinfeasible)

    def conscheck(self, constraints, solution, checkintegrality, checklprows, printreason, completely):
        return {"result": SCIP_RESULT.INFEASIBLE}

    def conslock(self, constraint, locktype, nlockspos, nlocksneg):
        pass


def _affine(network: Network, last: int, bits: dict) -> list:
    """(G, c) per layer up to `last`: g = G x + c on the region of a pattern (bits: layer ->
    the slope of each neuron, 1 active, alpha inactive)."""
    first_layer = network.folded_first_layer()
    G, c = first_layer.weight, first_layer.bias
    out = [(G, c)]
    for k in range(1, last + 1):
        slope = bits[k - 1]
        layer = network.layers[k]
        G, c = layer.weight @ (slope[:, None] * G), layer.weight @ (slope * c) + layer.bias
        out.append((G, c))
    return out


def _witness(network: Network, box: Box, phases, last: int, neurons: list, key: bytes):
    """A float64 witness of pattern `key`: its affine functions, then HiGHS' cell LP maximising
    the distance to every non-flat hyperplane. Returns (x, flat neurons); ("empty", None) when the
    region has no interior (no point clears them by WITNESS_TOL times the box size, or a flat
    neuron contradicts its bit: the enumeration's rule, flat is active iff c > 0); None when the
    LP found no answer."""
    bits = {}
    for k in range(last + 1):
        layer = network.layers[k]
        alpha = layer.activation.inactive_slope
        bits[k] = np.ones(layer.n_out) if phases[k] is None else np.where(phases[k] == ACTIVE, 1.0, alpha)
    for (k, j), bit in zip(neurons, key):
        if bit:
            bits[k][j] = 1.0
    maps = _affine(network, last, bits)
    free = box.lo < box.hi
    lp = CellLP(box.lo[free], box.hi[free], cap=1.0)
    flat = set()
    for (k, j), bit in zip(neurons, key):
        G, c = maps[k][0][j], maps[k][1][j] + maps[k][0][j, ~free] @ box.lo[~free]
        row = G[free]
        norm = float(np.linalg.norm(row))
        if norm <= 1e-12 * (1.0 + abs(c)):
            if (c > 0.0) != bool(bit):
                return "empty", None
            flat.add((k, j))
            continue
        sign = -1.0 if bit else 1.0  # active: -g <= -t, inactive: g <= -t
        lp.push(sign * row / norm, -sign * c / norm)
    margin, u = lp.trial()
    if np.isnan(margin):
        return None
    if margin <= WITNESS_TOL * max(1.0, float(np.max(box.hi - box.lo))):
        return "empty", None
    x = box.lo.copy()
    x[free] = u
    return x, flat


def _recheck(network: Network, box: Box, bounds, phases, last: int, milp: NetworkMILP,
             found: dict) -> tuple[int, int]:
    """(failed, empty): the float64 re-check of the patterns SCIP found. A witness passes when
    every undecided neuron shows its bit strictly (g > 0 active, g < 0 inactive). SCIP's LP
    witnesses can sit on a hyperplane (LP tolerances) or on a flat neuron (g = 0): those patterns
    get a witness from _witness, which passes when the non-flat neurons show their bits strictly
    and the inactive flat ones have g < 0 or |g| <= FLAT_TOL times their bound. Patterns whose
    region _witness finds empty are dropped from `found` (SCIP accepted them within its
    tolerances); `failed` counts the rest that do not pass."""
    if not found:
        return 0, 0
    keys = list(found)
    neurons = [(k, j) for k in range(last + 1) for j in milp.z[k]]
    bits = np.array([list(key) for key in keys], dtype=bool)
    scale = [FLAT_TOL * max(1.0, abs(float(bounds[k][0][j])), abs(float(bounds[k][1][j])))
             for k, j in neurons]

    def passes(x: np.ndarray, rows: np.ndarray, flat=frozenset()) -> np.ndarray:
        pre = network.preactivations(np.clip(x, box.lo, box.hi))
        ok = np.ones(x.shape[0], dtype=bool)
        for c, (k, j) in enumerate(neurons):
            g = pre[k][:, j]
            off = (g < 0.0) | ((np.abs(g) <= scale[c]) if (k, j) in flat else False)
            ok &= np.where(rows[:, c], g > 0.0, off)
        return ok

    ok = passes(np.array([found[key] for key in keys]), bits)
    failed = empty = 0
    for i in np.flatnonzero(~ok):
        again = _witness(network, box, phases, last, neurons, keys[i])
        if again is not None and isinstance(again[0], str):
            del found[keys[i]]
            empty += 1
        else:
            failed += again is None or not passes(again[0][None, :], bits[i:i + 1], again[1])[0]
    return int(failed), empty


def count_regions_milp(network: Network, box: Box, time_limit: float | None = None,
                       eps: float = COUNT_EPS) -> RegionCount:
    """The number of regions of `network` on `box` by enumerating the patterns in SCIP's
    branch and bound (see the module docstring for what is counted and when it is exact)."""
    start = time.monotonic()
    bounds = symbolic_bounds(network, box)
    last = len(network.layers) - 2
    phases = bound_phases(network, bounds)
    if not any(np.any(p == 0) for p in phases[:last + 1] if p is not None):
        return RegionCount(regions=1, exact=True, method="milp",
                           time_s=time.monotonic() - start,
                           note="every neuron is stable on the box: one region")
    try:
        with scip_calls():
            milp, flat = pattern_model(network, box, bounds, phases, last, eps,
                                can_be_flat(network, box, phases, last))
    except SolverTrouble as exc:
        return RegionCount(regions=0, exact=False, method="milp",
                           time_s=time.monotonic() - start, verified=False,
                           note=f"solver trouble ({exc}): nothing counted")
    model = milp.model
    collect = _Collect([z for k in range(last + 1) for z in milp.z[k].values()],
                       list(flat.values()), milp.x)
    model.includeConshdlr(collect, "collect", "records every feasible pattern",
                          enfopriority=-9999999, chckpriority=-9999999, needscons=False)
    with scip_calls():
        model.setHeuristics(SCIP_PARAMSETTING.OFF)
        if time_limit is not None:
            model.setParam("limits/time", max(time_limit - (time.monotonic() - start), 0.01))
    try:
        status = solve(model, lambda: True)  # Ctrl-C: the patterns so far, a lower bound
        stopped = status.value
    except SolverTrouble as exc:
        status, stopped = Status.FAILED, f"solver trouble: {exc}"
    failed, empty = _recheck(network, box, bounds, phases, last, milp, collect.found)
    regions = len(collect.found) - failed
    notes = [] if status is Status.INFEASIBLE else [f"SCIP's search stopped ({stopped})"]
    if failed:
        notes.append(f"{failed} pattern(s) without a witness that passes the float64 re-check: "
                     "not counted")
    notes.append(f"a lower bound: regions that do not clear every undecided hyperplane by "
                 f"eps = {eps:g} are not counted (--method exact counts them)")
    if empty:
        notes.append(f"{empty} pattern(s) SCIP accepted have no interior: not counted")
    return RegionCount(regions=regions, exact=False, method="milp",
                       time_s=time.monotonic() - start, note="; ".join(notes),
                       interrupted=status is Status.STOPPED)

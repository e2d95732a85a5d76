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

Model (_model). exactprune.milp.NetworkMILP (a binary z per undecided neuron) plus
  margin_on   g >= lo + (eps - lo) z             (z = 1: g >= eps)
  margin_off  g <= -eps + (up + eps) z + eps w   (z = 0, w = 0: g <= -eps)
and, where a neuron may be flat (_can_be_flat), a binary w with flat_excl w + z <= 1, flat_g_*
(g = 0) and flat_grad_* (gradient C = 0) when w = 1. Gradients live in an orthonormal basis of the
first layer's row space over the free inputs: constants in layer 0, then C = W (slope * C_prev)
with slope * C of an undecided neuron the product z * C (prod_* rows, zgrad variables).

Search. Not SCIP's solution counting (`count()`, cons_countsols): on these models it crashed
(segmentation fault when presolving removes the last integer variable) and, after every fix of
the model and its numerics, still miscounted now and then: 2 in a sub-box where exactly one
assignment is feasible, a total one more than its two halves (docs/regions.md, "SCIP count
cross-check"). Instead a constraint handler (_Collect), called last, turns every node whose
integers are all fixed into a recorded pattern and a cutoff, so SCIP's ordinary branch and bound
visits each feasible pattern (faster than `count()` here, too). Settings (SCIP_PARAMS): feastol
and sumepsilon far below eps (at eps, patterns that exist only on a hyperplane pass, and
propagation loses patterns); presolving, restarts, symmetry handling, components, dual
reductions and heuristics off: nothing may remove a feasible pattern. SCIP proposes, the float64
re-check decides: a pattern whose re-derived region (_witness) is empty was accepted within
SCIP's tolerances and is dropped.
"""

from __future__ import annotations

import time

import numpy as np
from pyscipopt import SCIP_PARAMSETTING, SCIP_RESULT, Conshdlr, Model, quicksum

from ..bounds import symbolic_bounds
from ..domain import Box
from ..ir import ACTIVE, INACTIVE, Network
from ..solvers.encode import NetworkMILP
from ..solvers.scip import SolverTrouble, Status, scip_calls, solve
from .enumerate import RegionCount
from .lp import CellLP

COUNT_EPS = 1e-6  # the strictness margin, in pre-activation units
RANK_TOL = 1e-12  # singular values below this (relative) do not span the first layer's rows
PAD = 1e-9  # relative widening of the gradient bounds used as big-M constants
PROBE_TOL = 1e-7  # _can_be_flat: a combination this close to zero (relative) may vanish
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


def _phases(network: Network, bounds) -> list:
    out = []
    for layer, (lo, up) in zip(network.layers, bounds):
        if not layer.activation.two_phase:
            out.append(None)
        else:
            out.append(np.where(lo >= 0.0, ACTIVE, np.where(up <= 0.0, INACTIVE, 0)).astype(np.int8))
    return out


def _first_gradients(network: Network, box: Box) -> np.ndarray:
    """The first layer's gradients over the free inputs in an orthonormal basis of their span."""
    weight = network.folded_first_layer().weight[:, box.lo < box.hi]
    if weight.size == 0:
        return np.zeros((weight.shape[0], 0))
    _, s, vt = np.linalg.svd(weight, full_matrices=False)
    rank = int(np.sum(s > RANK_TOL * max(float(s[0]), 1e-300)))
    return weight @ vt[:rank].T


def _combine(parts: list):
    """The sum of floats and expressions: a float when every part is one."""
    if all(isinstance(p, float) for p in parts):
        return float(sum(parts))
    return quicksum(parts)


class _Gradients:
    """The flat states: per layer, every modelled neuron's gradient C (a list of `rank`
    expressions or floats) with bounds (lo, up), and the flat binaries w of the undecided neurons
    in `keep` ((layer, neuron) pairs) whose gradient can vanish. Layers past the deepest kept
    neuron are not needed and not built."""

    def __init__(self, milp: NetworkMILP, network: Network, box: Box, bounds, phases, last: int,
                 keep: set):
        self.milp, self.model, self.keep = milp, milp.model, keep
        self.w: dict[tuple[int, int], object] = {}
        depth = max((k for k, _ in keep), default=-1)
        first = _first_gradients(network, box)
        C = {j: [float(a) for a in first[j]] for j in range(first.shape[0])}
        lo, up = first.copy(), first.copy()
        prev, plo, pup = {}, lo, up
        for k in range(depth + 1):
            layer = network.layers[k]
            if k > 0:
                C, lo, up = self._affine(layer.weight, prev, plo, pup, first.shape[1])
            self._flat(k, C, lo, up, bounds[k])
            if k < depth:
                alpha = layer.activation.inactive_slope
                prev, plo, pup = self._slope(k, C, lo, up, phases[k], alpha)

    def _affine(self, weight, prev, plo, pup, rank):
        """C = W Ch of the next layer, with interval bounds."""
        wp, wn = np.maximum(weight, 0.0), np.minimum(weight, 0.0)
        lo, up = wp @ plo + wn @ pup, wp @ pup + wn @ plo
        slack = PAD * np.maximum(np.abs(lo), np.abs(up)) + 1e-12
        lo, up = lo - slack, up + slack
        C = {}
        for j in range(weight.shape[0]):
            terms = [(float(weight[j, i]), prev[i]) for i in np.flatnonzero(weight[j]) if i in prev]
            C[j] = [_combine([c * grad[t] for c, grad in terms]) for t in range(rank)]
        return C, lo, up

    def _slope(self, k, C, lo, up, phase, alpha):
        """slope * C of every neuron of layer k (absent: zero), with interval bounds."""
        prev, plo, pup = {}, np.zeros_like(lo), np.zeros_like(up)
        for j, grad in C.items():
            state = None if phase is None else phase[j]
            if state is None or state == ACTIVE:
                prev[j], plo[j], pup[j] = grad, lo[j], up[j]
            elif state == INACTIVE:
                if alpha:
                    prev[j] = [alpha * c for c in grad]
                    ends = np.stack([alpha * lo[j], alpha * up[j]])
                    plo[j], pup[j] = ends.min(axis=0), ends.max(axis=0)
            else:
                z = self.milp.z[k][j]
                prod = [self._product(k, j, t, c, lo[j, t], up[j, t], z) for t, c in enumerate(grad)]
                prev[j] = [alpha * c + (1.0 - alpha) * p for c, p in zip(grad, prod)] if alpha else prod
                ends = np.stack([lo[j], up[j], alpha * lo[j], alpha * up[j], np.zeros_like(lo[j])])
                plo[j], pup[j] = ends.min(axis=0), ends.max(axis=0)
        return prev, plo, pup

    def _product(self, k, j, t, c, lo, up, z):
        """z * c for a binary z: linear if c is a constant, else a variable with four rows."""
        if isinstance(c, float):
            return c * z
        model, lo, up = self.model, float(min(lo, 0.0)), float(max(up, 0.0))
        p = model.addVar(f"zgrad[l={k},j={j},t={t}]", lb=lo, ub=up)
        model.addCons(p <= up * z, name=f"prod_up[l={k},j={j},t={t}]")
        model.addCons(p >= lo * z, name=f"prod_lo[l={k},j={j},t={t}]")
        model.addCons(p <= c - lo * (1 - z), name=f"prod_on_up[l={k},j={j},t={t}]")
        model.addCons(p >= c - up * (1 - z), name=f"prod_on_lo[l={k},j={j},t={t}]")
        return p

    def _flat(self, k, C, lo, up, gbounds) -> None:
        """The flat binaries of layer k."""
        glo, gup = gbounds
        for j, z in self.milp.z[k].items():
            grad = C[j]
            if (k, j) not in self.keep:
                continue
            if np.any((lo[j] > 0.0) | (up[j] < 0.0)) or any(isinstance(c, float) and c != 0.0 for c in grad):
                continue  # the gradient cannot vanish: never flat
            model, g = self.model, self.milp.g[k][j]
            w = model.addVar(f"flat[l={k},j={j}]", vtype="B")
            model.addCons(w + z <= 1, name=f"flat_excl[l={k},j={j}]")
            model.addCons(g <= float(gup[j]) * (1 - w), name=f"flat_g_up[l={k},j={j}]")
            model.addCons(g >= float(glo[j]) * (1 - w), name=f"flat_g_lo[l={k},j={j}]")
            for t, c in enumerate(grad):
                if not isinstance(c, float):
                    model.addCons(c <= float(up[j, t]) * (1 - w), name=f"flat_grad_up[l={k},j={j},t={t}]")
                    model.addCons(c >= float(lo[j, t]) * (1 - w), name=f"flat_grad_lo[l={k},j={j},t={t}]")
            self.w[k, j] = w


def _model(network: Network, box: Box, bounds, phases, last: int, eps: float, keep: set):
    """The count's model: NetworkMILP, flat states for `keep` (see _Gradients), the margins and
    the numerics of the module docstring. Returns (NetworkMILP, {(layer, neuron): flat binary})."""
    milp = NetworkMILP(network, box, bounds, phases, last, name="regions")
    model = milp.model
    flat = _Gradients(milp, network, box, bounds, phases, last, keep).w if keep else {}
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


def _zero_reachable(const: np.ndarray, coef: np.ndarray) -> bool:
    """Whether const + s @ coef = 0 (up to PROBE_TOL times its scale) for some binary s."""
    scale = np.abs(const) + np.abs(coef).sum(axis=0)
    tol = PROBE_TOL * scale + 1e-12
    low = const + np.minimum(coef, 0.0).sum(axis=0)
    high = const + np.maximum(coef, 0.0).sum(axis=0)
    if np.any((low > tol) | (high < -tol)):
        return False
    if coef.shape[0] == 0:
        return True
    model = Model("flat_probe")
    model.hideOutput()
    s = [model.addVar(f"s[{i}]", vtype="B") for i in range(coef.shape[0])]
    for t in range(coef.shape[1]):
        expr = quicksum(float(coef[i, t]) * s[i] for i in np.flatnonzero(coef[:, t]))
        model.addCons(expr <= float(tol[t] - const[t]), name=f"zero_up[t={t}]")
        model.addCons(expr >= float(-tol[t] - const[t]), name=f"zero_lo[t={t}]")
    return solve(model) is not Status.INFEASIBLE


def _can_be_flat(network: Network, box: Box, phases, last: int) -> set:
    """The undecided neurons (layer, neuron) that may be flat on some region: all of them,
    except in layer 1 behind a two-phase layer 0, where a neuron's affine function on a region
    (gradient and value at the box centre, `first` below) is const + s @ coef over the layer-0
    activations s: a small binary program, ignoring which s are realised, says whether it can
    vanish. (The count's flat states are exact wherever they are kept; dropping the ones that
    cannot occur keeps their cost away from two-layer networks.)"""
    keep = {(k, int(j)) for k in range(last + 1) if phases[k] is not None
            for j in np.flatnonzero(phases[k] == 0)}
    if last < 1 or phases[0] is None or phases[1] is None:
        return keep
    first_layer = network.folded_first_layer()
    weight0, bias0 = first_layer.weight, first_layer.bias
    centre = (box.lo + box.hi) / 2.0
    first = np.hstack([_first_gradients(network, box), (weight0 @ centre + bias0)[:, None]])
    layer0 = network.layers[0]
    alpha = layer0.activation.inactive_slope
    undecided = phases[0] == 0
    slope = np.where(phases[0] == ACTIVE, 1.0, alpha)  # undecided neurons: alpha + (1 - alpha) s
    weight1, bias1 = network.layers[1].weight, network.layers[1].bias
    for j in np.flatnonzero(phases[1] == 0):
        const = (weight1[j] * slope) @ first
        const[-1] += bias1[j]
        coef = ((1.0 - alpha) * weight1[j, undecided])[:, None] * first[undecided]
        if not _zero_reachable(const, coef):
            keep.discard((1, int(j)))
    return keep


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
    start = time.perf_counter()
    bounds = symbolic_bounds(network, box)
    last = len(network.layers) - 2
    phases = _phases(network, bounds)
    if not any(np.any(p == 0) for p in phases[:last + 1] if p is not None):
        return RegionCount(regions=1, exact=True, method="milp",
                           time_s=time.perf_counter() - start,
                           note="every neuron is stable on the box: one region")
    try:
        with scip_calls():
            milp, flat = _model(network, box, bounds, phases, last, eps,
                                _can_be_flat(network, box, phases, last))
    except SolverTrouble as exc:
        return RegionCount(regions=0, exact=False, method="milp",
                           time_s=time.perf_counter() - start, verified=False,
                           note=f"solver trouble ({exc}): nothing counted")
    model = milp.model
    collect = _Collect([z for k in range(last + 1) for z in milp.z[k].values()],
                       list(flat.values()), milp.x)
    model.includeConshdlr(collect, "collect", "records every feasible pattern",
                          enfopriority=-9999999, chckpriority=-9999999, needscons=False)
    with scip_calls():
        model.setHeuristics(SCIP_PARAMSETTING.OFF)
        if time_limit is not None:
            model.setParam("limits/time", max(time_limit - (time.perf_counter() - start), 0.01))
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
                       time_s=time.perf_counter() - start, note="; ".join(notes),
                       interrupted=status is Status.STOPPED)

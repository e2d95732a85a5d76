"""A probabilistic lower bound on the number of regions from random parity (XOR) constraints on
the activation binaries, solved with SCIP ("Empirical Bounds on Linear Regions of Deep Rectifier
Networks", Serra and Ramalingam, AAAI 2020, after MBound, Gomes et al. 2006).

Contract. mip_bound(network, box, trials, confidence) -> RegionCount (method "mipbound").
The regions are counted by their activation patterns z over the neurons the bounds leave
undecided (each region of a ReLU network is the set of one pattern: convex, so one pattern one
region). The model is count_milp's pattern_model (margins eps, no flat states) plus s XOR
constraints, each over a random subset of the z (every z in it with probability 1/2) with a
random right-hand side, so that every fixed pattern satisfies all s with probability exactly
2^-s. A trial succeeds when SCIP finds a solution whose inputs x, re-checked in float64, show
every undecided neuron's bit strictly (g > 0 on, g < 0 off): then a real region satisfies the
XORs. If the count C is below 2^(s - a), a trial succeeds with probability <= E[regions left]
= C 2^-s < 2^-a (Markov), and all t independent trials with probability < 2^(-a t).
s = 1, 2, ... is raised while all `trials` trials succeed; with s* the last such s,
    C >= 2^(s* - a)  with probability >= 1 - 2^(-a t) = confidence,  a = -log2(1 - confidence) / t.
Stopping at the first s with a failed trial makes this hold without a union over s: if
C < 2^(s* - a), then at the first tested s with C < 2^(s - a) (some s <= s*) every trial
succeeded, which has probability < 2^(-a t). A failed, timed-out or not re-checked trial only
stops the search earlier (a smaller bound). The result is the larger of floor(2^(s* - a)) and
the number of distinct patterns witnessed on the way (a certain lower bound); never `exact`.
"""

from __future__ import annotations

import math
import time

import numpy as np
from pyscipopt import SCIP_PARAMSETTING

from ..bounds import symbolic_bounds
from ..domain import Box
from ..ir import Network
from ..solvers.scip import SolverTrouble, scip_calls, solve
from .count_milp import COUNT_EPS, bound_phases, pattern_model
from .search import RegionCount

TRIALS = 10
CONFIDENCE = 0.99


def _trial(network: Network, box: Box, bounds, phases, last: int, xors: int,
           rng: np.random.Generator, deadline: float | None, eps: float) -> bytes | None:
    """One trial with `xors` random parity constraints: the pattern of a float64-checked
    solution, or None (infeasible, no answer in time, or the witness fails the re-check)."""
    with scip_calls():
        milp, _ = pattern_model(network, box, bounds, phases, last, eps, set())
        model = milp.model
        neurons = [(k, j) for k in range(last + 1) for j in milp.z[k]]
        z = [milp.z[k][j] for k, j in neurons]
        for i in range(xors):
            members = [v for v in z if rng.random() < 0.5]
            parity = bool(rng.integers(2))
            if not members:
                if parity:
                    return None  # 0 = 1: no pattern satisfies this XOR
                continue
            model.addConsXor(members, parity, name=f"parity[s={i}]")
        model.setHeuristics(SCIP_PARAMSETTING.FAST)
        model.setParam("limits/solutions", 1)
        if deadline is not None:
            model.setParam("limits/time", max(deadline - time.monotonic(), 0.01))
    solve(model)
    if model.getNSols() == 0:
        return None
    sol = model.getBestSol()
    x = np.clip([model.getSolVal(sol, v) for v in milp.x], box.lo, box.hi)
    bits = [model.getSolVal(sol, v) > 0.5 for v in z]
    pre = network.preactivations(x)
    if all((pre[k][0, j] > 0.0) if bit else (pre[k][0, j] < 0.0)
           for (k, j), bit in zip(neurons, bits)):
        return bytes(bits)
    return None


def mip_bound(network: Network, box: Box, trials: int = TRIALS, confidence: float = CONFIDENCE,
              time_limit: float | None = None, seed: int = 0,
              eps: float = COUNT_EPS) -> RegionCount:
    """The lower bound of the module docstring, holding with probability >= `confidence`."""
    start = time.monotonic()
    deadline = None if time_limit is None else start + time_limit
    bounds = symbolic_bounds(network, box)
    last = len(network.layers) - 2
    phases = bound_phases(network, bounds)
    undecided = sum(int(np.sum(p == 0)) for p in phases[:last + 1] if p is not None)
    if not undecided:
        return RegionCount(regions=1, exact=True, method="mipbound",
                           time_s=time.monotonic() - start,
                           note="every neuron is stable on the box: one region")
    a = -math.log2(1.0 - confidence) / trials
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    passed, stop = 0, "every XOR count up to the number of undecided neurons passed"
    try:
        for s in range(1, undecided + 1):
            found = [_trial(network, box, bounds, phases, last, s, rng, deadline, eps)
                     for _ in range(trials)]
            seen.update(f for f in found if f is not None)
            if any(f is None for f in found):
                stop = f"a trial with {s} XORs failed"
                break
            passed = s
            if deadline is not None and time.monotonic() >= deadline:
                stop = "time limit"
                break
    except SolverTrouble as exc:
        stop = f"solver trouble ({exc})"
    bound = max(int(math.floor(2.0 ** (passed - a))), len(seen), 1)
    note = (f"probabilistic lower bound: >= 2^({passed} - {a:.3g}) with probability >= "
            f"{confidence:g} (all {trials} trials feasible with {passed} random XORs; {stop}); "
            f"{len(seen)} distinct regions witnessed (certain)")
    return RegionCount(regions=bound, exact=False, method="mipbound",
                       time_s=time.monotonic() - start, note=note)

"""Which ReLU neurons never change phase on the domain: bounds -> witnesses -> one MILP -> per neuron.

`analyse_stability` (METHODS section 3) decides every neuron of every two-phase layer, cheapest
evidence first:
  bounds      symbolic/interval pre-activation bounds: up <= 0 inactive, lo >= 0 active;
  witness     float64 forward passes (samples, vertices, local search) with g > 0 and g < 0;
  milp        one SCIP MILP over all undecided neurons with flip candidates p/q (binary), every
              solution and every node-LP input re-evaluated in float64; infeasibility of
              "some candidate flips by at least FLIP_MARGIN" proves the remaining ones stable;
  per-neuron  two MILPs per neuron (max g, min g) with early termination, after the bounds above:
              the fallback for candidates whose MILP solutions did not survive the float64 check.
The baselines of the benchmark are the published per-neuron method (Serra et al. 2020), layer by
layer from interval bounds: "per-neuron-plain" stops each MILP at its first solution,
"per-neuron-tight" solves each to a small gap so that its dual bound tightens later big-M
constants (complete in practice; an independent check of the pipeline).
A proof from SCIP means "max g <= FLIP_MARGIN" (resp. "min g >= -FLIP_MARGIN") within SCIP's
feasibility tolerance; both are reported in StabilityResult.tolerances. Time limits, interrupts
and solver trouble (SCIP raising an error or ending a solve without an answer) leave neurons
UNKNOWN and set complete=False; LayerStability.why gives each unknown neuron its reason and
StabilityResult.trouble what SCIP said. Solver trouble never ends the analysis with an error.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from pyscipopt import SCIP_EVENTTYPE, SCIP_HEURTIMING, SCIP_RESULT, Eventhdlr, Heur, quicksum

from . import bounds as bounds_mod
from .bounds import (check_domain, interval_bounds, lp_tighten, padded, prove_by_splitting,
                     symbolic_bounds)
from .domain import Box
from .ir import Network
from .milp import (DUALFEASTOL, EPSILON, FEASTOL, FLIP_MARGIN, NetworkMILP, SolverTrouble,
                   scip_calls, solve)
from .neuron_milps import LayerModel, NeuronAnswer, NeuronMILPs
from .stability_result import (ACTIVE, INACTIVE, INTERRUPTED, NOT_TRIED, SOLVER_TROUBLE,
                               TIME_LIMIT, UNCONFIRMED, UNKNOWN, UNSTABLE, LayerStability,
                               StabilityResult)
from .witnesses import SignEvidence, find_witnesses

METHODS = ("auto", "bounds", "milp", "per-neuron", "per-neuron-plain", "per-neuron-tight")
DEFAULT_TIME_LIMIT = 600.0
SPLIT_MAX_INPUTS = 16  # input splitting is tried for inputs of at most this many dimensions
SPLIT_SHARE = 0.5  # of the time left
MILP_SHARE = 0.5  # of the time left, for the single MILP before the per-neuron fallback
TIGHT_GAP = 1e-2  # relative gap at which a per-neuron-tight MILP stops


class _Analysis:
    """Mutable state of one analysis: bounds, status, evidence, deadline."""

    def __init__(self, network: Network, box: Box, time_limit: float, progress,
                 interval: bool = False):
        self.network = network
        self.box = box
        self.start = time.monotonic()
        self.deadline = self.start + time_limit
        self.progress = progress
        self.layers = [i for i, layer in enumerate(network.layers) if layer.is_piecewise]
        self.status = [np.full(network.layers[i].n_out, UNKNOWN, np.int8) for i in self.layers]
        self.evidence = [[""] * network.layers[i].n_out for i in self.layers]
        self.signs = SignEvidence(network, self.layers)
        self.bounds = (interval_bounds if interval else symbolic_bounds)(network, box)
        self.complete = True
        self.interrupted = False
        self.stage = "bounds"
        self.trouble: list[str] = []
        self.why: dict[tuple[int, int], str] = {}  # the reason of a neuron left unknown

    @property
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def solver_failed(self, message: str) -> None:
        """Record solver trouble in the current stage (what it was to decide stays unknown)."""
        self.trouble.append(f"{self.stage}: {message}")

    def set(self, k: int, j: int, code: int, how: str) -> None:
        self.status[k][j] = code
        self.evidence[k][j] = how

    def apply_bounds(self) -> None:
        for k, i in enumerate(self.layers):
            lo, up = self.bounds[i]
            for code, mask in ((ACTIVE, lo >= 0.0), (INACTIVE, up <= 0.0)):
                for j in np.flatnonzero(mask & (self.status[k] == UNKNOWN)):
                    self.set(k, j, code, "bounds")

    def apply_signs(self, how: str) -> None:
        """Neurons with both strict signs seen are unstable (this overrides tolerance proofs)."""
        for k in range(len(self.layers)):
            for j in np.flatnonzero(self.signs.unstable(k) & (self.status[k] != UNSTABLE)):
                self.set(k, j, UNSTABLE, how)
        self.report()

    def undecided(self) -> list[tuple[int, int]]:
        return [(k, int(j)) for k in range(len(self.layers))
                for j in np.flatnonzero(self.status[k] == UNKNOWN)]

    def phases(self) -> list:
        out = [None] * len(self.network.layers)
        for k, i in enumerate(self.layers):
            out[i] = self.status[k]
        return out

    def known_bounds(self, extra=None) -> list:
        """Current bounds, intersected with `extra` and with the proven phases."""
        known = list(self.bounds)
        for i, pair in enumerate(extra or []):
            if pair is not None:
                known[i] = (np.maximum(known[i][0], pair[0]), np.minimum(known[i][1], pair[1]))
        for k, i in enumerate(self.layers):
            lo, up = known[i]
            known[i] = (np.where(self.status[k] == ACTIVE, np.maximum(lo, 0.0), lo),
                        np.where(self.status[k] == INACTIVE, np.minimum(up, 0.0), up))
        return known

    def tighten_bounds(self) -> None:
        """Recompute symbolic bounds with the proven phases as known facts."""
        self.bounds = symbolic_bounds(self.network, self.box, self.known_bounds())

    def lp_tighten(self) -> None:
        """OBBT layer by layer on the two-phase neurons before the last undecided layer.

        Their bounds are the big-M constants of the MILP; the last layer's undecided neurons are
        left to the MILP itself, which decides them better than their LP bounds would.
        """
        todo = self.undecided()
        if not todo:
            return
        last = max(self.layers[k] for k, _ in todo)
        for k, i in enumerate(self.layers):
            if i == 0 or i >= last or self.remaining <= 0:
                continue
            mask = (self.status[k] == UNKNOWN) | (self.status[k] == UNSTABLE)
            if not mask.any():
                continue
            known = [None] * len(self.network.layers)
            try:
                known[i] = lp_tighten(self.network, self.box, self.bounds, self.phases(), i,
                                      np.flatnonzero(mask), self.remaining)
            except SolverTrouble as exc:  # keep the bounds this layer had
                self.solver_failed(f"{exc} (bounds of layer {i} not tightened)")
                continue
            self.bounds = symbolic_bounds(self.network, self.box, self.known_bounds(known))
            self.apply_bounds()
            self.report()

    def split_inputs(self) -> None:
        """Prove undecided neurons by bounds on a partition of a low-dimensional input box."""
        todo = {i: self.status[k] == UNKNOWN for k, i in enumerate(self.layers)}

        def observe(points):
            self.signs.observe(points)
            return ({i: self.signs.pos[k] for k, i in enumerate(self.layers)},
                    {i: self.signs.neg[k] for k, i in enumerate(self.layers)})

        inactive, active = prove_by_splitting(self.network, self.box, todo, todo,
                                              self.remaining * SPLIT_SHARE, observe=observe)
        self.apply_signs("witness")
        for k, i in enumerate(self.layers):
            for code, mask in ((INACTIVE, inactive[i]), (ACTIVE, active[i])):
                for j in np.flatnonzero(mask & (self.status[k] == UNKNOWN)):
                    self.set(k, j, code, "bounds")
        self.report()

    def report(self) -> None:
        if self.progress is None:
            return
        by: dict[str, int] = {}
        for ev in self.evidence:
            for how in ev:
                if how:
                    by[how] = by.get(how, 0) + 1
        total = sum(s.size for s in self.status)
        self.progress({"stage": self.stage, "decided": sum(by.values()), "total": total,
                       "by_evidence": by, "elapsed_s": time.monotonic() - self.start})

    def result(self, method: str) -> StabilityResult:
        self.stage = "done"
        self.report()
        layers = []
        for k, i in enumerate(self.layers):
            layer = self.network.layers[i]
            lo, up = self.bounds[i]
            why = [self.reason(k, j) if code == UNKNOWN else ""
                   for j, code in enumerate(self.status[k])]
            layers.append(LayerStability(i, layer.act_node, self.status[k].copy(),
                                         list(self.evidence[k]), lo.copy(), up.copy(),
                                         layer.origin, why))
        complete = self.complete and not any((s == UNKNOWN).any() for s in self.status)
        return StabilityResult(
            layers, self.box, time.monotonic() - self.start, complete,
            self.signs.witness_array(), tolerances(), method, interrupted=self.interrupted,
            trouble=list(self.trouble))

    def reason(self, k: int, j: int) -> str:
        """Why neuron j of layers[k] is still unknown."""
        if self.interrupted:
            return INTERRUPTED
        if (k, j) in self.why:
            return self.why[(k, j)]
        if self.remaining <= 0:
            return TIME_LIMIT
        return SOLVER_TROUBLE if self.trouble else NOT_TRIED


def tolerances() -> dict:
    """The numerical tolerances behind the proofs (see the module docstring)."""
    return {"scip_feastol": FEASTOL, "scip_dualfeastol": DUALFEASTOL, "scip_epsilon": EPSILON,
            "flip_margin": FLIP_MARGIN, "bounds_rel_margin": bounds_mod.REL_MARGIN,
            "bounds_abs_margin": bounds_mod.ABS_MARGIN, "lp_margin": bounds_mod.LP_MARGIN}


class _Watcher(Eventhdlr):
    """Re-evaluates every new incumbent in float64; interrupts once a candidate flipped."""

    def __init__(self, single: "_SingleMILP"):
        self.single = single

    def eventinit(self):
        self.model.catchEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

    def eventexit(self):
        self.model.dropEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

    def eventexec(self, event):
        self.single.harvest(self.single.milp.input_point(self.model.getBestSol()))


class _LPForward(Heur):
    """Primal heuristic: forward the node LP's input values through the network in float64.

    The signs it sees are recorded; the solve goes on until an incumbent interrupts it.
    """

    def __init__(self, single: "_SingleMILP"):
        self.single = single

    def heurexec(self, heurtiming, nodeinfeasible):
        if self.model.getLPSolstat() == 1:  # optimal LP; record only (interrupting costs more)
            self.single.state.signs.observe(self.single.milp.input_point(None))
        return {"result": SCIP_RESULT.DIDNOTFIND}


class _SingleMILP:
    """The single MILP of METHODS 3.3 over the current undecided neurons."""

    def __init__(self, state: _Analysis):
        self.state = state
        net = state.network
        todo = state.undecided()
        last = max(state.layers[k] for k, _ in todo)
        ends = [j for k, j in todo if state.layers[k] == last]
        self.milp = NetworkMILP(net, state.box, state.bounds, state.phases(), last,
                                name="stability", targets=ends)
        self.cands: dict[tuple[int, int, int], object] = {}
        self.open: set = set()
        self.stubborn: list[tuple[int, int]] = []
        self.interrupted_by_us = False
        with scip_calls():
            self._add_candidates(todo, last)

    def _add_candidates(self, todo: list[tuple[int, int]], last: int) -> None:
        """p/q binaries for the sides not seen yet, "some candidate flips", the callbacks."""
        state, model = self.state, self.milp.model
        for k, j in todo:
            i = state.layers[k]
            lo, up = (float(v[j]) for v in state.bounds[i])
            for sign, seen in ((1, state.signs.pos), (-1, state.signs.neg)):
                if seen[k][j]:
                    continue
                kind = "active" if sign > 0 else "inactive"
                c = model.addVar(f"{'p' if sign > 0 else 'q'}[l={i},j={j}]", vtype="B")
                self.cands[(k, j, sign)] = c
                if i == last:  # c = 1 forces sign * g >= FLIP_MARGIN; g has no phase binary
                    far = lo if sign > 0 else -up
                    model.addCons(sign * self.milp.g[i][j] >= FLIP_MARGIN * c + far * (1 - c),
                                  name=f"flip_{kind}[l={i},j={j}]")
                    continue
                z = self.milp.z[i][j]
                model.addCons(c <= (z if sign > 0 else 1 - z), name=f"cand_{kind}[l={i},j={j}]")
                part = self.milp.hp[i][j] if sign > 0 else self.milp.hn[i][j]
                model.addCons(part >= FLIP_MARGIN * c, name=f"flip_{kind}[l={i},j={j}]")
        every = list(self.cands.values())
        model.addCons(quicksum(every) >= 1, name="some_flip")
        model.setObjective(quicksum(every), "maximize")
        self.open = set(self.cands)
        model.includeEventhdlr(_Watcher(self), "flip_watcher", "re-checks incumbents in float64")
        model.includeHeur(_LPForward(self), "lp_forward", "forwards node-LP inputs in float64", "Y",
                          timingmask=SCIP_HEURTIMING.AFTERLPNODE, freq=1)

    def seen(self, key) -> bool:
        k, j, sign = key
        return bool((self.state.signs.pos if sign > 0 else self.state.signs.neg)[k][j])

    def harvest(self, x: np.ndarray) -> None:
        """Record the signs of x; interrupt the solve once an open candidate has flipped (here
        or at an earlier node LP)."""
        self.state.signs.observe(x)
        if any(self.seen(key) for key in self.open):
            self.interrupted_by_us = True
            self.milp.model.interruptSolve()

    def run(self, share: float) -> None:
        """Solve until every candidate is decided or `share` of the time left is used up."""
        state, model = self.state, self.milp.model
        deadline = time.monotonic() + share * state.remaining
        while self.open:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with scip_calls():
                model.setParam("limits/time", left)
            self.interrupted_by_us = False
            status = solve(model, lambda: self.interrupted_by_us)
            for sol in model.getSols():
                self.harvest(self.milp.input_point(sol))
            flipped = {key for key in self.open if self.seen(key)}
            if status == "infeasible":
                self.close_proven()
                return
            if not flipped and model.getNSols() > 0:
                best = model.getBestSol()
                flipped = {key for key in self.open if model.getSolVal(best, self.cands[key]) > 0.5}
                self.stubborn.extend((k, j) for k, j, _ in flipped)
            if not flipped:  # time limit or solver trouble: leave the rest to the fallback
                if status not in ("timelimit", "userinterrupt"):
                    state.solver_failed(f"SCIP status {status}")
                return
            state.apply_signs("milp")
            with scip_calls():
                model.freeTransform()
                for key in flipped:
                    model.chgVarUb(self.cands[key], 0.0)
            self.open -= flipped

    def close_proven(self) -> None:
        """SCIP proved that no open candidate can flip: they are stable (within FLIP_MARGIN)."""
        stubborn = set(self.stubborn)
        for k, j, sign in sorted(self.open):
            if (k, j) in stubborn or self.seen((k, j, sign)) or self.state.status[k][j] != UNKNOWN:
                continue  # a witness (g within the flip margin) beats the tolerance proof
            self.state.set(k, j, INACTIVE if sign > 0 else ACTIVE, "milp")
        self.open.clear()
        self.state.apply_signs("milp")


def _apply_answer(state: _Analysis, k: int, answer: NeuronAnswer, share: bool) -> None:
    """Record one neuron's per-neuron MILP answers. A side proven by SCIP makes the neuron
    stable; an input SCIP found counts only through its float64 forward pass (share=True: for
    every neuron, else for this neuron only, as in the published method)."""
    j = answer.neuron
    i = state.layers[k]
    for side in answer.sides:
        if side.outcome == "stable":
            if state.status[k][j] == UNKNOWN:
                state.set(k, j, INACTIVE if side.sign > 0 else ACTIVE, "per-neuron")
        elif side.outcome == "open":
            state.complete = False
            state.why[(k, j)] = side.reason
            if side.message:
                state.solver_failed(f"{side.message} (neuron {j} of layer {i})")
        elif share:
            state.signs.observe(side.x)
        else:
            signs = state.signs.pos if side.sign > 0 else state.signs.neg
            g, err = state.signs.certain(np.atleast_2d(side.x))[i]
            if side.sign * g[0, j] > err[0, j]:
                signs[k][j] = True
                state.signs.witnesses.append(side.x)
    seen = (state.signs.pos, state.signs.neg)
    last = answer.sides[-1] if answer.sides else None
    if last is not None and last.outcome == "found" and not seen[last.sign < 0][k][j]:
        state.complete = False  # the solver's flip did not survive float64: leave unknown
        state.why[(k, j)] = UNCONFIRMED
    if state.signs.pos[k][j] and state.signs.neg[k][j] and state.status[k][j] == UNKNOWN:
        state.set(k, j, UNSTABLE, "per-neuron")
    if share:
        state.apply_signs("per-neuron")
    state.report()


def _per_neuron(state: _Analysis, pool: NeuronMILPs, todo: list[tuple[int, int]],
                share: bool) -> None:
    """Two MILPs per neuron (can g > FLIP_MARGIN? can g < -FLIP_MARGIN?), stopping early.

    share=False: a solution only answers its own neuron (as in the published method).
    """
    seen = (state.signs.pos, state.signs.neg)
    for k in range(len(state.layers)):
        lo, up = state.bounds[state.layers[k]]
        jobs = []
        for kk, j in todo:
            if kk != k or state.status[k][j] != UNKNOWN:
                continue
            sides = (1, -1) if up[j] < -lo[j] else (-1, 1)
            jobs.append((j, tuple(s for s in sides if not seen[s < 0][k][j])))
        if not jobs:
            continue
        spec = LayerModel(state.network, state.box, state.bounds, state.phases(), state.layers[k],
                          tuple(j for j, _ in jobs))
        asked = {j for j, _ in jobs}
        for answer in pool.answers(spec, jobs, state.deadline):
            asked.discard(answer.neuron)
            _apply_answer(state, k, answer, share)
        if asked and state.remaining > 0:  # a worker died (or hung) with these neurons
            state.solver_failed(f"a worker process ended without answering {len(asked)} "
                                f"neuron(s) of layer {state.layers[k]}")
            state.why.update({(k, j): SOLVER_TROUBLE for j in asked})


def _per_neuron_layered(state: _Analysis, pool: NeuronMILPs, tight: bool) -> None:
    """The per-neuron method of Serra et al. 2020: layer by layer, two MILPs per open neuron.

    Each layer's MILP models the network up to that layer with big-M constants from the current
    bounds (interval arithmetic at first). Objective limit +-FLIP_MARGIN: "infeasible" proves the
    side stable. tight=False stops at the first solution past the limit (early termination);
    tight=True solves to relative gap TIGHT_GAP. SCIP's dual bound of a solve that found a
    solution is a valid bound on g; it tightens this layer's bounds, and interval propagation
    carries them to the big-M constants of later layers. A solution answers its own neuron only,
    and only if its float64 forward pass has the sign.
    """
    net = state.network
    for k, i in enumerate(state.layers):
        todo = np.flatnonzero(state.status[k] == UNKNOWN)
        if todo.size == 0:
            continue
        spec = LayerModel(net, state.box, state.bounds, state.phases(), i,
                          tuple(int(j) for j in todo), TIGHT_GAP if tight else None)
        lo, up = state.bounds[i][0].copy(), state.bounds[i][1].copy()
        jobs = [(int(j), (1, -1)) for j in todo]
        for answer in pool.answers(spec, jobs, state.deadline):
            for side in answer.sides:
                if side.dual is None:
                    continue
                if side.sign > 0:
                    up[answer.neuron] = min(up[answer.neuron], padded(side.dual, 1))
                else:
                    lo[answer.neuron] = max(lo[answer.neuron], -padded(side.dual, 1))
            _apply_answer(state, k, answer, share=False)
        known = [None] * len(net.layers)
        known[i] = (lo, up)
        state.bounds = interval_bounds(net, state.box, state.known_bounds(known))
        state.apply_bounds()


def analyse_stability(network: Network, box: Box, time_limit: float = DEFAULT_TIME_LIMIT,
                      method: str = "auto",
                      progress: Callable[[dict], None] | None = None,
                      seed: int = 0, threads: int = 1) -> StabilityResult:
    """Decide the phase stability of every two-phase neuron of `network` on `box`.

    method: "auto" (bounds, witnesses, single MILP, per-neuron fallback), "bounds" (bounds and
    witnesses only), "milp" (like auto without the fallback), "per-neuron" (our bounds, then two
    MILPs per neuron), "per-neuron-plain" / "per-neuron-tight" (the published per-neuron method
    from interval bounds, see _per_neuron_layered: the benchmark's baselines). progress: called
    with a dict (stage, decided, total, by_evidence, elapsed_s) whenever the counts change.
    threads: worker processes for the per-neuron MILPs (1: none). Ctrl-C returns a sound
    partial result.
    """
    if method not in METHODS:
        raise ValueError(f"unknown stability method {method!r}; use one of {', '.join(METHODS)}")
    check_domain(network, box)
    layered = method in ("per-neuron-plain", "per-neuron-tight")
    state = _Analysis(network, box, time_limit, progress, interval=layered)
    try:
        with NeuronMILPs(threads) as pool:
            _run(state, pool, method, seed)
    except KeyboardInterrupt:
        state.complete = False
        state.interrupted = True
    return state.result(method)


def _run(state: _Analysis, pool: NeuronMILPs, method: str, seed: int) -> None:
    """The stages of `method`, cheapest evidence first; each stage only sees what is left."""
    network, box = state.network, state.box
    state.apply_bounds()
    state.report()
    if method in ("per-neuron-plain", "per-neuron-tight"):
        state.stage = "per-neuron"
        _per_neuron_layered(state, pool, tight=method == "per-neuron-tight")
        return
    if method == "per-neuron":
        state.stage = "per-neuron"
        _per_neuron(state, pool, state.undecided(), share=False)
        return
    state.stage = "witnesses"
    find_witnesses(network, box, state.signs, seed=seed,
                   todo=[status == UNKNOWN for status in state.status], bounds=state.bounds)
    state.apply_signs("witness")
    if method == "bounds" or not state.undecided():
        return
    if network.n_inputs <= SPLIT_MAX_INPUTS:
        state.stage = "input splitting"
        state.split_inputs()
    state.stage = "lp"
    state.lp_tighten()
    if not state.undecided():
        return
    state.stage = "milp"
    try:
        _SingleMILP(state).run(MILP_SHARE if method == "auto" else 1.0)
    except SolverTrouble as exc:  # the per-neuron fallback gets the neurons it left
        state.solver_failed(str(exc))
    if method == "auto" and state.remaining > 0 and state.undecided():
        state.stage = "per-neuron"
        state.tighten_bounds()
        _per_neuron(state, pool, state.undecided(), share=True)


analyse = analyse_stability

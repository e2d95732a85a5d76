"""The single MILP (METHODS 3.3): one SCIP model over every undecided neuron, with flip
candidates p/q (binaries) for the sides not seen yet and the constraint "some candidate flips by
at least FLIP_MARGIN". Every incumbent and every node LP's input is re-evaluated in float64 (a
flip counts only there); infeasibility proves the remaining candidates stable. A candidate
whose flip SCIP shows but float64 does not is "stubborn": it stays unknown for the fallback.
"""

from __future__ import annotations

import time

import numpy as np
from pyscipopt import SCIP_HEURTIMING, SCIP_RESULT, Heur, quicksum

from ..ir import ACTIVE, INACTIVE, UNKNOWN
from ..solvers.encode import NetworkMILP
from ..solvers.scip import FLIP_MARGIN, Incumbents, SolverTrouble, Status, scip_calls, solve
from .result import Evidence
from .state import Analysis, Stage


class _LPForward(Heur):
    """Primal heuristic: forward the node LP's input values through the network in float64.

    The signs it sees are recorded; the solve goes on until an incumbent interrupts it.
    """

    def __init__(self, single: "SingleMILP"):
        self.single = single

    def heurexec(self, heurtiming, nodeinfeasible):
        if self.model.getLPSolstat() == 1:  # optimal LP; record only (interrupting costs more)
            self.single.state.signs.observe(self.single.milp.input_point(None))
        return {"result": SCIP_RESULT.DIDNOTFIND}


class SingleMILP:
    """The single MILP of METHODS 3.3 over the current undecided neurons."""

    def __init__(self, state: Analysis):
        self.state = state
        net = state.network
        todo = state.undecided()
        last = max(i for i, _ in todo)
        ends = [j for i, j in todo if i == last]
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
        for i, j in todo:
            lo, up = (float(v[j]) for v in state.bounds[i])
            for sign, seen in ((1, state.signs.pos), (-1, state.signs.neg)):
                if seen[i][j]:
                    continue
                kind = "active" if sign > 0 else "inactive"
                c = model.addVar(f"{'p' if sign > 0 else 'q'}[l={i},j={j}]", vtype="B")
                self.cands[(i, j, sign)] = c
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
        model.includeEventhdlr(Incumbents(lambda sol: self.harvest(self.milp.input_point(sol))),
                               "flip_watcher", "re-checks incumbents in float64")
        model.includeHeur(_LPForward(self), "lp_forward", "forwards node-LP inputs in float64", "Y",
                          timingmask=SCIP_HEURTIMING.AFTERLPNODE, freq=1)

    def seen(self, key) -> bool:
        i, j, sign = key
        return bool((self.state.signs.pos if sign > 0 else self.state.signs.neg)[i][j])

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
            if status is Status.INFEASIBLE:
                self.close_proven()
                return
            if not flipped and model.getNSols() > 0:
                best = model.getBestSol()
                flipped = {key for key in self.open if model.getSolVal(best, self.cands[key]) > 0.5}
                self.stubborn.extend((i, j) for i, j, _ in flipped)
            if not flipped:  # time limit or solver trouble: leave the rest to the fallback
                if status not in (Status.TIME_LIMIT, Status.STOPPED):
                    state.solver_failed(f"SCIP status {status.value}")
                return
            state.apply_signs(Evidence.MILP)
            with scip_calls():
                model.freeTransform()
                for key in flipped:
                    model.chgVarUb(self.cands[key], 0.0)
            self.open -= flipped

    def close_proven(self) -> None:
        """SCIP proved that no open candidate can flip: they are stable (within FLIP_MARGIN)."""
        stubborn = set(self.stubborn)
        for i, j, sign in sorted(self.open):
            if (i, j) in stubborn or self.seen((i, j, sign)) or self.state.status[i][j] != UNKNOWN:
                continue  # a witness (g within the flip margin) beats the tolerance proof
            self.state.set(i, j, INACTIVE if sign > 0 else ACTIVE, Evidence.MILP)
        self.open.clear()
        self.state.apply_signs(Evidence.MILP)


def single_milp(state: Analysis, share: float) -> None:
    """The stage: the single MILP for `share` of the time left (SCIP failing on the model leaves
    its neurons to what comes next)."""
    state.stage = Stage.MILP
    try:
        SingleMILP(state).run(share)
    except SolverTrouble as exc:
        state.solver_failed(str(exc))

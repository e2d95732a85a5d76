"""Two networks in one SCIP model over one shared input, and the differences of their outputs
(the formal equivalence check, docs/verify.md).

    x[i]            the shared input, bounded by the box
    a:..., b:...    encode_network of A and of B over x (names "a:g[l=1,j=4]", "b:relu_ub[...]")
    same_g / same_z neurons of B that compute the same function as a neuron of A (the caller
                    proves it, e.g. equal rows): their g and z are set equal, which is implied
                    in exact arithmetic and lets SCIP merge the two copies
    diff[k]         = a_out[k] - b_out[k], bounded by the caller's sound difference bounds

`PairMILP.side(k, sign, limit, ...)` maximises sign * diff[k] with SCIP's objective limit at
`limit`: every incumbent (a solution past the limit) goes to the caller's `check`, which may
stop the solve (a counterexample confirmed in float64). INFEASIBLE then means that no input
passes the limit (within SCIP's tolerances); otherwise the dual bound is a valid bound on
sign * diff[k], no lower than the limit (pruned nodes were below it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..domain import Box
from ..ir import Network
from .encode import encode_network
from .scip import Incumbents, Status, new_model, scip_calls, solve


@dataclass(frozen=True)
class SideResult:
    """How one side's solve ended: status, SCIP's dual bound on sign * diff[k] (None when it
    has none, e.g. an interrupted start), and whether the caller's check stopped it."""

    status: Status
    dual: float | None
    stopped: bool


class PairMILP:
    """A and B encoded over one input in one SCIP model (see the module docstring).

    bounds_*/phases_*: sound bounds and proven phases per layer of each network (the
    encode_network convention); shared[k]: B neuron -> A neuron of hidden layer k with the same
    function; diff: sound (lo, up) of a_out - b_out."""

    def __init__(self, a: Network, b: Network, box: Box, bounds_a, bounds_b, phases_a, phases_b,
                 shared: list[dict], diff):
        self.box = box
        self.check: Callable[[np.ndarray], bool] = lambda x: False
        self.stopped_by_us = False
        with scip_calls():
            self.model = model = new_model("equivalence")
            self.x = [model.addVar(f"x[{i}]", lb=box.lo[i], ub=box.hi[i]) for i in range(box.size)]
        enc_a = encode_network(model, self.x, a, bounds_a, phases_a, len(a.layers) - 1,
                               prefix="a:")
        enc_b = encode_network(model, self.x, b, bounds_b, phases_b, len(b.layers) - 1,
                               prefix="b:")
        with scip_calls():
            for k, pairs in enumerate(shared):
                for i, j in pairs.items():
                    for kind in ("g", "z"):
                        va, vb = getattr(enc_a, kind)[k].get(j), getattr(enc_b, kind)[k].get(i)
                        if va is not None and vb is not None:
                            model.addCons(va == vb, name=f"same_{kind}[l={k},a={j},b={i}]")
            self.diff = []
            for k, (ha, hb) in enumerate(zip(enc_a.h, enc_b.h)):
                var = model.addVar(f"diff[{k}]", lb=float(diff[0][k]), ub=float(diff[1][k]))
                terms = (0.0 if ha is None else ha) - (0.0 if hb is None else hb)
                model.addCons(var == terms, name=f"diff[{k}]")
                self.diff.append(var)
            model.includeEventhdlr(Incumbents(lambda sol: self.offer(self.input_point(sol))),
                                   "incumbents",
                                   "re-checks every incumbent in float64")

    def input_point(self, sol) -> np.ndarray:
        """The flat input of a solution, clipped to the box."""
        vals = np.array([self.model.getSolVal(sol, v) for v in self.x])
        return np.clip(vals, self.box.lo, self.box.hi)

    def offer(self, x: np.ndarray) -> None:
        """An incumbent's input: stop the solve when the caller's check confirms it."""
        if not self.stopped_by_us and self.check(x):
            self.stopped_by_us = True
            self.model.interruptSolve()

    def side(self, k: int, sign: int, limit: float, time_limit: float,
             check: Callable[[np.ndarray], bool]) -> SideResult:
        """Maximise sign * diff[k] with objective limit `limit` for at most time_limit seconds;
        check(x) is called on every incumbent's input (True stops the solve). Then the inputs
        of all solutions SCIP kept are offered to check too."""
        model = self.model
        self.check, self.stopped_by_us = check, False
        with scip_calls():
            model.freeTransform()
            model.setObjective(self.diff[k], "maximize" if sign > 0 else "minimize")
            model.setObjlimit(sign * limit)
            model.setParam("limits/time", max(time_limit, 0.01))
        status = solve(model, lambda: self.stopped_by_us)
        for sol in model.getSols():
            if self.stopped_by_us:
                break
            self.offer(self.input_point(sol))
        dual = None
        if status is not Status.INFEASIBLE and model.getStatus() != "unknown":
            value = sign * model.getDualbound()
            dual = max(value, limit) if np.isfinite(value) else None
        return SideResult(status, dual, self.stopped_by_us)

"""Per-neuron MILPs (METHODS 3.4): can g of one neuron pass +FLIP_MARGIN, or -FLIP_MARGIN?

`NeuronMILPs` answers a list of neurons of one layer, either in this process or spread over
worker processes (exactprune.parallel; every worker builds the same SCIP model once per layer,
keyed by LayerModel.key). Each
side is one SCIP solve with objective sign * g and objective limit FLIP_MARGIN:
  "stable"  SCIP proved that no input passes the limit (the side never happens);
  "found"   SCIP found an input past the limit (its float64 check is the caller's job; the worker
            checks it too, only to decide whether the second side is worth solving);
  "open"    nothing proven or found: the time ran out, or SCIP failed (Side.reason says which;
            a model SCIP failed on is rebuilt for the next neuron).
The dual bound of a side that did not end "stable" is a valid bound on sign * g; callers that
want tight bounds pass a relative gap. Neurons a worker does not answer (it died, or hung past
the deadline) are simply not answered: unknown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..domain import Box
from ..ir import Network
from ..parallel import Workers, clock, worker_cache
from ..solvers.encode import NetworkMILP
from ..solvers.scip import FLIP_MARGIN, SolverTrouble, Status, scip_calls, solve
from .result import Reason


@dataclass(frozen=True, eq=False)
class LayerModel:
    """Everything a worker needs to build the MILP of the network up to `layer`."""

    network: Network
    box: Box
    bounds: list
    phases: list
    layer: int
    targets: tuple[int, ...]
    gap: float | None = None  # relative gap to solve each side to; None: stop at the first solution
    cap: float | None = None  # seconds per side at most (then "open"); None: until the deadline
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # workers rebuild when it changes


class Outcome(Enum):
    STABLE = "stable"  # SCIP proved that no input passes the limit
    FOUND = "found"  # SCIP found an input past the limit (to be re-checked in float64)
    OPEN = "open"  # nothing proven or found (Side.reason says why)


@dataclass
class Side:
    sign: int  # +1: can g > FLIP_MARGIN?  -1: can g < -FLIP_MARGIN?
    outcome: Outcome
    x: np.ndarray | None = None  # the input SCIP found (FOUND)
    dual: float | None = None  # SCIP's dual bound on sign * g (FOUND or OPEN)
    reason: Reason | None = None  # OPEN: TIME_LIMIT or SOLVER_TROUBLE
    message: str = ""  # what the solver said, for SOLVER_TROUBLE


@dataclass
class NeuronAnswer:
    neuron: int
    sides: list[Side]


class _Solver:
    """One process's SCIP model for a LayerModel, rebuilt after SCIP failed on it."""

    def __init__(self, spec: LayerModel, catch_ctrl_c: bool):
        self.spec = spec
        self.catch_ctrl_c = catch_ctrl_c
        self.milp: NetworkMILP | None = None
        self.refused: SolverTrouble | None = None  # SCIP refused to build the model

    def _built(self) -> NetworkMILP:
        if self.refused is not None:
            raise self.refused
        if self.milp is None:
            spec = self.spec
            try:
                milp = NetworkMILP(spec.network, spec.box, spec.bounds, spec.phases, spec.layer,
                                   name="per_neuron", targets=spec.targets)
            except SolverTrouble as exc:
                self.refused = exc
                raise
            with scip_calls():
                milp.model.setParam("misc/catchctrlc", self.catch_ctrl_c)
                if spec.gap is None:
                    milp.model.setParam("limits/solutions", 1)
                else:
                    milp.model.setParam("limits/gap", spec.gap)
            self.milp = milp
        return self.milp

    def side(self, j: int, sign: int, deadline: float) -> Side:
        left = deadline - clock()
        if left <= 0:
            return Side(sign, Outcome.OPEN, reason=Reason.TIME_LIMIT)
        if self.spec.cap is not None:
            left = min(left, self.spec.cap)
        try:
            milp = self._built()
            model = milp.model
            with scip_calls():
                model.freeTransform()
                model.setObjective(milp.g[self.spec.layer][j],
                                   "maximize" if sign > 0 else "minimize")
                model.setObjlimit(sign * FLIP_MARGIN)
                model.setParam("limits/time", max(left, 0.01))
            status = solve(model)
        except SolverTrouble as exc:
            self.milp = None
            return Side(sign, Outcome.OPEN, reason=Reason.SOLVER_TROUBLE, message=str(exc))
        if status is Status.INFEASIBLE:
            return Side(sign, Outcome.STABLE)
        dual = max(sign * model.getDualbound(), FLIP_MARGIN)  # pruned nodes were below the limit
        if model.getNSols() == 0:
            if status is Status.TIME_LIMIT:
                return Side(sign, Outcome.OPEN, dual=dual, reason=Reason.TIME_LIMIT)
            return Side(sign, Outcome.OPEN, dual=dual, reason=Reason.SOLVER_TROUBLE,
                        message=f"SCIP status {status.value}")
        return Side(sign, Outcome.FOUND, milp.input_point(model.getBestSol()), dual)

    def answer(self, j: int, signs: tuple[int, ...], deadline: float) -> NeuronAnswer:
        """The sides in order; stop after a side that is stable, open, or fails in float64."""
        out = NeuronAnswer(j, [])
        for sign in signs:
            side = self.side(j, sign, deadline)
            out.sides.append(side)
            if side.outcome is not Outcome.FOUND:
                break
            g = self.spec.network.preactivations(side.x)[self.spec.layer][0, j]
            if sign * g <= 0.0:
                break
        return out


def _work(task) -> list[NeuronAnswer]:
    """In a worker: answer a chunk of jobs with the worker's model of the task's LayerModel."""
    spec, jobs, deadline = task
    solver = worker_cache(spec.key, lambda: _Solver(spec, catch_ctrl_c=False))
    return [solver.answer(j, signs, deadline) for j, signs in jobs]


class NeuronMILPs:
    """Answers per-neuron jobs (neuron, sides) of one layer model; a context manager.

    workers=1 solves in this process (Ctrl-C stops SCIP and ends the analysis); workers > 1
    spreads chunks of jobs over that many worker processes, which live until close().
    """

    def __init__(self, workers: int = 1):
        self.workers = Workers(workers)

    def __enter__(self) -> "NeuronMILPs":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.workers.__exit__(kind, error, trace)

    def answers(self, spec: LayerModel, jobs: list[tuple[int, tuple[int, ...]]], deadline: float,
                on_answer) -> list[int]:
        """on_answer(NeuronAnswer) for every job as answers come (in job order in this process);
        returns the neurons no answer came for."""
        if not jobs:
            return []
        if self.workers.n == 1 or len(jobs) == 1:
            solver = _Solver(spec, catch_ctrl_c=True)
            for j, signs in jobs:
                on_answer(solver.answer(j, signs, deadline))
            return []
        chunks = np.array_split(np.arange(len(jobs)), min(len(jobs), 4 * self.workers.n))
        tasks = [(spec, [jobs[t] for t in chunk], deadline) for chunk in chunks]

        def take(index: int, batch: list[NeuronAnswer]) -> None:
            for answer in batch:
                on_answer(answer)

        lost = self.workers.run(_work, tasks, take, deadline)
        return [j for index in lost for j, _ in tasks[index][1]]

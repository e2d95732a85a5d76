"""Per-neuron MILPs (METHODS 3.4): can g of one neuron pass +FLIP_MARGIN, or -FLIP_MARGIN?

`NeuronMILPs` answers a list of neurons of one layer, either in this process or spread over
worker processes (threads > 1; every worker builds the same SCIP model once per layer). Each
side is one SCIP solve with objective sign * g and objective limit FLIP_MARGIN:
  "stable"  SCIP proved that no input passes the limit (the side never happens);
  "found"   SCIP found an input past the limit (its float64 check is the caller's job; the worker
            checks it too, only to decide whether the second side is worth solving);
  "open"    nothing proven or found: the time ran out, or SCIP failed (Side.reason says which;
            a model SCIP failed on is rebuilt for the next neuron).
The dual bound of a side that did not end "stable" is a valid bound on sign * g; callers that
want tight bounds pass a relative gap. Workers ignore Ctrl-C; the parent stops them. Neurons a
worker does not answer (it died, or hung past the deadline) are simply not answered: unknown.
"""

from __future__ import annotations

import itertools
import multiprocessing
import signal
import time
from dataclasses import dataclass, field

import numpy as np

from .domain import Box
from .ir import Network
from .milp import FLIP_MARGIN, NetworkMILP, SolverTrouble, scip_calls, solve
from .stability_result import SOLVER_TROUBLE, TIME_LIMIT

_KEYS = itertools.count()
GRACE_S = 10.0  # how long past the deadline a worker may take to return its last answers


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
    key: int = field(default_factory=lambda: next(_KEYS))  # workers rebuild when it changes


@dataclass
class Side:
    sign: int  # +1: can g > FLIP_MARGIN?  -1: can g < -FLIP_MARGIN?
    outcome: str  # "stable", "found" or "open"
    x: np.ndarray | None = None  # the input SCIP found (outcome "found")
    dual: float | None = None  # SCIP's dual bound on sign * g (outcome "found" or "open")
    reason: str = ""  # outcome "open": TIME_LIMIT or SOLVER_TROUBLE
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
            milp.model.setParam("misc/catchctrlc", self.catch_ctrl_c)
            if spec.gap is None:
                milp.model.setParam("limits/solutions", 1)
            else:
                milp.model.setParam("limits/gap", spec.gap)
            self.milp = milp
        return self.milp

    def side(self, j: int, sign: int, deadline: float) -> Side:
        left = deadline - time.monotonic()
        if left <= 0:
            return Side(sign, "open", reason=TIME_LIMIT)
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
            return Side(sign, "open", reason=SOLVER_TROUBLE, message=str(exc))
        if status == "infeasible":
            return Side(sign, "stable")
        dual = max(sign * model.getDualbound(), FLIP_MARGIN)  # pruned nodes were below the limit
        if model.getNSols() == 0:
            if status == "timelimit":
                return Side(sign, "open", dual=dual, reason=TIME_LIMIT)
            return Side(sign, "open", dual=dual, reason=SOLVER_TROUBLE,
                        message=f"SCIP status {status}")
        return Side(sign, "found", milp.input_point(model.getBestSol()), dual)

    def answer(self, j: int, signs: tuple[int, ...], deadline: float) -> NeuronAnswer:
        """The sides in order; stop after a side that is stable, open, or fails in float64."""
        out = NeuronAnswer(j, [])
        for sign in signs:
            side = self.side(j, sign, deadline)
            out.sides.append(side)
            if side.outcome != "found":
                break
            g = self.spec.network.preactivations(side.x)[self.spec.layer][0, j]
            if sign * g <= 0.0:
                break
        return out


_WORKER: dict = {}


def _ignore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _work(task) -> list[NeuronAnswer]:
    spec, jobs, deadline = task
    if _WORKER.get("key") != spec.key:
        _WORKER.update(key=spec.key, solver=_Solver(spec, catch_ctrl_c=False))
    solver = _WORKER["solver"]
    return [solver.answer(j, signs, deadline) for j, signs in jobs]


class NeuronMILPs:
    """Answers per-neuron jobs (neuron, sides) of one layer model; a context manager.

    threads=1 solves in this process; threads > 1 forks that many worker processes that live
    until close(). Fork, not spawn: spawn re-imports the caller's __main__, which breaks scripts
    without a main guard; the workers only touch SCIP models they build themselves.
    """

    def __init__(self, threads: int = 1):
        self.threads = max(1, int(threads))
        self.pool = None

    def __enter__(self) -> "NeuronMILPs":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.close(abort=kind is not None)

    def close(self, abort: bool = False) -> None:
        if self.pool is not None:
            if abort:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()
            self.pool = None

    def answers(self, spec: LayerModel, jobs: list[tuple[int, tuple[int, ...]]], deadline: float):
        """Yield a NeuronAnswer per job as they come (in job order when threads == 1)."""
        if not jobs:
            return
        if self.threads == 1 or len(jobs) == 1:
            solver = _Solver(spec, catch_ctrl_c=True)
            for j, signs in jobs:
                yield solver.answer(j, signs, deadline)
            return
        if self.pool is None:
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(self.threads, initializer=_ignore_ctrl_c)
        chunks = np.array_split(np.arange(len(jobs)), min(len(jobs), 4 * self.threads))
        tasks = [(spec, [jobs[t] for t in chunk], deadline) for chunk in chunks]
        results = self.pool.imap_unordered(_work, tasks)
        for _ in tasks:
            try:  # a worker that died never answers: give up on its chunk after the deadline
                batch = results.next(timeout=max(deadline - time.monotonic(), 0.0) + GRACE_S)
            except multiprocessing.TimeoutError:
                self.close(abort=True)  # its neurons stay unanswered, i.e. unknown
                return
            yield from batch

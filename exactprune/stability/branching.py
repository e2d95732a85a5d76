"""The branch-and-bound stage: each open neuron's sign proven by splitting earlier neurons'
phases (exactprune.bounds.branching), layer by layer, nearest to a proof first, in rounds of
growing budgets. Searches run in the worker processes when there are several; a part's corner
that flips the neuron comes back as an input and counts only through the caller's float64
check. After each layer the later layers' bounds are recomputed with what it proved."""

from __future__ import annotations

import numpy as np

from ..bounds.branching import Verdict, prove_sign
from ..ir import ACTIVE, INACTIVE, UNKNOWN
from ..parallel import clock
from .per_neuron import ask, nearest_first
from .result import Evidence, Reason
from .signs import SignEvidence
from .state import Analysis, Stage
from .tighten import optimise
from .witnesses import attack_open

ROUNDS = ((2_000, 2.0), (50_000, 30.0))  # (parts, seconds) per neuron and side
NEAR = 1e-3  # a neuron within NEAR * (up - lo) of 0 after a round is a MILP's (near_milp)
NEAR_CAP = 2.0  # seconds per side of those MILPs


def _search(task) -> list[tuple[int, int, Verdict, np.ndarray, float]]:
    """In a worker (or this process): the searches of a chunk of (neuron, sides) jobs; per side
    tried (neuron, sign, verdict, inputs that flipped it in this process's float64 check, the
    search's sound upper bound of sign * g)."""
    network, box, bounds, k, jobs, nodes, cap, deadline = task
    evidence = SignEvidence(network, [k])
    out = []
    for j, signs in jobs:
        for sign in signs:
            flips: list[np.ndarray] = []

            def refute(x: np.ndarray, j=j, sign=sign, flips=flips) -> bool:
                if x.shape[0] == 0:
                    return False
                g, err = evidence.certain(x)[k]
                hit = sign * g[:, j] > err[:, j]
                flips.extend(x[hit])
                return bool(hit.any())

            found = prove_sign(network, box, bounds, k, j, sign,
                               min(deadline, clock() + cap), refute, nodes)
            out.append((j, sign, found.verdict, np.array(flips).reshape(-1, box.size),
                        found.bound))
            if found.verdict is not Verdict.REFUTED:
                break
    return out


def branch(state: Analysis, near_milp: bool = False) -> None:
    """Branch and bound for every open neuron, one side at a time (the side nearer to a proof
    first; a side with a witness is not tried). A neuron is stable only by a PROVEN search; an
    open search's bound tightens the neuron's bounds (for the later layers and rounds). Before
    each round the open neurons get the gradient attack (witnesses.attack_open).
    near_milp: after each round but the last, the neurons left within NEAR of 0 (an extreme at
    about 0, which no bound with rounding margins proves, so larger rounds split them to the end
    in vain) get per-neuron MILPs capped at NEAR_CAP first."""
    seen = (state.signs.pos, state.signs.neg)
    for index, (nodes, cap) in enumerate(ROUNDS):
        attack_open(state)
        if near_milp and index:
            _near_milps(state)
        for i in state.layers:
            state.stage = Stage.BRANCH
            if state.remaining <= 0:
                return
            lo, up = state.bounds[i]
            jobs = []
            for j in nearest_first(lo, up, np.flatnonzero(state.status[i] == UNKNOWN)):
                sides = (1, -1) if up[j] < -lo[j] else (-1, 1)
                jobs.append((j, tuple(s for s in sides if not seen[s < 0][i][j])))
            if not jobs:
                continue
            _run(state, i, jobs, nodes, cap)
            state.tighten_bounds()
            state.apply_bounds()
            optimise(state, after=i)


def _near_milps(state: Analysis) -> None:
    """Per-neuron MILPs for the open neurons within NEAR of 0 (relative to their range)."""
    near = []
    for i, j in state.undecided():
        lo, up = state.bounds[i]
        if min(up[j], -lo[j]) <= NEAR * (up[j] - lo[j]):
            near.append((i, j))
    if near and state.remaining > 0:
        state.stage = Stage.PER_NEURON
        ask(state, near, share=True, cap=NEAR_CAP)


def _run(state: Analysis, i: int, jobs: list, nodes: int, cap: float) -> None:
    """The searches of layer i's jobs, each answer folded into the analysis as it comes."""
    workers = state.workers.workers
    bounds = state.known_bounds()
    chunks = np.array_split(np.arange(len(jobs)), min(len(jobs), 4 * workers.n))
    tasks = [(state.network, state.box, bounds, i, [jobs[t] for t in chunk], nodes, cap,
              state.deadline) for chunk in chunks]
    lo, up = state.bounds[i]

    def take(index: int, answers) -> None:
        for j, sign, verdict, flips, bound in answers:
            state.signs.observe(flips)
            if sign > 0:
                up[j] = min(up[j], bound)
            else:
                lo[j] = max(lo[j], -bound)
            if verdict is Verdict.PROVEN and state.status[i][j] == UNKNOWN:
                state.set(i, j, INACTIVE if sign > 0 else ACTIVE, Evidence.BRANCHING)
        state.apply_signs(Evidence.BRANCHING)

    lost = workers.run(_search, tasks, take, state.deadline)
    if lost and state.remaining > 0:
        state.solver_failed(f"a worker process ended without answering {len(lost)} "
                            f"task(s) of layer {i}")
        state.why.update({(i, j): Reason.SOLVER_TROUBLE for t in lost for j, _ in tasks[t][4]})

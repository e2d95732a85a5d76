"""The per-neuron stage (METHODS 3.4): two MILPs per open neuron, in worker processes when asked
for, each answer folded into the analysis as it comes."""

from __future__ import annotations

import numpy as np

from ..ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE
from ..solvers.obbt import padded
from .neuron_milps import LayerModel, NeuronAnswer, Outcome
from .result import Evidence, Reason
from .state import Analysis, Stage
from .tighten import optimise


def apply_answer(state: Analysis, i: int, answer: NeuronAnswer, share: bool) -> None:
    """Record one neuron's per-neuron MILP answers. A side proven by SCIP makes the neuron
    stable; an input SCIP found counts only through its float64 forward pass (share=True: for
    every neuron, else for this neuron only, as in the published method)."""
    j = answer.neuron
    for side in answer.sides:
        if side.outcome is Outcome.STABLE:
            if state.status[i][j] == UNKNOWN:
                state.set(i, j, INACTIVE if side.sign > 0 else ACTIVE, Evidence.PER_NEURON)
        elif side.outcome is Outcome.OPEN:
            state.why[(i, j)] = side.reason
            if side.message:
                state.solver_failed(f"{side.message} (neuron {j} of layer {i})")
        elif share:
            state.signs.observe(side.x)
        else:
            signs = state.signs.pos if side.sign > 0 else state.signs.neg
            g, err = state.signs.certain(np.atleast_2d(side.x))[i]
            if side.sign * g[0, j] > err[0, j]:
                signs[i][j] = True
                state.signs.witnesses.append(side.x)
    seen = (state.signs.pos, state.signs.neg)
    last = answer.sides[-1] if answer.sides else None
    if last is not None and last.outcome is Outcome.FOUND and not seen[last.sign < 0][i][j]:
        state.why[(i, j)] = Reason.UNCONFIRMED  # the flip did not survive float64: unknown
    if state.signs.pos[i][j] and state.signs.neg[i][j] and state.status[i][j] == UNKNOWN:
        state.set(i, j, UNSTABLE, Evidence.PER_NEURON)
    if share:
        state.apply_signs(Evidence.PER_NEURON)
    state.report()


def nearest_first(lo: np.ndarray, up: np.ndarray, neurons) -> list[int]:
    """The neurons ordered by how near their bounds are to a proof: min(up, -lo) / (up - lo)."""
    neurons = np.asarray(list(neurons), dtype=np.int64)
    gap = np.minimum(up[neurons], -lo[neurons]) / np.maximum(up[neurons] - lo[neurons], 1e-300)
    return [int(j) for j in neurons[np.argsort(gap, kind="stable")]]


def record_duals(state: Analysis, i: int, answer: NeuronAnswer) -> None:
    """Tighten neuron answer.neuron's bounds by the dual bounds of its sides (valid bounds on
    sign * g, moved outward by the LP margin)."""
    lo, up = state.bounds[i]
    j = answer.neuron
    for side in answer.sides:
        if side.dual is not None and side.sign > 0:
            up[j] = min(up[j], padded(side.dual, 1))
        elif side.dual is not None:
            lo[j] = max(lo[j], -padded(side.dual, 1))


def ask(state: Analysis, todo: list[tuple[int, int]], share: bool, cap: float | None = None,
        after_layer=None) -> None:
    """Two MILPs per neuron (can g > FLIP_MARGIN? can g < -FLIP_MARGIN?), stopping early, layer
    by layer, in each layer the neurons nearest to a proof first; the side nearer to a proof is
    asked first. share=False: a solution only answers its own neuron (as in the published
    method). cap: seconds per side at most. Dual bounds tighten the neurons' bounds; then the
    symbolic bounds are recomputed, and after_layer(i) is called, after each layer i."""
    seen = (state.signs.pos, state.signs.neg)
    for i in state.layers:
        lo, up = state.bounds[i]
        open_here = {j for layer, j in todo if layer == i and state.status[i][j] == UNKNOWN}
        jobs = []
        for j in nearest_first(lo, up, sorted(open_here)):
            sides = (1, -1) if up[j] < -lo[j] else (-1, 1)
            jobs.append((j, tuple(s for s in sides if not seen[s < 0][i][j])))
        if not jobs:
            continue
        spec = LayerModel(state.network, state.box, state.bounds, state.phases(), i,
                          tuple(j for j, _ in jobs), cap=cap)

        def take(answer: NeuronAnswer) -> None:
            record_duals(state, i, answer)
            apply_answer(state, i, answer, share)

        lost = state.workers.answers(spec, jobs, state.deadline, take)
        if lost and state.remaining > 0:  # a worker died (or hung) with these neurons
            state.solver_failed(f"a worker process ended without answering {len(lost)} "
                                f"neuron(s) of layer {i}")
            state.why.update({(i, j): Reason.SOLVER_TROUBLE for j in lost})
        state.tighten_bounds()
        state.apply_bounds()
        if after_layer is not None:
            after_layer(i)


def per_neuron(state: Analysis) -> None:
    """Method "per-neuron": our bounds, then two MILPs per undecided neuron."""
    state.stage = Stage.PER_NEURON
    ask(state, state.undecided(), share=False)


ROUND_CAPS = (5.0, None)  # seconds per MILP side in each round (None: no cap)


def rounds(state: Analysis) -> None:
    """Per-neuron MILPs in rounds of growing per-side caps, so that every open neuron gets a
    short try before any gets a long one, each round with the bounds the last one tightened;
    every solution's forward pass answers every neuron it shows; after each layer, the later
    layers' optimised bounds are recomputed with what it proved."""
    def reoptimise(i: int) -> None:
        optimise(state, after=i)
        state.stage = Stage.PER_NEURON

    for cap in ROUND_CAPS:
        if state.remaining <= 0 or not state.undecided():
            return
        state.stage = Stage.PER_NEURON
        state.tighten_bounds()
        state.apply_bounds()
        ask(state, state.undecided(), share=True, cap=cap, after_layer=reoptimise)

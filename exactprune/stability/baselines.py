"""Benchmark baselines, not part of the pipeline: the published per-neuron method (Serra et al.
2020; methods "per-neuron-plain" and "per-neuron-tight") and "per-neuron-parts", the per-neuron
method on cells of the box, merged (the check that completes on ACAS Xu prop_1/2). bench/ and
the tests use them; docs/stability.md has their measurements."""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np

from ..bounds import interval_bounds
from ..domain import Box, sample_points
from ..ir import ACTIVE, INACTIVE, STABLE, UNKNOWN, UNSTABLE, Network
from ..solvers.obbt import padded
from .neuron_milps import LayerModel, NeuronMILPs
from .per_neuron import apply_answer, ask
from .result import Evidence, LayerStability, StabilityResult
from .state import Analysis, Stage

TIGHT_GAP = 1e-2  # relative gap at which a per-neuron-tight MILP stops


def _layered(state: Analysis, tight: bool) -> None:
    """The per-neuron method: layer by layer, two MILPs per open neuron.

    Each layer's MILP models the network up to that layer with big-M constants from the current
    bounds (interval arithmetic at first). Objective limit +-FLIP_MARGIN: "infeasible" proves the
    side stable. tight=False stops at the first solution past the limit (early termination);
    tight=True solves to relative gap TIGHT_GAP. SCIP's dual bound of a solve that found a
    solution is a valid bound on g; it tightens this layer's bounds, and interval propagation
    carries them to the big-M constants of later layers. A solution answers its own neuron only,
    and only if its float64 forward pass has the sign.
    """
    state.stage = Stage.PER_NEURON
    net = state.network
    for i in state.layers:
        todo = np.flatnonzero(state.status[i] == UNKNOWN)
        if todo.size == 0:
            continue
        spec = LayerModel(net, state.box, state.bounds, state.phases(), i,
                          tuple(int(j) for j in todo), TIGHT_GAP if tight else None)
        lo, up = state.bounds[i][0].copy(), state.bounds[i][1].copy()

        def take(answer) -> None:
            for side in answer.sides:
                if side.dual is None:
                    continue
                if side.sign > 0:
                    up[answer.neuron] = min(up[answer.neuron], padded(side.dual, 1))
                else:
                    lo[answer.neuron] = max(lo[answer.neuron], -padded(side.dual, 1))
            apply_answer(state, i, answer, share=False)

        state.workers.answers(spec, [(int(j), (1, -1)) for j in todo], state.deadline, take)
        known = [None] * len(net.layers)
        known[i] = (lo, up)
        state.bounds = interval_bounds(net, state.box, state.known_bounds(known))
        state.apply_bounds()


def per_neuron_plain(state: Analysis) -> None:
    """The published method with early termination (the benchmark's ratio baseline)."""
    _layered(state, tight=False)


def per_neuron_tight(state: Analysis) -> None:
    """The published method solved to TIGHT_GAP (complete in practice; an independent check)."""
    _layered(state, tight=True)


CAP_S = 4.0  # seconds per MILP side of per-neuron-capped


def per_neuron_capped(state: Analysis) -> None:
    """The per-neuron reference of the deep-networks issue: symbolic bounds, witnesses from
    samples and vertices only, then layer by layer two MILPs per open neuron, each side capped
    at CAP_S; a solution answers its own neuron only; dual bounds tighten the later layers."""
    state.stage = Stage.WITNESSES
    state.signs.observe(sample_points(state.box, 2000, 1000, np.random.default_rng(state.seed))[0])
    state.apply_signs(Evidence.WITNESS)
    state.stage = Stage.PER_NEURON
    ask(state, state.undecided(), share=False, cap=CAP_S)


class PhaseTally:
    """Answers about one network's neurons gathered over parts of a box and merged: unstable if
    seen unstable on a part, or proven active on one part and inactive on another; stable if
    proven with one phase; with parts left unanalysed (complete=False) nothing is stable."""

    def __init__(self, net: Network):
        self.net = net
        self.layers = net.two_phase
        self.phases = {i: np.zeros((net.layers[i].n_out, 2), bool) for i in self.layers}
        self.unstable = {i: np.zeros(net.layers[i].n_out, bool) for i in self.layers}

    def add(self, statuses: dict, asked: dict) -> dict:
        """Record the `asked` neurons' statuses on one part ({layer index: codes / mask});
        return those it left UNKNOWN."""
        left = {}
        for i, status in statuses.items():
            self.unstable[i] |= asked[i] & (status == UNSTABLE)
            self.phases[i][:, 0] |= asked[i] & (status == INACTIVE)
            self.phases[i][:, 1] |= asked[i] & (status == ACTIVE)
            self.unstable[i] |= self.phases[i].all(1)
            left[i] = asked[i] & (status == UNKNOWN)
        return left

    def result(self, box: Box, complete: bool, time_s: float, method: str) -> StabilityResult:
        layers = []
        for i in self.layers:
            unstable, phases = self.unstable[i], self.phases[i]
            status = np.where(unstable, UNSTABLE, np.where(phases[:, 1], ACTIVE, INACTIVE))
            status[~unstable & (~phases.any(1) | (not complete))] = UNKNOWN
            layer = self.net.layers[i]
            layers.append(LayerStability(i, layer.act_node, status.astype(np.int8),
                                         [Evidence.PER_NEURON] * status.size,
                                         np.full(status.size, -np.inf),
                                         np.full(status.size, np.inf), layer.origin))
        return StabilityResult(layers, box, time_s, complete, method=method)


def per_neuron_on_parts(net: Network, box: Box, parts: int, cell_limit: float, time_limit: float,
                        workers: int = 1) -> StabilityResult:
    """Baseline "per-neuron-parts": the per-neuron method (our symbolic bounds, then two MILPs per
    open neuron; the float64 forward pass of every MILP solution answers every neuron it shows
    on both sides, as in the pipeline's fallback) on the cells of a grid of `parts` slices per
    input dimension. Smaller cells mean smaller big-M constants, so it completes where the
    per-neuron method on the whole box does not (ACAS Xu prop_1/2); it shares only the
    symbolic bounds with the pipeline.

    Knowledge moves between cells, so that each question is asked where it is needed: a neuron
    seen unstable in one cell (or active in one and inactive in another) is not asked again; a
    cell that leaves neurons open after `cell_limit` s is bisected along its widest dimension and
    only those neurons are asked on the halves, the parent's stable phases fixed. Progress goes
    to stderr.
    """
    tally = PhaseTally(net)
    edges = [np.linspace(lo, hi, parts + 1) for lo, hi in zip(box.lo, box.hi)]
    everything = {i: np.ones_like(u) for i, u in tally.unstable.items()}
    queue = [(np.array([edges[d][c] for d, c in enumerate(cell)]),
              np.array([edges[d][c + 1] for d, c in enumerate(cell)]), everything, None)
             for cell in itertools.product(range(parts), repeat=box.size)]
    span = np.where(box.hi > box.lo, box.hi - box.lo, np.inf)  # fixed inputs are never split
    start = time.monotonic()
    deadline = start + time_limit
    done = 0
    with NeuronMILPs(workers) as pool:
        while queue and time.monotonic() < deadline:
            lo, hi, asked, fixed = queue.pop()
            asked = {i: a & ~tally.unstable[i] for i, a in asked.items()}
            done += 1
            if not any(a.any() for a in asked.values()):
                continue
            state = Analysis(net, Box(lo, hi, "cell"),
                             min(cell_limit, deadline - time.monotonic()), workers=pool)
            if fixed is not None:
                for i, status in fixed.items():
                    for j in np.flatnonzero(np.isin(status, STABLE)):
                        state.set(i, j, status[j], Evidence.PARENT)
                state.tighten_bounds()
            state.apply_bounds()
            ask(state, [(i, j) for i, j in state.undecided() if asked[i][j]], share=True)
            left = tally.add(state.status, asked)
            n_left = sum(int(a.sum()) for a in left.values())
            print(f"per-neuron-parts: cell {done} (width {np.max((hi - lo) / span):.4f}), "
                  f"{sum(int(a.sum()) for a in asked.values())} asked, {n_left} open, "
                  f"{len(queue)} queued, {time.monotonic() - start:.0f} s", file=sys.stderr,
                  flush=True)
            if n_left:
                d = int(np.argmax((hi - lo) / span))
                mid = 0.5 * (lo[d] + hi[d])
                split = np.arange(lo.size) == d
                status = {i: s.copy() for i, s in state.status.items()}
                queue += [(lo, np.where(split, mid, hi), left, status),
                          (np.where(split, mid, lo), hi, left, status)]
    return tally.result(box, not queue, time.monotonic() - start, "per-neuron-parts")

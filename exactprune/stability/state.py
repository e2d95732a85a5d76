"""The mutable state of one stability analysis, keyed by network layer index: bounds, each
neuron's status and evidence, the signs seen, the deadline, and what went wrong."""

from __future__ import annotations

import time

import numpy as np

from .. import bounds as bounds_mod
from ..bounds import interval_bounds, symbolic_bounds
from ..domain import Box
from ..ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Network
from ..solvers import obbt, scip
from .result import Evidence, LayerStability, Named, Reason, StabilityResult
from .signs import SignEvidence


class Stage(Named):
    """The stages of the analysis (progress reports name the current one)."""

    BOUNDS = "bounds"
    WITNESSES = "witnesses"
    OPTIMISE = "optimised bounds"
    SPLITTING = "input splitting"
    BRANCH = "branch and bound"
    OBBT = "lp"
    MILP = "milp"
    PER_NEURON = "per-neuron"
    DONE = "done"


def tolerances() -> dict:
    """The numerical tolerances behind the proofs (the stability package's docstring)."""
    return {"scip_feastol": scip.FEASTOL, "scip_dualfeastol": scip.DUALFEASTOL,
            "scip_epsilon": scip.EPSILON, "flip_margin": scip.FLIP_MARGIN,
            "bounds_rel_margin": bounds_mod.REL_MARGIN,
            "bounds_abs_margin": bounds_mod.ABS_MARGIN, "lp_margin": obbt.LP_MARGIN}


class Analysis:
    """One analysis of `network` on `box`: every dict is keyed by the network layer index i of a
    two-phase layer (`layers`); bounds is indexed by network layer like bounds_mod returns it.

    workers: the per-neuron MILP workers (stability.neuron_milps.NeuronMILPs); seed: of the
    witness search.
    """

    def __init__(self, network: Network, box: Box, time_limit: float, progress=None,
                 interval: bool = False, workers=None, seed: int = 0):
        self.network = network
        self.box = box
        self.start = time.monotonic()
        self.deadline = self.start + time_limit
        self.progress = progress
        self.workers = workers
        self.seed = seed
        self.layers = network.two_phase
        self.status = {i: np.full(network.layers[i].n_out, UNKNOWN, np.int8) for i in self.layers}
        self.evidence = {i: [Evidence.NONE] * network.layers[i].n_out for i in self.layers}
        self.signs = SignEvidence(network, self.layers)
        self.bounds = (interval_bounds if interval else symbolic_bounds)(network, box)
        self.complete = True
        self.interrupted = False
        self.stage = Stage.BOUNDS
        self.trouble: list[str] = []
        self.why: dict[tuple[int, int], Reason] = {}  # the reason of a neuron left unknown

    @property
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def solver_failed(self, message: str) -> None:
        """Record solver trouble in the current stage (what it was to decide stays unknown)."""
        self.trouble.append(f"{self.stage}: {message}")

    def set(self, i: int, j: int, code: int, how: Evidence) -> None:
        self.status[i][j] = code
        self.evidence[i][j] = how

    def apply_bounds(self) -> None:
        for i in self.layers:
            lo, up = self.bounds[i]
            for code, mask in ((ACTIVE, lo >= 0.0), (INACTIVE, up <= 0.0)):
                for j in np.flatnonzero(mask & (self.status[i] == UNKNOWN)):
                    self.set(i, j, code, Evidence.BOUNDS)

    def apply_signs(self, how: Evidence) -> None:
        """Neurons with both strict signs seen are unstable (this overrides tolerance proofs)."""
        for i in self.layers:
            for j in np.flatnonzero(self.signs.unstable(i) & (self.status[i] != UNSTABLE)):
                self.set(i, j, UNSTABLE, how)
        self.report()

    def undecided(self) -> list[tuple[int, int]]:
        """(layer index, neuron) of every UNKNOWN neuron, in network order."""
        return [(i, int(j)) for i in self.layers for j in np.flatnonzero(self.status[i] == UNKNOWN)]

    def open_masks(self) -> dict[int, np.ndarray]:
        """{layer index: mask of its UNKNOWN neurons}."""
        return {i: self.status[i] == UNKNOWN for i in self.layers}

    def phases(self) -> list:
        """Per network layer: the status codes of a two-phase layer, None for the others."""
        out = [None] * len(self.network.layers)
        for i in self.layers:
            out[i] = self.status[i]
        return out

    def known_bounds(self, extra=None) -> list:
        """Current bounds, intersected with `extra` and with the proven phases."""
        known = list(self.bounds)
        for i, pair in enumerate(extra or []):
            if pair is not None:
                known[i] = (np.maximum(known[i][0], pair[0]), np.minimum(known[i][1], pair[1]))
        for i in self.layers:
            lo, up = known[i]
            known[i] = (np.where(self.status[i] == ACTIVE, np.maximum(lo, 0.0), lo),
                        np.where(self.status[i] == INACTIVE, np.minimum(up, 0.0), up))
        return known

    def tighten_bounds(self, extra=None) -> None:
        """Recompute symbolic bounds with the proven phases (and `extra`) as known facts."""
        self.bounds = symbolic_bounds(self.network, self.box, self.known_bounds(extra))

    def report(self) -> None:
        if self.progress is None:
            return
        by: dict[str, int] = {}
        for evidence in self.evidence.values():
            for how in evidence:
                if how:
                    by[str(how)] = by.get(str(how), 0) + 1
        total = sum(s.size for s in self.status.values())
        self.progress({"stage": str(self.stage), "decided": sum(by.values()), "total": total,
                       "by_evidence": by, "elapsed_s": time.monotonic() - self.start})

    def reason(self, i: int, j: int) -> Reason:
        """Why neuron j of layer i is still unknown."""
        if self.interrupted:
            return Reason.INTERRUPTED
        if (i, j) in self.why:
            return self.why[(i, j)]
        if self.remaining <= 0:
            return Reason.TIME_LIMIT
        return Reason.SOLVER_TROUBLE if self.trouble else Reason.NOT_TRIED

    def result(self, method: str) -> StabilityResult:
        self.stage = Stage.DONE
        self.report()
        layers = []
        for i in self.layers:
            layer = self.network.layers[i]
            lo, up = self.bounds[i]
            why = [self.reason(i, j) if code == UNKNOWN else None
                   for j, code in enumerate(self.status[i])]
            layers.append(LayerStability(i, layer.act_node, self.status[i].copy(),
                                         list(self.evidence[i]), lo.copy(), up.copy(),
                                         layer.origin, why))
        complete = self.complete and not any((s == UNKNOWN).any() for s in self.status.values())
        return StabilityResult(
            layers, self.box, time.monotonic() - self.start, complete,
            self.signs.witness_array(), tolerances(), method, interrupted=self.interrupted,
            trouble=list(self.trouble))

"""The fixpoint driver: data-free rules, then (with a domain) stability analysis -> stable
reductions -> data-free rules, re-analysing the reduced network until a round changes nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..domain import Box
from ..ir import Network
from ..stability import StabilityResult
from .base import Action, name_layers
from .cleanup import drop_empty_layers, remove_constant, remove_dead
from .lumping import lump
from .precision import PrecisionGuard
from .stable import RANK_TOL, reduce_stable

MAX_ROUNDS = 10


@dataclass(eq=False)
class FixpointResult:
    """The reduced network, every action in order, and the analyses that justified them."""

    network: Network
    actions: list[Action] = field(default_factory=list)
    stability: StabilityResult | None = None  # the first analysis (of the data-free reduced net)
    analysed: Network | None = None  # the network the first analysis ran on
    analyses: list[StabilityResult] = field(default_factory=list)
    guard: PrecisionGuard | None = None  # the precision guard of the merges and folds

    @property
    def complete(self) -> bool:
        """False when some analysis stopped early (its undecided neurons were kept)."""
        return all(result.complete for result in self.analyses)


def reduce_data_free(network: Network, lump_tol: float = 0.0, rank_tol: float = RANK_TOL,
                     guard: PrecisionGuard | None = None) -> tuple[Network, list[Action]]:
    """Rules that hold on all of R^n (identity layers, constant, dead, lumping) to a fixpoint."""
    actions: list[Action] = []
    while True:
        network, a = reduce_stable(network, None, rank_tol, guard)
        network, b = remove_constant(network)
        network, c = remove_dead(network)
        network, d = lump(network, lump_tol, guard)
        network = drop_empty_layers(network)
        round_actions = a + b + c + d
        if not round_actions:
            return network, actions
        actions += round_actions


def reduce_network(network: Network, box: Box | None = None, *,
                   analyse: Callable[..., StabilityResult] | None = None,
                   time_limit: float | None = None, lump_tol: float = 0.0,
                   rank_tol: float = RANK_TOL, progress=None,
                   max_rounds: int = MAX_ROUNDS) -> FixpointResult:
    """Reduce `network` exactly; with a box, on that domain (see the module docstring).

    analyse(network, box, time_limit=..., progress=...) -> StabilityResult: the stability
    analyser, needed with a box; time_limit bounds all analyses together (the first one always
    runs; None: the analyser's default per run).
    Merges and folds pass a precision guard on the box (without one: the unit box, where the
    verification compares too); result.guard says what it refused.
    """
    network = name_layers(network)
    n = network.n_inputs
    guard = PrecisionGuard(network, box if box is not None else Box(np.zeros(n), np.ones(n)))
    network, actions = reduce_data_free(network, lump_tol, rank_tol, guard)
    result = FixpointResult(network, actions, guard=guard)
    if box is None:
        return result
    if analyse is None:
        raise ValueError("reduce_network on a box needs a stability analyser (analyse=...)")
    start = time.monotonic()
    for _ in range(max_rounds):
        if not result.network.two_phase:
            break
        remaining = None
        if time_limit is not None:
            remaining = time_limit - (time.monotonic() - start)
            if result.analyses and remaining <= 0:
                break
            remaining = max(remaining, 0.0)
        kwargs = {} if remaining is None else {"time_limit": remaining}
        if progress is not None:
            kwargs["progress"] = progress
        stability = analyse(result.network, box, **kwargs)
        if not result.analyses:
            result.analysed = result.network
        result.analyses.append(stability)
        network, stable_actions = reduce_stable(result.network, stability.status_by_layer(),
                                                rank_tol, guard, box)
        network, free_actions = reduce_data_free(network, lump_tol, rank_tol, guard)
        result.network = network
        result.actions += stable_actions + free_actions
        if stability.interrupted or (not stable_actions and not free_actions):
            break
    result.stability = result.analyses[0] if result.analyses else None
    return result

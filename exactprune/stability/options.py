"""The options of a stability analysis, shared by the API and the command line."""

from __future__ import annotations

from dataclasses import dataclass

from ..cluster import ClusterSpec

DEFAULT_TIME_LIMIT = 600.0  # seconds, for every command that analyses (one default)


@dataclass(frozen=True)
class StabilityOptions:
    """time_limit: seconds for the whole analysis (undecided neurons are then unknown, kept).
    method: a key of exactprune.stability.METHODS. workers: processes for the per-neuron MILPs
    and branch-and-bound searches (1: everything in this process), or a ClusterSpec (its
    workers). seed: of the witness search's random points."""

    time_limit: float = DEFAULT_TIME_LIMIT
    method: str = "auto"
    workers: int | ClusterSpec = 1
    seed: int = 0

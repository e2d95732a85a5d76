"""The options of a stability analysis, shared by the API and the command line."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TIME_LIMIT = 600.0  # seconds, for every command that analyses (one default)


@dataclass(frozen=True)
class StabilityOptions:
    """time_limit: seconds for the whole analysis (undecided neurons are then unknown, kept).
    method: a key of exactprune.stability.METHODS. workers: processes for the per-neuron MILPs
    (1: everything in this process). seed: of the witness search's random points."""

    time_limit: float = DEFAULT_TIME_LIMIT
    method: str = "auto"
    workers: int = 1
    seed: int = 0

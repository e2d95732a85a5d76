"""What both enumerations (LP cells in enumerate.py, vertex cells in vertex.py) share: the result
types, the clock (time limit, progress), the counters and the witness re-check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..ir import Network
from ..parallel import clock
from .problem import Problem
from .recheck import WitnessCheck


@dataclass
class Cell:
    """One region: its constraints (rows @ u <= rhs, base coordinates), an interior point, pattern."""

    rows: np.ndarray
    rhs: np.ndarray
    point: np.ndarray
    pattern: np.ndarray  # bool per two-phase hidden neuron, network order


@dataclass
class RegionCount:
    """The result of a count. `exact` is False when a limit, an interrupt or LP trouble means the
    count is only a lower bound (`note` says why)."""

    regions: int
    exact: bool
    method: str
    time_s: float
    cells_per_layer: list[int] = field(default_factory=list)
    lps: int = 0
    outer_lps: int = 0  # small LPs in frame coordinates (outer.py), not counted in lps
    point_splits: int = 0
    verified: bool = True
    note: str = ""
    cells: list[Cell] | None = None
    path: str = ""  # for method "exact": "vertex" (LP-free, low dimension) or "lp"
    interrupted: bool = False  # Ctrl-C stopped the count (it is then a lower bound)

    def to_json(self) -> dict:
        return {"regions": int(self.regions), "exact": self.exact, "method": self.method,
                "time_s": float(self.time_s), "cells_per_layer": list(self.cells_per_layer),
                "lps": self.lps, "outer_lps": self.outer_lps, "point_splits": self.point_splits,
                "verified": self.verified, "note": self.note, "path": self.path,
                "interrupted": self.interrupted}


class Search:
    """Clock, counters and witness check of one enumeration."""

    def __init__(self, problem: Problem, network: Network, time_limit: float | None,
                 keep_cells: bool, progress: Callable[[int, float], None] | None):
        self.p, self.network = problem, network
        self.keep_cells = keep_cells
        self.progress = progress
        self.start = clock()
        self.deadline = None if time_limit is None else self.start + time_limit
        self.last_report = 0.0
        self.regions = 0
        self.cells_per_layer = [0] * len(problem.layers)
        self.point_splits = 0
        self.stopped = ""
        self.trouble = 0
        self.cells: list[Cell] = []
        self.check = WitnessCheck(problem, network)

    def out_of_time(self) -> bool:
        """Whether the count must stop (time limit, or stopped for another reason); reports
        progress about twice a second."""
        now = clock()
        if self.progress is not None and now - self.last_report > 0.5:
            self.last_report = now
            self.progress(self.regions, now - self.start)
        if self.deadline is not None and now > self.deadline:
            self.stopped = "time limit"
        return bool(self.stopped)

    def result(self, lps: int, trouble: int, path: str, outer_lps: int = 0) -> RegionCount:
        notes = []
        if self.stopped:
            notes.append(f"stopped by {self.stopped}: lower bound")
        if trouble:
            notes.append(f"{trouble} LP(s), witness(es) or vertex cell(s) failed: lower bound")
        verified = self.check.verified(self.regions, finished=not self.stopped)
        if not verified:
            notes.append("witness re-check failed")
        return RegionCount(
            regions=self.regions, exact=not notes, method="exact",
            time_s=clock() - self.start, cells_per_layer=self.cells_per_layer,
            lps=lps, outer_lps=outer_lps, point_splits=self.point_splits, verified=verified,
            note="; ".join(notes), cells=self.cells if self.keep_cells else None, path=path,
            interrupted=self.stopped == "interrupted")

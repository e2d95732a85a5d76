"""The cells after the first layer of an LP enumeration, counted in worker processes
(count_regions(..., workers=N)) with exactprune.parallel.

The parent runs the first layer and hands its cells (enumerate.CellTask) out in chunks, about
CHUNKS_PER_WORKER per worker, each with the CellJob every worker builds its own enumerator from
once (worker_cache, by key). The parent merges the workers' counts, counters and the patterns
their float64 re-check saw (for the distinctness check). The cells of a chunk without a result
(its worker died, or hung past the deadline plus exactprune.parallel.GRACE_S, or Ctrl-C) count as
one region each: the count is then a lower bound, and the note says why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from ..cluster import ClusterSpec
from ..ir import Network
from ..parallel import Workers, worker_cache
from .enumerate import CellTask, LPEnumerator
from .problem import Problem

CHUNKS_PER_WORKER = 8
LOST = "a worker process that died or hung"  # the stop reason of a count that lost cells


@dataclass(frozen=True, eq=False)
class CellJob:
    """What a worker needs to count the cells of one enumeration."""

    problem: Problem
    network: Network
    deadline: float | None  # parallel.clock() at which the count stops
    keep_cells: bool
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # one enumerator per key


def _count_chunk(task: tuple[CellJob, list[CellTask]]) -> dict:
    """In a worker: count a chunk of cells with the worker's enumerator of the job."""
    job, cells = task
    state = worker_cache(job.key, lambda: LPEnumerator.for_worker(job.problem, job.network,
                                                                   job.deadline, job.keep_cells))
    return state.count_cells(cells)


def run_in_workers(state: LPEnumerator, workers: int | ClusterSpec) -> None:
    """state.run(), with the cells after the first layer counted by `workers` processes (or on
    that cluster)."""
    cells = state.first_layer_cells()
    if not cells:
        return
    job = CellJob(state.p, state.network, state.deadline, state.keep_cells)
    chunks, left = [cells], {0}  # until the chunks are made (a cluster starts): all unexplored

    def take(index: int, out: dict) -> None:
        state.merge(out)
        left.discard(index)

    try:
        with Workers(workers) as pool:
            parts = np.array_split(np.arange(len(cells)),
                                   min(len(cells), CHUNKS_PER_WORKER * pool.n))
            chunks = [[cells[i] for i in part] for part in parts]
            left = set(range(len(chunks)))
            lost = pool.run(_count_chunk, [(job, chunk) for chunk in chunks], take, state.deadline,
                            state.out_of_time)
        if lost and not state.stopped:
            state.stopped = LOST
    finally:
        state.count_unexplored(sum(len(chunks[index]) for index in left))

"""count_regions: the exact count of a network's regions on a box, by the enumeration that fits.

For input dimension <= VERTEX_MAX_DIM the LP-free vertex enumeration (vertex.py), else the cell
LPs (enumerate.py), their cells after the first layer optionally in worker processes
(cell_workers.py); same result type, same witness re-check. Ctrl-C ends the count with the
regions so far (a lower bound, `interrupted`).
"""

from __future__ import annotations

from typing import Callable

from ..cluster import ClusterSpec
from ..domain import Box
from ..ir import Network
from ..parallel import spreads
from ..stability import StabilityResult
from .cell_workers import run_in_workers
from .enumerate import LPEnumerator
from .options import PATHS
from .problem import Problem, box_problem
from .search import RegionCount
from .vertex import VERTEX_MAX_DIM, VertexEnumerator


def count_problem(problem: Problem, network: Network, time_limit: float | None = None,
                  samples: int = 256, seed: int = 0, keep_cells: bool = False,
                  progress: Callable[[int, float], None] | None = None,
                  path: str | None = None, workers: int | ClusterSpec = 1) -> RegionCount:
    """Enumerate the regions of a Problem (see problem.py).

    path: "vertex" splits vertex-represented cells without LPs (vertex.py), "lp" splits cells
    with LPs (enumerate.py); None: "vertex" when the input dimension is at most VERTEX_MAX_DIM.
    workers: > 1 (or a ClusterSpec) counts the cells after the first layer in that many worker
    processes (or on that cluster; "lp" only).
    """
    if path not in (None, *PATHS):
        raise ValueError(f"path must be one of {', '.join(PATHS)} or None, not {path!r}")
    if problem.dim == 0:  # every input fixed: the domain is one point, in one region
        return RegionCount(regions=1, exact=True, method="exact", time_s=0.0,
                           note="the domain is a single point: one region")
    if (path or ("vertex" if problem.dim <= VERTEX_MAX_DIM else "lp")) == "vertex":
        state = VertexEnumerator(problem, network, time_limit, keep_cells, progress)
    else:
        state = LPEnumerator(problem, network, time_limit, samples, seed, keep_cells, progress)
    try:
        if spreads(workers) and isinstance(state, LPEnumerator):
            run_in_workers(state, workers)
        else:
            state.run()
    except KeyboardInterrupt:
        state.stopped = "interrupted"
    if isinstance(state, VertexEnumerator):
        return state.result(0, state.trouble, "vertex")
    outer = state.arrangement.outer
    return state.result(state.lp.solves + state.worker_lps, state.trouble + state.arrangement.trouble,
                        "lp", (outer.solves if outer is not None else 0) + state.worker_outer)


def count_regions(network: Network, box: Box, time_limit: float | None = None,
                  stability: StabilityResult | None = None, samples: int = 256, seed: int = 0,
                  progress: Callable[[int, float], None] | None = None,
                  path: str | None = None, workers: int | ClusterSpec = 1) -> RegionCount:
    """Count the activation regions of `network` on `box` exactly (a lower bound if stopped).

    stability: optional proven phases (neurons stable on the box never split anything).
    progress: called about twice a second with (regions so far, elapsed seconds).
    path: "vertex" (LP-free) or "lp" forces an enumeration; None: by input dimension.
    workers: processes (or a ClusterSpec) for the cells after the first layer (path "lp"; 1 =
    this process).
    """
    return count_problem(box_problem(network, box, stability), network, time_limit, samples,
                         seed, progress=progress, path=path, workers=workers)

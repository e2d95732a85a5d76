"""The options of a region count, shared by the API and the command line."""

from __future__ import annotations

from dataclasses import dataclass

from ..cluster import ClusterSpec
from ..stability.options import DEFAULT_TIME_LIMIT
from .mipbound import CONFIDENCE, TRIALS

METHODS = ("exact", "milp", "bounds", "sample", "mipbound")  # RegionOptions.method
PATHS = ("vertex", "lp")  # the two enumerations of method "exact" (count_regions(path=...))


@dataclass(frozen=True)
class RegionOptions:
    """method: "exact" enumerates the regions (count_regions; a lower bound when stopped),
    "milp" lists the activation patterns in SCIP's branch and bound (count_regions_milp, a
    verified lower bound), "bounds" counts nothing (only the architecture's upper bounds,
    region_bounds), "sample" counts the distinct patterns of uniform samples (sample_regions, a
    lower bound), "mipbound" the probabilistic lower bound from random XOR constraints
    (mipbound.mip_bound: with `trials` trials per XOR count, holding with probability >=
    `confidence`). time_limit: seconds for the count ("exact", "milp" and 2-D slices). samples:
    uniform points for "sample". workers: processes for "exact" (1: everything in this
    process), or a ClusterSpec (its workers)."""

    method: str = "exact"
    time_limit: float = DEFAULT_TIME_LIMIT
    samples: int = 100_000
    workers: int | ClusterSpec = 1
    trials: int = TRIALS
    confidence: float = CONFIDENCE

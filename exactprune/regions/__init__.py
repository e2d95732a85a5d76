"""Linear regions of a ReLU network on a domain: exact enumeration, SCIP search, bounds, slices.

Public API:
    count_regions(network, box, time_limit=None, stability=None, path=None, workers=1)
        -> RegionCount
    count_regions_milp(network, box, time_limit=None) -> RegionCount   (SCIP search, lower bound)
    sample_regions(network, box, samples=100_000) -> RegionCount                   (lower bound)
    mip_bound(network, box, trials=10, confidence=0.99) -> RegionCount   (probabilistic lower bound)
    region_bounds(network) -> {name: int}                                          (upper bounds)
    slice_regions(network, box, plane=None) -> SliceResult                         (2-D slices)
    plot_slice(slice_result, network, path), render_slice(...) -> PNG bytes        (matplotlib)
    RegionOptions (METHODS, PATHS), RegionsReport (the result of `exactprune regions`, its JSON)
"""

from .count import count_regions
from .count_milp import count_regions_milp
from .mipbound import mip_bound
from .options import METHODS, PATHS, RegionOptions
from .plot import plot_slice, render_slice, require_matplotlib
from .report import RegionsReport
from .sample import sample_regions
from .search import Cell, RegionCount
from .slices import SliceResult, slice_regions
from .upper_bounds import region_bounds, theorem1

__all__ = ["METHODS", "PATHS", "Cell", "RegionCount", "RegionOptions", "RegionsReport",
           "SliceResult", "count_regions", "count_regions_milp", "mip_bound", "plot_slice", "region_bounds",
           "render_slice", "require_matplotlib", "sample_regions", "slice_regions", "theorem1"]

"""exactprune: exact compression of ReLU networks in ONNX files.

Public API (imported on first use, so that `import exactprune` and the command line start fast):
    load(path) -> Network                       the IR of an ONNX file (float64)
    load_model(path) -> LoadedModel             the same with where it came from (stored domain, ...)
    save(network, path, domain=None, actions=None, protect=None)   write a Network as ONNX, atomically
    analyse_stability(network, box, StabilityOptions(...)) -> StabilityResult
    compress(model, domain=None, CompressOptions(...)) -> CompressResult   exact compression, verified
    prove(a, b, domain=None, FormalOptions(...)) -> FormalReport   formal equivalence within T
    count_regions(network, box, ...) -> RegionCount  linear regions
    prune_model(loaded, load_labelled(path, n), PruneOptions(...)) -> PruneResult   not exact
The options dataclasses (StabilityOptions, CompressOptions, CheckOptions, FormalOptions,
RegionOptions) hold
every default. Their `workers` is a count of local processes or a ClusterSpec (a Dask cluster:
ClusterSpec.parse("local:4") or a scheduler address; pip install 'exactprune[cluster]').
"""

from importlib import import_module

from ._version import __version__

_PUBLIC = {"load": ".onnx_io", "load_model": ".onnx_io", "save": ".onnx_io",
           "analyse_stability": ".stability", "StabilityOptions": ".stability",
           "compress": ".pipeline", "CompressOptions": ".pipeline",
           "prove": ".pipeline", "CheckOptions": ".equivalence",
           "FormalOptions": ".equivalence", "count_regions": ".regions",
           "RegionOptions": ".regions", "prune_model": ".pruning", "PruneOptions": ".pruning",
           "load_labelled": ".domain", "ClusterSpec": ".cluster"}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'exactprune' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name], __name__), name)

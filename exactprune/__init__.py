"""exactprune: exact compression of ReLU networks in ONNX files.

Public API (imported on first use, so that `import exactprune` and the command line start fast):
    load(path) -> Network                      read an ONNX model into the dense IR
    save(network, path, domain=None, actions=None) write a Network as ONNX (atomically)
    compress(model_or_path, domain=None, ...) -> CompressResult   exact compression + verification
    analyse_stability(network, box, time_limit=600, method="auto") -> StabilityResult
"""

from importlib import import_module

from ._version import __version__

_PUBLIC = {"load": ".onnx_io", "save": ".onnx_io", "compress": ".pipeline",
           "analyse_stability": ".stability"}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'exactprune' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name], __name__), name)

"""exactprune: exact compression of ReLU networks in ONNX files.

Public API:
    load(path) -> Network                      read an ONNX model into the dense IR
    save(network, path, domain=None, actions=None) write a Network as ONNX (atomically)
    compress(model_or_path, domain=None, ...) -> CompressResult   exact compression + verification
    analyse_stability(network, box, time_limit=600, method="auto") -> StabilityResult
"""

__version__ = "0.1.0"

from .onnx_io import load, save  # noqa: E402
from .compress import compress  # noqa: E402
from .stability import analyse_stability  # noqa: E402

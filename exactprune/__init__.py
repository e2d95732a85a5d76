"""exactprune: exact compression of ReLU networks in ONNX files.

Public API:
    load(path) -> Network                      read an ONNX model into the dense IR
"""

__version__ = "0.1.0"

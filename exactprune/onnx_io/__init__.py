"""ONNX import (an op registry, one converter per op family) and export of the dense IR."""

from .exporter import save, to_onnx
from .importer import load

__all__ = ["load", "save", "to_onnx"]

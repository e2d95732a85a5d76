"""ONNX import (an op registry, one converter per op family; one loader returning the Network with
its provenance) and export of the IR."""

from .exporter import save, to_onnx
from .importer import LoadedModel, convert, load, load_model, read_model

__all__ = ["LoadedModel", "convert", "load", "load_model", "read_model", "save", "to_onnx"]

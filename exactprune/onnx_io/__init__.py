"""ONNX import (an op registry, one converter per op family; one loader returning the Network with
its provenance) and export of the IR."""

from .exporter import save, to_onnx, written_network
from .importer import LoadedModel, convert, load, load_model, read_model
from .interface import Interface, default_interface

__all__ = ["Interface", "LoadedModel", "convert", "default_interface", "load", "load_model",
           "read_model", "save", "to_onnx", "written_network"]

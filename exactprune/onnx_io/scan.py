"""Checks of the whole graph before anything is converted: declared sizes, constants that match
their declared dims and are finite. (Unsupported ops and branches: split.py.)

Nothing proportional to a declared dimension is allocated before it is checked: the dense IR
holds at most MAX_FEATURES values per sample and MAX_DENSE entries per weight matrix.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import InvalidModelError, UnsupportedModelError, first_line
from .context import node_label

MAX_FEATURES = 2 ** 24  # values per sample of any tensor of the chain
MAX_DENSE = 2 ** 27  # entries of one dense weight matrix (1 GiB in float64)


def feature_count(dims, what: str) -> int:
    """The number of values of a tensor with per-sample dims `dims` (exact, no overflow);
    UnsupportedModelError when it is beyond what the dense IR can hold."""
    bad = [int(d) for d in dims if int(d) < 1]
    if bad:
        raise InvalidModelError(f"{what} has shape (N, {', '.join(map(str, dims))}): dimension "
                                f"{bad[0]} (every dimension after the batch must be at least 1)")
    count = math.prod(int(d) for d in dims)
    if count > MAX_FEATURES:
        raise UnsupportedModelError(
            f"{what} has shape (N, {', '.join(map(str, dims))}): {count:,} values per sample, "
            f"more than the {MAX_FEATURES:,} a dense fully connected network can hold")
    return count


def check_dense_size(rows: int, cols: int, where: str) -> None:
    """Refuse a dense matrix of rows x cols before it is allocated."""
    if rows * cols > MAX_DENSE:
        raise UnsupportedModelError(
            f"{where} would need a dense {rows:,} x {cols:,} weight matrix "
            f"({8 * rows * cols / 2 ** 30:.1f} GiB): too large for exactprune's dense IR")


BOUND_OPS = {"Clip", "Min", "Max"}  # their constant operands may be +-inf (no bound)


def check_finite(graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> None:
    """Raise InvalidModelError for the first constant with NaN/inf values, naming its reader."""
    for node in graph.node:
        for name in node.input:
            value = constants.get(name)
            if value is None or not np.issubdtype(value.dtype, np.floating):
                continue
            unbounded = node.op_type in BOUND_OPS and name in node.input[1:]  # +-inf: no bound
            ok = ~np.isnan(value) if unbounded else np.isfinite(value)
            bad = int(np.size(value) - np.count_nonzero(ok))
            if bad:
                raise InvalidModelError(
                    f"initializer {name!r} (used by node {node_label(node)}, {node.op_type}) "
                    f"has {bad} NaN/inf value(s)"
                )


def tensor_array(tensor: onnx.TensorProto, what: str) -> np.ndarray:
    """The values of a stored tensor; InvalidModelError when they do not fit its declared dims."""
    dims = [int(d) for d in tensor.dims]
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError, MemoryError) as exc:
        reason = first_line(exc)
        raise InvalidModelError(f"{what} declares dims {dims} ({math.prod(dims):,} values) that "
                                f"do not match its data ({reason})") from None


def constant_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers and the outputs of Constant nodes with a dense tensor value."""
    values = {init.name: tensor_array(init, f"initializer {init.name!r}")
              for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = tensor_array(
                        attr.t, f"the value of Constant node {node_label(node)}")
    return values

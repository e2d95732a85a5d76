"""Checks of the whole graph before anything is converted: unsupported ops (all of them at once),
branching topology, declared sizes, constants that match their declared dims and are finite.

Nothing proportional to a declared dimension is allocated before it is checked: the dense IR
holds at most MAX_FEATURES values per sample and MAX_DENSE entries per weight matrix.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import InvalidModelError, UnsupportedModelError
from .context import node_label
from .registry import resolve

CONV_OPS = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"}
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


SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Concat", "Slice", "ConstantOfShape", "Cast",
             "Size", "Range", "Expand"}
SUPPORTED_HINT = "'exactprune inspect --supported' lists the supported ops"
SHAPE_HINT = ("they look like a shape computation: simplify the model with onnxslim or onnxsim, "
              "or export it with constant folding (torch.onnx.export(..., "
              "do_constant_folding=True))")


def _describe(items) -> str:
    return ", ".join(f"node {name} ({op}, opset {opset})" for name, op, opset in items)


def check_ops(graph: onnx.GraphProto, opsets: dict[str, int]) -> None:
    """Raise one UnsupportedModelError naming every node whose op has no converter, with the
    likely fix where one is known."""
    missing = []
    for node in graph.node:
        opset = opsets.get(node.domain or "", opsets.get("ai.onnx", 0))
        if resolve(node.op_type, opset, node.domain) is None:
            label = node.op_type if not node.domain else f"{node.domain}.{node.op_type}"
            missing.append((node_label(node), label, opset))
    if not missing:
        return
    conv = [m for m in missing if m[1] in CONV_OPS]
    others = [m for m in missing if m[1] not in CONV_OPS]
    if conv:
        message = (f"convolutional layers are not supported ({_describe(conv)}): exactprune "
                   "handles fully connected networks")
        if others:
            message += f"; also unsupported: {_describe(others)}"
    else:
        message = f"unsupported ops: {_describe(others)}; {SUPPORTED_HINT}"
        if {op for _, op, _ in others} <= SHAPE_OPS:
            message += f"; {SHAPE_HINT}"
    raise UnsupportedModelError(message)


def check_chain(graph: onnx.GraphProto, input_name: str) -> None:
    """The tensors computed from the input must form a chain: no node combines two of them and
    none is read twice (no residual or fan-out branches)."""
    computed = {input_name}
    readers: dict[str, list[str]] = {}
    for node in graph.node:
        inputs = [name for name in node.input if name in computed]
        if len(inputs) >= 2:
            raise UnsupportedModelError(
                f"node {node_label(node)} ({node.op_type}) combines computed tensors "
                f"{', '.join(repr(i) for i in dict.fromkeys(inputs))} (a residual branch): "
                "exactprune handles chains of layers"
            )
        for name in inputs:
            readers.setdefault(name, []).append(f"node {node_label(node)}")
        if inputs:
            computed.update(name for name in node.output if name)
    for out in graph.output:
        readers.setdefault(out.name, []).append("the graph output")
    for name, who in readers.items():
        if len(who) > 1:
            raise UnsupportedModelError(
                f"tensor {name!r} is read by {' and '.join(who)}: exactprune handles chains "
                "of layers, not branching graphs"
            )
    if graph.output and graph.output[0].name not in computed:
        raise UnsupportedModelError(f"output {graph.output[0].name!r} does not depend on the "
                                    f"input {input_name!r}")


def check_finite(graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> None:
    """Raise InvalidModelError for the first constant with NaN/inf values, naming its reader."""
    for node in graph.node:
        for name in node.input:
            value = constants.get(name)
            if value is None or not np.issubdtype(value.dtype, np.floating):
                continue
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
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
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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

"""Checks of the whole graph before anything is converted: unsupported ops (all of them at once),
branching topology, non-finite constants."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import InvalidModelError, UnsupportedModelError
from .context import node_label
from .registry import resolve, supported_ops

CONV_OPS = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"}


def _describe(items) -> str:
    return "; ".join(f"node {name}, op {op}, opset {opset}" for name, op, opset in items)


def check_ops(graph: onnx.GraphProto, opsets: dict[str, int]) -> None:
    """Raise one UnsupportedModelError naming every node whose op has no converter."""
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
        message = (f"unsupported ops ({_describe(others)}): exactprune handles fully connected "
                   f"ReLU networks made of {', '.join(supported_ops())}")
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


def constant_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers and the outputs of Constant nodes with a dense tensor value."""
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values

"""Where the body ends: the graph as body, folded constants and tail, decided before anything
is converted, with every problem of the graph named at once.

The body is the chain of nodes, from the input on, that the analysis understands: each reads the
previous one's tensor (and constants), which no other node reads. It ends at the first node
without a converter (or one its converter does not take, e.g. a Cast to an integer type), or
where its tensor is read twice or is a graph output. Every later node computed from the body's
tensor is the tail, copied into the compressed model as it is: Softmax, ArgMax, ZipMap, a second
graph output... A tail that still has layers (Gemm, MatMul, Conv...) means a nonlinearity the
analysis cannot see through sits between layers, or the graph branches: that is refused, naming
the nodes. Nodes computed from constants and from shapes of body tensors only are folded.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..errors import UnsupportedModelError
from .context import node_label
from .registry import in_body, opset_of

CONV_OPS = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"}
LAYER_OPS = CONV_OPS | {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "Einsum", "LSTM",
                        "GRU", "RNN", "LinearRegressor", "LinearClassifier"}
SHAPE_READERS = {"Shape", "Size"}
SUPPORTED_HINT = "'exactprune inspect --supported' lists the supported ops"


@dataclass(frozen=True)
class Split:
    """Node indices of the body, of the folded constants and of the tail; the body's tensor."""

    body: frozenset[int]
    folded: frozenset[int]
    tail: frozenset[int]
    body_output: str


def _describe(nodes, opsets) -> str:
    return ", ".join(f"node {node_label(n)} ({_op(n)}, opset {opset_of(n, opsets)})"
                     for n in nodes)


def _op(node: onnx.NodeProto) -> str:
    return f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def split_graph(graph: onnx.GraphProto, input_name: str, opsets: dict[str, int]) -> Split:
    """The Split of a graph with one input; UnsupportedModelError naming what cannot be read."""
    readers: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type not in SHAPE_READERS:
            for name in dict.fromkeys(node.input):
                readers.setdefault(name, []).append(f"node {node_label(node)}")
    for out in graph.output:
        readers.setdefault(out.name, []).append("the graph output")
    body_tensors, computed = {input_name}, {input_name}
    body, folded, tail = set(), set(), set()
    end, closed = input_name, False
    for k, node in enumerate(graph.node):
        reads = [name for name in node.input if name in computed]
        if not reads or (node.op_type in SHAPE_READERS and set(reads) <= body_tensors):
            folded.add(k)
            continue
        if (not closed and reads == [end] and len(readers.get(end, [])) == 1
                and end not in (o.name for o in graph.output) and in_body(node, opsets)):
            body.add(k)
            end = node.output[0]
            body_tensors.update(name for name in node.output if name)
        else:
            closed = True
            tail.add(k)
        computed.update(name for name in node.output if name)
    _check_conv([graph.node[k] for k in sorted(tail)], opsets)
    _check_tail(graph, [graph.node[k] for k in sorted(tail)], end, body_tensors, readers, opsets)
    for out in graph.output:
        if out.name not in computed:
            raise UnsupportedModelError(f"output {out.name!r} does not depend on the input "
                                        f"{input_name!r}")
    if not body:
        first = graph.node[min(tail)] if tail else None
        raise UnsupportedModelError(
            "no layer exactprune can analyse comes before "
            + (_describe([first], opsets) if first is not None else "the output")
            + f"; {SUPPORTED_HINT}")
    return Split(frozenset(body), frozenset(folded), frozenset(tail), end)


def _check_conv(tail, opsets) -> None:
    """Refuse convolutions without a converter (ConvTranspose, quantised ones), naming them and
    every other op the body could not take before the last layer."""
    conv = [node for node in tail if node.op_type in CONV_OPS and not in_body(node, opsets)]
    if not conv:
        return
    last = max(k for k, node in enumerate(tail) if node.op_type in LAYER_OPS)
    others = [node for node in tail[:last]
              if node.op_type not in CONV_OPS and not in_body(node, opsets)]
    raise UnsupportedModelError(
        f"these convolutional layers are not supported ({_describe(conv, opsets)}): exactprune "
        "reads Conv (2-D), AveragePool and GlobalAveragePool"
        + (f"; also unsupported: {_describe(others, opsets)}" if others else ""))


def _check_tail(graph, tail, end: str, body_tensors: set, readers: dict, opsets) -> None:
    """Refuse a tail that reads the body's inner tensors, or computes layers (a branch or a
    hidden nonlinearity); every offending node is named."""
    inner = body_tensors - {end}
    for node in tail:
        if any(name in inner for name in node.input):
            raise UnsupportedModelError(
                f"node {node_label(node)} ({node.op_type}) after the layers reads "
                f"{', '.join(repr(n) for n in node.input if n in inner)} inside them: exactprune "
                "handles chains of layers")
    layers = [k for k, node in enumerate(tail) if node.op_type in LAYER_OPS]
    if not layers:
        return
    produced = {end} | {name for node in tail for name in node.output}
    for node in tail:
        combined = [name for name in dict.fromkeys(node.input) if name in produced]
        if len(combined) >= 2:
            raise UnsupportedModelError(
                f"node {node_label(node)} ({node.op_type}) combines computed tensors "
                f"{', '.join(repr(name) for name in combined)} (a residual branch): exactprune "
                "handles chains of layers")
    if len(readers.get(end, [])) > 1:
        raise UnsupportedModelError(
            f"tensor {end!r} is read by {' and '.join(readers[end])}: exactprune handles chains "
            "of layers, not branching graphs")
    blocking = [node for node in tail[:layers[-1]] if not in_body(node, opsets)]
    raise UnsupportedModelError(
        f"unsupported ops between layers: {_describe(blocking, opsets)} (before node "
        f"{node_label(tail[layers[-1]])}); {SUPPORTED_HINT}")

"""Network -> ONNX: Flatten, the input map (if not the identity), Gemm + activation per layer,
the tail, a final Reshape to the output shape; and an atomic `save`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .._version import __version__
from ..atomic import write_atomic
from ..domain import Box
from ..ir import Network
from .metadata import KEY_ACTIONS, KEY_DOMAIN, KEY_VERSION

OPSET = 17
IR_VERSION = 8
BATCH = "N"


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self, reserved: set[str]):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.used = set(reserved)

    def fresh(self, name: str) -> str:
        base, k = name or "t", 1
        while name in self.used or not name:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        name = self.fresh(name)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, output: str | None = None,
             **attrs) -> str:
        out = output if output is not None else self.fresh(f"{name}_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.fresh(name), **attrs))
        return out


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _constant_rows(g: _Graph, x_flat: str, value: np.ndarray, name: str) -> str:
    """`value` (k,) repeated for every sample of the batch of `x_flat` (a layer with no inputs)."""
    shape = g.node("Shape", [x_flat], f"{name}_shape")
    batch = g.node("Slice", [shape, g.const(f"{name}_zero", np.array([0])),
                             g.const(f"{name}_one", np.array([1]))], f"{name}_batch")
    size = g.node("Concat", [batch, g.const(f"{name}_width", np.array([value.size]))],
                  f"{name}_size", axis=0)
    return g.node("Expand", [g.const(f"{name}_value", _f32(value)), size], name)


def _input_map(g: _Graph, network: Network, h: str) -> str:
    imap = network.input_map
    if not np.array_equal(imap.perm, np.arange(imap.perm.size)):
        h = g.node("Gather", [h, g.const("input_perm", imap.perm)], "InputPerm", axis=1)
    if not np.all(imap.scale == 1.0):
        h = g.node("Mul", [h, g.const("input_scale", _f32(imap.scale))], "InputScale")
    if not np.all(imap.shift == 0.0):
        h = g.node("Add", [h, g.const("input_shift", _f32(imap.shift))], "InputShift")
    return h


def _layers(g: _Graph, network: Network, x_flat: str, h: str) -> str:
    for k, layer in enumerate(layer.as_dense() for layer in network.layers):
        name = layer.nodes[0] if layer.nodes else f"Gemm_{k}"
        if layer.n_out == 0 and k < len(network.layers) - 1:
            continue  # nothing to compute; the next layer has no inputs
        if layer.n_in == 0:
            h = _constant_rows(g, x_flat, layer.bias, f"{name}_constant")
        else:
            h = g.node("Gemm", [h, g.const(f"layer{k}.weight", _f32(layer.weight)),
                                g.const(f"layer{k}.bias", _f32(layer.bias))], name, transB=1)
        kind = layer.activation.kind
        act = layer.act_node or f"{kind}_{k}"
        if kind == "relu":
            h = g.node("Relu", [h], act)
        elif kind == "leaky_relu":
            h = g.node("LeakyRelu", [h], act, alpha=layer.activation.alpha)
    return h


def _shape(name: str, shape, dims) -> onnx.ValueInfoProto:
    """A float32 tensor with a symbolic batch dim (the original's name if it had one)."""
    batch = shape[0] if shape and isinstance(shape[0], str) else BATCH
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, *dims])


def to_onnx(network: Network, domain: Box | None = None, actions=None) -> onnx.ModelProto:
    """The ONNX model (opset 17, ir_version 8, float32) computing `network`; `domain` (the one it
    is exact on) and `actions` are stored in metadata_props."""
    in_dims = list(network.input_shape[1:]) or [network.n_inputs]
    out_dims = list(network.output_shape[1:])
    if not out_dims or int(np.prod(out_dims, dtype=np.int64)) != network.n_outputs:
        out_dims = [network.n_outputs]
    g = _Graph({network.input_name, network.output_name})
    x_flat = network.input_name
    if len(in_dims) != 1:
        x_flat = g.node("Flatten", [x_flat], "Flatten_input", axis=1)
    h = _layers(g, network, x_flat, _input_map(g, network, x_flat))
    for k, (op, attrs) in enumerate(network.tail):
        h = g.node(op, [h], f"{op}_{k}", **attrs)
    if len(out_dims) != 1:
        h = g.node("Reshape", [h, g.const("output_shape", np.array([0, *out_dims]))],
                   "Reshape_output")
    g.nodes.append(helper.make_node("Identity", [h], [network.output_name],
                                    name=g.fresh("Output")))
    graph = helper.make_graph(g.nodes, "exactprune",
                              [_shape(network.input_name, network.input_shape, in_dims)],
                              [_shape(network.output_name, network.output_shape, out_dims)],
                              g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="exactprune", producer_version=__version__)
    model.ir_version = IR_VERSION
    props = {KEY_VERSION: __version__}
    if domain is not None:
        props[KEY_DOMAIN] = domain.dumps()
    if actions is not None:
        props[KEY_ACTIONS] = json.dumps(actions)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def save(network: Network, path: str | Path, domain: Box | None = None, actions=None,
         protect: str | Path | None = None) -> Path:
    """Write `network` to `path` atomically (temp file, fsync, rename); returns the path.

    protect: a file that must not be replaced (the model the network was read from)."""
    return write_atomic(path, to_onnx(network, domain, actions).SerializeToString(), protect)

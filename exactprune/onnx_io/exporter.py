"""Network -> ONNX behind the original's interface: Flatten, a Cast to the body's element type,
the input map (if not the identity), Gemm + activation per layer (first a Gather of the inputs
a Dense layer reads when it records `columns`; pairs of ReLU units that make a Clip fused back
into one capped unit), a Reshape to the body output's
shape, then the original's tail as it was; and an atomic `save`. The model keeps the original's
opsets (at least 7: every op written here exists from there on) and IR version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .._version import __version__
from ..atomic import write_atomic
from ..domain import Box
from ..ir import Conv2d, Dense, Network
from ..ir.maxpool import MaxPoolStage, as_written
from .interface import Interface, default_interface
from .metadata import KEY_ACTIONS, KEY_DOMAIN, KEY_VERSION

MIN_BROADCAST_OPSET = 8  # Min broadcasts its operands from here on


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


def _input_map(g: _Graph, network: Network, h: str, dtype) -> str:
    imap = network.input_map
    if not np.array_equal(imap.perm, np.arange(imap.perm.size)):
        h = g.node("Gather", [h, g.const("input_perm", imap.perm)], "InputPerm", axis=1)
    if not np.all(imap.scale == 1.0):
        h = g.node("Mul", [h, g.const("input_scale", imap.scale.astype(dtype))], "InputScale")
    if not np.all(imap.shift == 0.0):
        h = g.node("Add", [h, g.const("input_shift", imap.shift.astype(dtype))], "InputShift")
    return h


def fuse_clip_pairs(layers: list) -> list[tuple[Dense | Conv2d, np.ndarray | None]]:
    """Each layer with the caps of its units (None: no cap): a pair of ReLU units of one layer
    with the same weights, biases c and c - d (d > 0) and opposite columns in the next layer
    computes relu(g) - relu(g - d) = min(relu(g), d): one unit capped at d (a Clip read as two
    units, onnx_io/trace.py), written as Relu then Min."""
    out = [(layer, None) for layer in layers]
    for k in range(len(layers) - 1):
        layer, after = out[k][0], out[k + 1][0]
        if (layer.activation.kind != "relu" or layer.n_out < 2 or not isinstance(layer, Dense)
                or not isinstance(after, Dense)):
            continue
        rows: dict[bytes, list[int]] = {}
        for j in range(layer.n_out):
            rows.setdefault(layer.weight[j].tobytes(), []).append(j)
        cap, drop = np.full(layer.n_out, np.inf), []
        for group in rows.values():
            group = sorted(group, key=lambda j: -layer.bias[j])
            while len(group) >= 2:
                p, q = group[0], next((q for q in group[1:] if np.array_equal(
                    after.weight[:, q], -after.weight[:, group[0]])), None)
                if q is None or not layer.bias[p] > layer.bias[q]:
                    group = group[1:]
                    continue
                cap[p] = layer.bias[p] - layer.bias[q]
                drop.append(q)
                group = [j for j in group if j not in (p, q)]
        if drop:
            keep = np.setdiff1d(np.arange(layer.n_out), drop)
            out[k] = (layer.with_params(layer.weight[keep], layer.bias[keep],
                                        tuple(layer.origin[j] for j in keep)), cap[keep])
            out[k + 1] = (after.with_params(after.weight[:, keep], after.bias), out[k + 1][1])
    return out


def written_layers(network: Network, opset: int) -> list[tuple[Dense | Conv2d, np.ndarray | None]]:
    """The layers as to_onnx writes them at `opset`, with their units' caps: Clip unit pairs
    of Dense layers fused where Min broadcasts (opset 8 on); Conv2d layers as they are, but the
    stages of a max pool's tournament that is no longer whole as plain convolutions."""
    layers = as_written(network.layers)
    return fuse_clip_pairs(layers) if opset >= MIN_BROADCAST_OPSET else [(d, None) for d in layers]


def written_network(network: Network, opset: int) -> Network:
    """The network as to_onnx writes it at `opset` (its sizes are the file's)."""
    return network.replace(layers=tuple(layer for layer, _ in written_layers(network, opset)))


def _layers(g: _Graph, network: Network, x_flat: str, h: str, dtype, opset: int) -> str:
    layers = written_layers(network, opset)
    for k, (layer, cap) in enumerate(layers):
        name = layer.nodes[0] if layer.nodes else f"Gemm_{k}"
        if layer.n_out == 0 and k < len(network.layers) - 1:
            continue  # nothing to compute; the next layer has no inputs
        if isinstance(layer, Conv2d):
            pool = layer.maxpool  # a whole tournament: one MaxPool node, then the last activation
            if pool is None or pool.stage == 0:
                h = _conv(g, layer, h, name, k, dtype,
                          k == 0 or isinstance(layers[k - 1][0], Dense))
            if pool is not None and pool.stage < pool.stages - 1:
                continue
            if k == len(layers) - 1 or isinstance(layers[k + 1][0], Dense):
                h = _activation(g, layer, k, h)
                h = g.node("Flatten", [h], f"{name}_flatten", axis=1)
                continue
        elif layer.n_in == 0:  # constant rows: 0 * x (one column per sample) + bias
            zero = g.node("MatMul", [x_flat, g.const(f"layer{k}.zero",
                                                     np.zeros((network.n_inputs, 1), dtype))],
                          f"{name}_batch")
            h = g.node("Add", [zero, g.const(f"layer{k}.bias", layer.bias.astype(dtype))],
                       f"{name}_constant")
        else:
            weight = layer.weight
            if layer.columns is not None:  # an input selection (reductions/positions.py)
                h = g.node("Gather", [h, g.const(f"layer{k}.columns",
                                                 np.array(layer.columns, dtype=np.int64))],
                           f"{name}_select", axis=1)
                weight = weight[:, list(layer.columns)]
            h = g.node("Gemm", [h, g.const(f"layer{k}.weight", weight.astype(dtype)),
                                g.const(f"layer{k}.bias", layer.bias.astype(dtype))],
                       name, transB=1)
        h = _activation(g, layer, k, h)
        if cap is not None:
            h = g.node("Min", [h, g.const(f"layer{k}.cap", cap.astype(dtype))],
                       f"{_act_name(layer, k)}_cap")
    return h


def _act_name(layer, k: int) -> str:
    return layer.act_node or f"{layer.activation.kind}_{k}"


def _activation(g: _Graph, layer, k: int, h: str) -> str:
    kind, act = layer.activation.kind, _act_name(layer, k)
    if kind == "relu":
        return g.node("Relu", [h], act)
    if kind == "leaky_relu":
        return g.node("LeakyRelu", [h], act, alpha=layer.activation.alpha)
    return h


def _conv(g: _Graph, layer: Conv2d, h: str, name: str, k: int, dtype, flat: bool) -> str:
    """A Conv (AveragePool, MaxPool: the first stage of its tournament) node for the layer;
    `flat`: h is (N, n_in), reshaped first."""
    if flat:
        h = g.node("Reshape", [h, g.const(f"layer{k}.shape", np.array((-1,) + layer.in_shape))],
                   f"{name}_reshape")
    window = list(layer.kernel.shape[2:])
    if layer.pool == "average":
        return g.node("AveragePool", [h], name, kernel_shape=window, strides=list(layer.strides),
                      pads=list(layer.pads), count_include_pad=1)
    if layer.maxpool is not None:
        return _max_pool(g, layer.maxpool, h, name)
    return g.node("Conv", [h, g.const(f"layer{k}.kernel", layer.kernel.astype(dtype)),
                           g.const(f"layer{k}.bias", layer.channel_bias.astype(dtype))],
                  name, kernel_shape=window, strides=list(layer.strides), pads=list(layer.pads),
                  dilations=list(layer.dilations), group=layer.groups)


def _max_pool(g: _Graph, pool: MaxPoolStage, h: str, name: str) -> str:
    """The MaxPool node of a whole tournament; dilations and ceil_mode only when not the
    defaults (they exist from opset 10 on, as in the original)."""
    extra = {"dilations": list(pool.dilations)} if pool.dilations != (1, 1) else {}
    if pool.ceil_mode:
        extra["ceil_mode"] = pool.ceil_mode
    return g.node("MaxPool", [h], name, kernel_shape=list(pool.kernel_shape),
                  strides=list(pool.strides), pads=list(pool.pads), **extra)


def _body(g: _Graph, network: Network, face: Interface) -> None:
    """The nodes from the input to the tensor face.body_output."""
    dtype = face.numpy_type
    x = face.input.name
    if face.batch is None or len(face.input_dims) != 2:
        x = g.node("Flatten", [x], "Flatten_input", axis=0 if face.batch is None else 1)
    if face.compute_type != face.input_type:
        x = g.node("Cast", [x], "Cast_input", to=face.compute_type)
    h = _layers(g, network, x, _input_map(g, network, x, dtype), dtype,
                face.opset)
    if face.batch is None:
        h = g.node("Reshape", [h, g.const("output_shape", np.array(face.body_shape, dtype=np.int64))],
                   "Reshape_output")
    elif len(face.body_shape) != 1:
        h = g.node("Reshape", [h, g.const("output_shape", np.array([0, *face.body_shape], dtype=np.int64))],
                   "Reshape_output")
    if face.output_type != face.compute_type:
        h = g.node("Cast", [h], "Cast_output", to=face.output_type)
    g.nodes.append(helper.make_node("Identity", [h], [face.body_output], name=g.fresh("Output")))


def to_onnx(network: Network, domain: Box | None = None, actions=None,
            interface: Interface | None = None) -> onnx.ModelProto:
    """The ONNX model computing `network` behind `interface` (the original's input, outputs,
    tail, element types, opsets and IR version; None: default_interface); `domain` (the one it
    is exact on) and `actions` are stored in metadata_props."""
    face = interface or default_interface(network)
    if network.n_outputs != int(np.prod(face.body_shape, dtype=np.int64)):
        raise ValueError(f"the network has {network.n_outputs} outputs, the interface's body "
                         f"output {face.body_output!r} {list(face.body_shape)} values")
    g = _Graph({face.input.name, face.body_output}
               | {name for node in face.tail for name in [*node.input, *node.output]})
    _body(g, network, face)
    g.nodes.extend(face.tail)
    inits = g.inits + [numpy_helper.from_array(np.asarray(value), name)
                       for name, value in face.tail_constants.items()]
    inputs = [face.input]
    if face.ir_version < 4:  # before IR 4, initializers must be graph inputs too
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph(g.nodes, "exactprune", inputs, list(face.outputs), inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in face.opset_imports],
                              producer_name="exactprune", producer_version=__version__)
    model.ir_version = face.ir_version
    props = {KEY_VERSION: __version__}
    if domain is not None:
        props[KEY_DOMAIN] = domain.dumps()
    if actions is not None:
        props[KEY_ACTIONS] = json.dumps(actions)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def save(network: Network, path: str | Path, domain: Box | None = None, actions=None,
         protect: str | Path | None = None, interface: Interface | None = None) -> Path:
    """Write `network` to `path` atomically (temp file, fsync, rename); returns the path.

    protect: a file that must not be replaced (the model the network was read from)."""
    data = to_onnx(network, domain, actions, interface).SerializeToString()
    return write_atomic(path, data, protect)

"""ONNX file -> LoadedModel (the Network and where it came from): read once, scan the whole
graph, then run one converter per node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper
from onnx.checker import ValidationError

from ..domain import Box, parse_stored
from ..errors import (
    DomainError,
    ExactpruneError,
    InvalidModelError,
    MissingFileError,
    ModelFileError,
    UnsupportedModelError,
)
from ..ir import Network
from . import ops_activation, ops_affine, ops_elementwise, ops_shape  # noqa: F401 (registration)
from .context import NodeContext
from .metadata import KEY_ACTIONS, KEY_DOMAIN
from .registry import attributes, resolve
from .scan import check_chain, check_finite, check_ops, constant_values, feature_count
from .trace import Traced


def read_model(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file, mapping every failure to MissingFileError / ModelFileError."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path} is not a readable ONNX model ({reason})") from None
    _load_external_data(model, path)
    if not model.ir_version or not model.HasField("graph") or not model.graph.node:
        raise ModelFileError(f"{path} is not an ONNX model (no ir_version or empty graph)")
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read the tensors stored beside the model; ModelFileError names a missing data file."""
    attrs = [a.t for node in model.graph.node for a in node.attribute if a.HasField("t")]
    for tensor in [*model.graph.initializer, *attrs]:
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = external_data_helper.ExternalDataInfo(tensor)
        data = path.parent / info.location
        if not data.is_file():
            raise ModelFileError(f"{path}: external data file {data} of tensor {tensor.name!r} "
                                 "does not exist (copy it next to the model)")
    try:
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (ValidationError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: its external data cannot be read ({reason})") from None


def _dims(value_info: onnx.ValueInfoProto) -> tuple:
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "N")
                 for d in value_info.type.tensor_type.shape.dim)


def _input(graph: onnx.GraphProto) -> onnx.ValueInfoProto:
    constants = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedModelError(f"the graph has {len(inputs)} input(s) and {len(graph.output)}"
                                    " output(s): exactprune handles one input and one output")
    value = inputs[0]
    elem = value.type.tensor_type.elem_type
    if elem != onnx.TensorProto.FLOAT:
        raise UnsupportedModelError(f"input {value.name!r} has type "
                                    f"{onnx.TensorProto.DataType.Name(elem)}: only float32 inputs")
    shape = _dims(value)
    if len(shape) < 2 or any(not isinstance(d, int) for d in shape[1:]):
        raise UnsupportedModelError(f"input {value.name!r} has shape {list(shape)}: exactprune "
                                    "needs a batch dimension first and fixed feature dimensions")
    feature_count(shape[1:], f"input {value.name!r}")
    return value


def stored_domain(model: onnx.ModelProto, n_inputs: int, source: str | None = None) -> Box | None:
    """The domain exactprune stored in the model's metadata, or None; InvalidModelError when it
    is malformed or has another size. source: how to name it (None: its stored source)."""
    props = {p.key: p.value for p in model.metadata_props}
    if KEY_DOMAIN not in props:
        return None
    try:
        return parse_stored(props[KEY_DOMAIN], n_inputs, source)
    except DomainError as exc:
        raise InvalidModelError(f"metadata {KEY_DOMAIN} is not a valid domain ({exc})") from None


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model as read: its Network and its provenance.

    path: the file it was read from (None for a ModelProto given in memory); name: how messages
    call it; stored_domain: the domain exactprune stored in it (None if none); actions: the
    JSON of what exactprune did to it (None for a model exactprune did not write).
    """

    network: Network
    proto: onnx.ModelProto
    path: Path | None
    name: str
    stored_domain: Box | None
    actions: str | None
    opset: int
    ir_version: int
    producer: str

    @property
    def compressed(self) -> bool:
        """Whether exactprune reduced this model already (it is then exact on stored_domain)."""
        return bool(self.actions)


def convert(model: onnx.ModelProto, path: str | Path | None = None,
            name: str = "model") -> LoadedModel:
    """The LoadedModel of a parsed model (errors name the node)."""
    graph = model.graph
    opsets = {(o.domain or ""): o.version for o in model.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx", 0))
    check_ops(graph, opsets)
    inp = _input(graph)
    check_chain(graph, inp.name)
    values = constant_values(graph)
    check_finite(graph, values)
    shape = _dims(inp)
    traced = Traced(shape[1:], shape[0])
    values[inp.name] = traced
    used = frozenset([n for node in graph.node for n in node.input] + [graph.output[0].name])
    for node in graph.node:
        ctx = NodeContext(node, opset, attributes(node, opset), values, traced, used)
        resolve(node.op_type, opset, node.domain)(ctx)
    traced.finish()
    for k, layer in enumerate(traced.layers):
        if not (np.isfinite(layer.weight).all() and np.isfinite(layer.bias).all()):
            raise InvalidModelError(f"layer {k} ({', '.join(layer.nodes)}) has NaN/inf "
                                    "parameters after folding constants")
    out_shape = _dims(graph.output[0])
    out_batch = out_shape[0] if out_shape else shape[0]
    network = Network(tuple(traced.layers), traced.input_map, inp.name, shape,
                      graph.output[0].name, (out_batch,) + traced.per_sample, tuple(traced.tail))
    props = {p.key: p.value for p in model.metadata_props}
    return LoadedModel(
        network=network, proto=model, path=None if path is None else Path(path),
        name=str(path) if path is not None else name,
        stored_domain=stored_domain(model, network.n_inputs), actions=props.get(KEY_ACTIONS),
        opset=opset, ir_version=model.ir_version,
        producer=" ".join(filter(None, [model.producer_name, model.producer_version])))


def load_model(path: str | Path) -> LoadedModel:
    """Read an ONNX file once; every problem is an ExactpruneError naming the file."""
    proto = read_model(path)
    try:
        return convert(proto, path)
    except ExactpruneError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def load(path: str | Path) -> Network:
    """The Network of an ONNX file (load_model(path).network)."""
    return load_model(path).network

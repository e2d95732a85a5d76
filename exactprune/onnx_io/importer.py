"""ONNX file -> LoadedModel (the Network and where it came from): read once, scan the whole
graph, then run one converter per node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, version_converter
from onnx.checker import ValidationError

from ..domain import Box, parse_stored
from ..errors import (
    DomainError,
    ExactpruneError,
    InvalidModelError,
    MissingFileError,
    ModelFileError,
    UnsupportedModelError,
    first_line,
)
from ..ir import Network
from . import (  # noqa: F401 (registration)
    ops_activation,
    ops_affine,
    ops_conv,
    ops_elementwise,
    ops_shape,
)
from .context import NodeContext, node_label
from .fold import BatchDependent, fold, shape_of
from .interface import FLOAT_TYPES, MIN_OPSET, Interface, dims
from .metadata import KEY_ACTIONS, KEY_DOMAIN
from .registry import attributes, domain_of, opset_of, resolve
from .scan import check_finite, constant_values, feature_count
from .split import split_graph
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
        reason = first_line(exc)
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
        reason = first_line(exc)
        raise ModelFileError(f"{path}: its external data cannot be read ({reason})") from None


def _input(graph: onnx.GraphProto) -> onnx.ValueInfoProto:
    constants = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"the graph has {len(inputs)} inputs "
                                    f"({', '.join(i.name for i in inputs)}): exactprune handles "
                                    "one input")
    value = inputs[0]
    elem = value.type.tensor_type.elem_type
    if elem not in FLOAT_TYPES:
        raise UnsupportedModelError(f"input {value.name!r} has type "
                                    f"{onnx.TensorProto.DataType.Name(elem)}: exactprune reads "
                                    "float16, float32 and float64 inputs")
    shape = dims(value)
    if not shape or any(not isinstance(d, int) for d in shape[1:]) or (
            len(shape) == 1 and not isinstance(shape[0], int)):
        raise UnsupportedModelError(f"input {value.name!r} has shape {list(shape)}: exactprune "
                                    "needs fixed feature dimensions (after an optional batch "
                                    "dimension)")
    feature_count(shape[1:] if len(shape) > 1 else shape, f"input {value.name!r}")
    return value


def opset_versions(model: onnx.ModelProto) -> dict[str, int]:
    """The model's opset imports by domain, the default domain as "" (also when named ai.onnx)."""
    versions = {(o.domain or ""): o.version for o in model.opset_import}
    if "ai.onnx" in versions:
        versions[""] = versions.pop("ai.onnx")
    return versions


def _opset_7(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model itself, or for an opset below MIN_OPSET its conversion (onnx's converter)."""
    opsets = opset_versions(model)
    if opsets.get("", MIN_OPSET) >= MIN_OPSET:
        return model
    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # the converter raises RuntimeError or its own C++ errors
        reason = first_line(exc)
        raise UnsupportedModelError(f"opset {opsets.get('', 0)} cannot be converted to opset "
                                    f"{MIN_OPSET} ({reason})") from None


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
    JSON of what exactprune did to it (None for a model exactprune did not write); opset: the
    file's own (before any conversion); interface: what a written model keeps around the body.
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
    interface: Interface

    @property
    def compressed(self) -> bool:
        """Whether exactprune reduced this model already (it is then exact on stored_domain)."""
        return bool(self.actions)


def convert(model: onnx.ModelProto, path: str | Path | None = None,
            name: str = "model") -> LoadedModel:
    """The LoadedModel of a parsed model (errors name the node)."""
    original_opset = opset_versions(model)
    model = _opset_7(model)
    graph = model.graph
    opsets = opset_versions(model)
    inp = _input(graph)
    values = constant_values(graph)
    check_finite(graph, values)
    part = split_graph(graph, inp.name, opsets)
    shape = dims(inp)
    batch = shape[0] if len(shape) > 1 else None
    traced = Traced(shape[1:] if batch is not None else shape, batch,
                    inp.type.tensor_type.elem_type)
    values[inp.name] = traced
    shapes = {inp.name: traced.per_sample}
    used = frozenset([n for node in graph.node for n in node.input]
                     + [o.name for o in graph.output])
    for k, node in enumerate(graph.node):
        if k in part.folded:
            _fold(node, values, shapes, traced, opsets)
        elif k in part.body:
            opset = opset_of(node, opsets)
            ctx = NodeContext(node, opset, attributes(node, opset), values, traced, used)
            resolve(node.op_type, opset, domain_of(node))(ctx)
            shapes.update((out, traced.per_sample) for out in node.output if out)
    traced.finish()
    for k, layer in enumerate(traced.layers):
        if not (np.isfinite(layer.interval(np.ones((1, layer.n_in)), np.ones((1, layer.n_in)))[2]).all()):
            raise InvalidModelError(f"layer {k} ({', '.join(layer.nodes)}) has NaN/inf "
                                    "parameters after folding constants")
    network = Network(tuple(traced.layers), traced.input_map)
    tail = tuple(graph.node[k] for k in sorted(part.tail))
    interface = Interface(
        input=inp, compute_type=traced.compute_type or traced.elem_type,
        output_type=traced.elem_type, batch=batch, body_output=part.body_output,
        body_shape=traced.per_sample, tail=tail, tail_constants=_tail_constants(tail, values),
        outputs=tuple(graph.output),
        opset_imports=tuple(sorted({**original_opset, "": max(opsets[""], MIN_OPSET)}.items())),
        ir_version=model.ir_version)
    props = {p.key: p.value for p in model.metadata_props}
    return LoadedModel(
        network=network, proto=model, path=None if path is None else Path(path),
        name=str(path) if path is not None else name,
        stored_domain=stored_domain(model, network.n_inputs), actions=props.get(KEY_ACTIONS),
        opset=original_opset.get("", 0),
        ir_version=model.ir_version, interface=interface,
        producer=" ".join(filter(None, [model.producer_name, model.producer_version])))


def _fold(node: onnx.NodeProto, values: dict, shapes: dict, traced: Traced, opsets) -> None:
    """Evaluate a node of constants and of shapes of body tensors; store its outputs."""
    inputs = []
    for name in node.input:
        value = values.get(name) if name else None
        if value is traced:
            value = shape_of(shapes[name], traced.batch)
        if name and value is None:
            raise InvalidModelError(f"node {node_label(node)} ({node.op_type}): input {name!r} "
                                    "is not produced before this node")
        inputs.append(value)
    where = f"node {node_label(node)} ({node.op_type}, opset {opset_of(node, opsets)})"
    for name, value in zip(node.output, fold(node, inputs, opsets, where)):
        if name:
            values[name] = value


def _tail_constants(tail, values: dict) -> dict:
    """The constant tensors the tail reads (initializers, Constant nodes, folded values)."""
    out = {}
    for node in tail:
        for name in node.input:
            value = values.get(name)
            if isinstance(value, BatchDependent):
                raise UnsupportedModelError(
                    f"node {node_label(node)} ({node.op_type}) after the layers reads {name!r}, "
                    "a shape that depends on the batch size")
            if name and isinstance(value, np.ndarray):
                out[name] = value
    return out


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

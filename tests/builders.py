"""Tiny ONNX models built with onnx.helper (explicit opset and ir_version, checked), and helpers
to run them in onnxruntime. Shared by the tests: `from builders import ...`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8
SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_MODELS = SHARED / "models"
SAMPLE_MODELS = Path(__file__).resolve().parents[1] / "sample_models"


def init(name: str, value) -> onnx.TensorProto:
    """A float32 initializer (int64 for integer arrays)."""
    value = np.asarray(value)
    dtype = np.int64 if np.issubdtype(value.dtype, np.integer) else np.float32
    return numpy_helper.from_array(value.astype(dtype), name)


def tensor(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def make_model(nodes, inputs, outputs, initializers=(), opset: int = OPSET,
               ir_version: int = IR_VERSION, check: bool = True) -> onnx.ModelProto:
    """A model from nodes; inputs/outputs are (name, shape) pairs or ValueInfoProtos."""
    def info(v):
        return v if isinstance(v, onnx.ValueInfoProto) else tensor(*v)

    graph = helper.make_graph(list(nodes), "test", [info(v) for v in inputs],
                              [info(v) for v in outputs], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="tests")
    model.ir_version = ir_version
    if check:
        onnx.checker.check_model(model)
    return model


def dense_model(weights, biases, activation: str = "Relu", input_shape=("N", None),
                tail=(), final_relu: bool = False, opset: int = OPSET) -> onnx.ModelProto:
    """Gemm(transB=1) + activation per hidden layer; weights in the IR convention (n_out, n_in).

    input_shape: None entries are filled with the first layer's n_in; inputs of rank > 2 are
    flattened first. tail: op types appended after the output layer (e.g. ["Softmax"])."""
    n_in = np.shape(weights[0])[1]
    shape = [n_in if d is None else d for d in input_shape]
    nodes, inits, h = [], [], "input"
    if len(shape) != 2:
        nodes.append(helper.make_node("Flatten", [h], ["flat"], name="Flatten_0", axis=1))
        h = "flat"
    for k, (w, b) in enumerate(zip(weights, biases)):
        inits += [init(f"W{k}", w), init(f"b{k}", b)]
        nodes.append(helper.make_node("Gemm", [h, f"W{k}", f"b{k}"], [f"g{k}"], name=f"Gemm_{k}",
                                      transB=1))
        h = f"g{k}"
        if k < len(weights) - 1 or final_relu:
            nodes.append(helper.make_node(activation, [h], [f"h{k}"], name=f"{activation}_{k}"))
            h = f"h{k}"
    for k, op in enumerate(tail):
        nodes.append(helper.make_node(op, [h], [f"t{k}"], name=f"{op}_tail{k}"))
        h = f"t{k}"
    nodes.append(helper.make_node("Identity", [h], ["output"], name="Identity_out"))
    n_out = np.shape(weights[-1])[0]
    return make_model(nodes, [("input", shape)], [("output", [shape[0], n_out])], inits, opset)


def random_mlp(widths, seed: int = 0, **kwargs) -> onnx.ModelProto:
    """dense_model with random weights for layer widths [n_in, h1, ..., n_out]."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    biases = [rng.normal(size=b) * 0.1 for b in widths[1:]]
    return dense_model(weights, biases, **kwargs)


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return Path(path)


def run_ort(model, x: np.ndarray) -> np.ndarray:
    """onnxruntime output (graph optimisations off) for a model, its bytes or a path."""
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    elif isinstance(model, Path):
        model = str(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    x = np.asarray(x, dtype=np.float32)
    if first.shape and first.shape[0] == 1 and len(x) > 1:  # a fixed batch of one: row by row
        return np.concatenate([session.run(None, {first.name: x[i:i + 1]})[0]
                               for i in range(len(x))])
    return session.run(None, {first.name: x})[0]


def rel_dev(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the output scale max(1, max |a|), on flattened samples."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max())))

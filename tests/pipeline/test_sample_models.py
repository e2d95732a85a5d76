"""The shipped sample models: valid ONNX, a stored domain, sane accuracy, numpy == onnxruntime."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from builders import (
    REPO,  # noqa: E402
    mnist_csv,
    train_module,
)
from onnx import numpy_helper

from exactprune.domain import Box
from exactprune.onnx_io.metadata import KEY_DOMAIN, KEY_VERSION

MNIST_MODELS = (
    "mnist_784_100_100_10.onnx",
    "mnist_784_100_100_100_10.onnx",
    "mnist_784_100_100_10_l1_5e-4.onnx",
    "mnist_784_10_10.onnx",
)
ALL_MODELS = MNIST_MODELS + ("tiny_2d.onnx",)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    return _session(path).run(["logits"], {"input": x.astype(np.float32)})[0]


def _numpy_forward(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """float64 evaluation of a Gemm/Relu chain straight from the initializers."""
    values = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    values[model.graph.input[0].name] = x.astype(np.float64)
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        args = [values[name] for name in node.input]
        if node.op_type == "Gemm":
            a = args[0].T if attrs.get("transA", 0) else args[0]
            b = args[1].T if attrs.get("transB", 0) else args[1]
            out = attrs.get("alpha", 1.0) * (a @ b) + attrs.get("beta", 1.0) * args[2]
        elif node.op_type == "Relu":
            out = np.maximum(args[0], 0.0)
        else:
            raise AssertionError(f"unexpected op {node.op_type} in node {node.name}")
        values[node.output[0]] = out
    return values[model.graph.output[0].name]


def _domain(model: onnx.ModelProto) -> Box:
    props = {p.key: p.value for p in model.metadata_props}
    return Box.from_json(json.loads(props[KEY_DOMAIN]))


@pytest.fixture(scope="module")
def held_out():
    """The 1000 held-out digits (100 per class, rows the training script never trains on)."""
    train = train_module()
    x, y = train.read_mnist(mnist_csv())
    _, held = train.split_per_class(y)
    return x[held], y[held]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_is_valid_onnx_with_stored_domain(name):
    model = onnx.load(REPO / "sample_models" / name)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 13 and model.ir_version == 8
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    n_in = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    box = _domain(model)
    assert box.size == n_in
    assert (box.hi > box.lo).all()
    assert KEY_VERSION in {p.key for p in model.metadata_props}
    assert (REPO / "sample_models" / name).stat().st_size < 500_000


@pytest.mark.parametrize("name", ALL_MODELS)
def test_numpy_forward_matches_onnxruntime(name):
    path = REPO / "sample_models" / name
    model = onnx.load(path)
    box = _domain(model)
    rng = np.random.default_rng(7)
    x = (box.lo + (box.hi - box.lo) * rng.random((64, box.size))).astype(np.float32)
    x[:8] = box.lo  # corners are part of the domain too
    x[8:16] = box.hi
    expected = _numpy_forward(model, x)
    got = _run_ort(path, x)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("name", MNIST_MODELS)
def test_mnist_models_classify_held_out_digits(name, held_out):
    x, y = held_out
    path = REPO / "sample_models" / name
    logits = _run_ort(path, x)
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy > 0.85, f"{name}: held-out accuracy {accuracy:.3f}"
    expected = _numpy_forward(onnx.load(path), x)
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_tiny_2d_separates_the_moons():
    path = REPO / "sample_models" / "tiny_2d.onnx"
    x, y = train_module().two_moons(400, seed=123)
    accuracy = float((_run_ort(path, x).argmax(axis=1) == y).mean())
    assert accuracy > 0.9, f"tiny_2d: accuracy {accuracy:.3f} on fresh moons"
    box = _domain(onnx.load(path))
    inside = ((x >= box.lo) & (x <= box.hi)).all(axis=1).mean()
    assert inside > 0.95, f"only {inside:.2f} of the moons lie inside the stored domain"

"""Exporter: round trips of real and sample models, the exported graph's contract, degenerate
layers, atomic save."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from builders import SAMPLE_MODELS, random_mlp, rel_dev, run_ort, save_model, shared_model

from exactprune import __version__, load, save
from exactprune.domain import Box
from exactprune.errors import OutputFileError
from exactprune.ir import Dense, InputMap, Network, leaky_relu
from exactprune.onnx_io import load_model, to_onnx
from exactprune.onnx_io.metadata import KEY_ACTIONS, KEY_DOMAIN, KEY_VERSION

TOL = 1e-5
FULLY_CONNECTED = ["acasxu_1_1", "cartpole", "mnistfc_256x2"]


def round_trip(path, n=8):
    source = load_model(path)
    net, face = source.network, source.interface
    x = np.random.default_rng(1).uniform(0, 1, size=(n, *face.input_dims[1:])).astype(np.float32)
    y = run_ort(path, x)
    assert rel_dev(y, net.forward(x)) <= TOL
    assert rel_dev(y, run_ort(to_onnx(net, interface=face), x)) <= TOL
    return net


@pytest.mark.parametrize("name", FULLY_CONNECTED)
def test_shared_models_round_trip(name):
    path = shared_model(f"{name}.onnx")
    round_trip(path)


def test_sample_models_round_trip():
    paths = sorted(SAMPLE_MODELS.glob("*.onnx"))
    if not paths:
        pytest.skip("no sample_models/*.onnx yet")
    for path in paths:
        round_trip(path)


def test_exported_graph_contract(tmp_path):
    src = save_model(random_mlp([6, 4, 3], input_shape=(1, 2, 3), opset=11), tmp_path / "m.onnx")
    source = load_model(src)
    box = Box(np.zeros(6), np.ones(6), "--box 0 1")
    model = to_onnx(source.network, box, ["removed 1 neuron"], source.interface)
    onnx.checker.check_model(model)
    assert model.ir_version == 8 and model.opset_import[0].version == 11  # the original's
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "input" and out.name == "output" and dims == [1, 2, 3]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 3]
    props = {p.key: p.value for p in model.metadata_props}
    assert props[KEY_VERSION] == __version__
    assert json.loads(props[KEY_DOMAIN]) == {"lo": 0.0, "hi": 1.0, "n": 6, "source": "--box 0 1"}
    assert json.loads(props[KEY_ACTIONS]) == ["removed 1 neuron"]
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Flatten", "Gemm", "Relu", "Gemm", "Identity"]  # identity input map: no ops


def _network(layers, input_map=None):
    return Network(tuple(layers), input_map or InputMap.identity(layers[0].n_in))


def test_input_map_and_leaky_relu_export():
    rng = np.random.default_rng(2)
    imap = InputMap([2, 0, 1], [2.0, 0.5, -1.0], [0.1, 0.0, 3.0])
    net = _network([Dense(rng.normal(size=(4, 3)), rng.normal(size=4), leaky_relu(0.1)),
                    Dense(rng.normal(size=(3, 4)), rng.normal(size=3), "identity")], imap)
    x = rng.uniform(-1, 1, size=(5, 3))
    model = to_onnx(net)
    assert model.ir_version == 8 and model.opset_import[0].version == 17  # the default
    assert {"Gather", "Mul", "Add", "LeakyRelu"} <= {n.op_type for n in model.graph.node}
    assert rel_dev(net.forward(x), run_ort(model, x)) <= TOL


def test_layers_without_inputs_export_as_constants():
    rng = np.random.default_rng(3)
    first = Dense(np.zeros((0, 3)), np.zeros(0), "relu")
    out = Dense(np.zeros((2, 0)), np.array([1.5, -2.0]), "relu")
    net = _network([first, out])
    x = rng.uniform(size=(4, 3))
    y = run_ort(to_onnx(net), x)
    assert y.shape == (4, 2) and np.allclose(y, [[1.5, 0.0]] * 4)
    assert "Gemm" not in {node.op_type for node in to_onnx(net).graph.node}
    hidden = Dense(rng.normal(size=(2, 3)), rng.normal(size=2), "relu")
    middle = Dense(np.zeros((0, 2)), np.zeros(0), "relu")
    net = _network([hidden, middle, Dense(np.zeros((3, 0)), np.array([1.0, 2.0, 3.0]))])
    assert np.allclose(run_ort(to_onnx(net), x), net.forward(x))


def test_save_is_atomic_and_protects_the_input(tmp_path):
    src = save_model(random_mlp([3, 4, 2]), tmp_path / "m.onnx")
    before = src.read_bytes()
    net = load(src)
    with pytest.raises(OutputFileError, match="is the input model"):
        save(net, src, protect=src)
    assert src.read_bytes() == before
    out = save(net, tmp_path / "out.onnx", protect=src)
    assert load(out).n_params == net.n_params
    save(net, src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "out.onnx"]
    with pytest.raises(OutputFileError, match="does not exist"):
        save(net, tmp_path / "missing" / "x.onnx")

"""Importer: each supported op on a tiny model, compared with onnxruntime (IR forward and the
exported round trip)."""

from __future__ import annotations

import numpy as np
import pytest
from builders import init, make_model, random_mlp, rel_dev, run_ort, save_model
from onnx import helper

from exactprune import load
from exactprune.domain import Box
from exactprune.onnx_io import load_model, save, to_onnx

RNG = np.random.default_rng(0)
TOL = 1e-5


def check(model, tmp_path, x=None, shape=None):
    """Import `model`, compare IR forward (when the model has no tail) and the model re-exported
    behind the original's interface with onnxruntime."""
    path = save_model(model, tmp_path / "model.onnx")
    source = load_model(path)
    net = source.network
    if x is None:
        x = RNG.uniform(-1, 1, size=(4, *shape)).astype(np.float32)
    y = run_ort(model, x)
    if not source.interface.tail:
        assert rel_dev(y, net.forward(x)) <= TOL
    y2 = run_ort(to_onnx(net, interface=source.interface), x)
    assert y2.shape == y.shape
    assert rel_dev(y, y2) <= TOL
    return net


def test_gemm_relu_chain_and_metadata(tmp_path):
    net = check(random_mlp([3, 5, 4, 2]), tmp_path, shape=(3,))
    assert [(layer.n_in, layer.n_out, layer.activation.kind) for layer in net.layers] == [
        (3, 5, "relu"), (5, 4, "relu"), (4, 2, "identity")]
    assert net.layers[0].nodes == ("Gemm_0",) and net.layers[0].act_node == "Relu_0"
    source = load_model(tmp_path / "model.onnx")
    assert source.opset == 13 and source.ir_version == 8 and source.producer == "tests"
    assert source.stored_domain is None and source.actions is None and not source.compressed
    assert source.path == tmp_path / "model.onnx" and source.name == str(tmp_path / "model.onnx")


@pytest.mark.parametrize("alpha, beta, trans_b, c_shape", [
    (0.5, 2.0, 0, (4,)), (1.0, 1.0, 1, (1, 4)), (2.0, 0.5, 0, (1,)), (1.0, 1.0, 1, None)])
def test_gemm_attributes_and_bias_broadcast(tmp_path, alpha, beta, trans_b, c_shape):
    w = RNG.normal(size=(4, 3) if trans_b else (3, 4))
    inits = [init("W", w)]
    inputs = ["x", "W"]
    if c_shape is not None:
        inits.append(init("C", RNG.normal(size=c_shape)))
        inputs.append("C")
    nodes = [helper.make_node("Gemm", inputs, ["g"], name="G", alpha=alpha, beta=beta,
                              transB=trans_b),
             helper.make_node("Relu", ["g"], ["y"], name="R")]
    net = check(make_model(nodes, [("x", ["N", 3])], [("y", ["N", 4])], inits), tmp_path,
                shape=(3,))
    assert net.layers[-1].activation.kind == "relu"  # a final Relu stays on the output layer


def test_matmul_add_with_bias_first(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="MM"),
             helper.make_node("Add", ["b", "m"], ["g"], name="AddB"),
             helper.make_node("Relu", ["g"], ["h"], name="R"),
             helper.make_node("MatMul", ["h", "W2"], ["y"], name="MM2")]
    inits = [init("W", RNG.normal(size=(3, 5))), init("b", RNG.normal(size=5)),
             init("W2", RNG.normal(size=(5, 2)))]
    net = check(make_model(nodes, [("x", [1, 3])], [("y", [1, 2])], inits), tmp_path, shape=(3,))
    assert net.layers[0].nodes == ("MM", "AddB")


def test_matmul_weight_first_on_column_input(tmp_path):
    nodes = [helper.make_node("MatMul", ["W", "x"], ["m"], name="WX"),
             helper.make_node("Add", ["m", "b"], ["g"], name="Bias"),
             helper.make_node("Relu", ["g"], ["h"], name="R"),
             helper.make_node("Flatten", ["h"], ["f"], name="F", axis=1),
             helper.make_node("Gemm", ["f", "W2"], ["y"], name="Out", transB=1)]
    inits = [init("W", RNG.normal(size=(5, 3))), init("b", RNG.normal(size=(5, 1))),
             init("W2", RNG.normal(size=(2, 5)))]
    net = check(make_model(nodes, [("x", ["N", 3, 1])], [("y", ["N", 2])], inits), tmp_path,
                shape=(3, 1))
    assert [layer.n_out for layer in net.layers] == [5, 2]


def test_symbolic_batch_runs_many_rows(tmp_path):
    model = random_mlp([4, 6, 3], input_shape=("batch", None))
    net = check(model, tmp_path, x=RNG.uniform(size=(7, 4)))
    face = load_model(tmp_path / "model.onnx").interface
    assert face.input_dims == ("batch", 4)
    written = to_onnx(net, interface=face)
    assert written.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_output_of_rank_three_is_reshaped_back(tmp_path):
    nodes = [helper.make_node("MatMul", ["W", "x"], ["g"], name="WX"),
             helper.make_node("Relu", ["g"], ["h"], name="R"),
             helper.make_node("MatMul", ["W2", "h"], ["y"], name="WH")]
    inits = [init("W", RNG.normal(size=(4, 3))), init("W2", RNG.normal(size=(2, 4)))]
    net = check(make_model(nodes, [("x", ["N", 3, 1])], [("y", ["N", 2, 1])], inits), tmp_path,
                shape=(3, 1))
    assert load_model(tmp_path / "model.onnx").interface.body_shape == (2, 1)
    assert net.n_outputs == 2


def test_batchnorm_after_gemm_is_folded(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="G", transB=1),
             helper.make_node("BatchNormalization", ["g", "s", "B", "mu", "var"], ["n"],
                              name="BN", epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["h"], name="R"),
             helper.make_node("Gemm", ["h", "W2"], ["y"], name="G2", transB=1)]
    inits = [init("W", RNG.normal(size=(4, 3))), init("b", RNG.normal(size=4)),
             init("s", RNG.uniform(0.5, 2, 4)), init("B", RNG.normal(size=4)),
             init("mu", RNG.normal(size=4)), init("var", RNG.uniform(0.1, 2, 4)),
             init("W2", RNG.normal(size=(2, 4)))]
    net = check(make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])], inits), tmp_path,
                shape=(3,))
    assert len(net.layers) == 2 and net.layers[0].nodes == ("G", "BN")


@pytest.mark.parametrize("tail, opset", [(["Softmax"], 13), (["LogSoftmax"], 11),
                                         (["Sigmoid"], 13)])
def test_output_tail_is_kept(tmp_path, tail, opset):
    net = check(random_mlp([3, 4, 3], tail=tail, opset=opset), tmp_path, shape=(3,))
    face = load_model(tmp_path / "model.onnx").interface
    assert [node.op_type for node in face.tail] == [*tail, "Identity"]
    assert net.layers[-1].activation.kind == "identity"


@pytest.mark.parametrize("alpha", [None, 0.2])
def test_leaky_relu_alpha(tmp_path, alpha):
    model = random_mlp([3, 4, 2], activation="LeakyRelu")
    if alpha is not None:
        model.graph.node[1].attribute.append(helper.make_attribute("alpha", alpha))
    net = check(model, tmp_path, shape=(3,))
    assert net.layers[0].activation.kind == "leaky_relu"
    assert net.layers[0].activation.alpha == pytest.approx(0.01 if alpha is None else alpha)


def test_normalisation_before_first_layer_becomes_input_map(tmp_path):
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"], name="Sub"),
             helper.make_node("Div", ["s", "std"], ["d"], name="Div"),
             helper.make_node("Flatten", ["d"], ["f"], name="Flat", axis=1),
             helper.make_node("MatMul", ["f", "W"], ["m"], name="MM"),
             helper.make_node("Add", ["m", "b"], ["g"], name="Add"),
             helper.make_node("Relu", ["g"], ["y"], name="R")]
    mean, std = RNG.normal(size=(1, 1, 1, 5)), RNG.uniform(0.5, 2, size=(5,))
    inits = [init("mean", mean), init("std", std), init("W", RNG.normal(size=(5, 3))),
             init("b", RNG.normal(size=3))]
    net = check(make_model(nodes, [("x", [1, 1, 1, 5])], [("y", [1, 3])], inits), tmp_path,
                shape=(1, 1, 5))
    imap = net.input_map
    assert np.allclose(imap.scale, 1 / std.astype(np.float32), rtol=1e-6)
    assert np.allclose(imap.shift, -mean.astype(np.float32).reshape(-1) / std.astype(np.float32),
                       rtol=1e-6)
    assert net.layers[0].nodes == ("MM", "Add")


def test_mul_add_between_layers_fold(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="G", transB=1),
             helper.make_node("Mul", ["g", "k"], ["gk"], name="ScaleBeforeRelu"),
             helper.make_node("Relu", ["gk"], ["h"], name="R"),
             helper.make_node("Mul", ["two", "h"], ["h2"], name="ScaleAfterRelu"),
             helper.make_node("Add", ["h2", "c"], ["h3"], name="ShiftAfterRelu"),
             helper.make_node("Gemm", ["h3", "W2"], ["y"], name="G2", transB=1)]
    inits = [init("W", RNG.normal(size=(4, 3))), init("b", RNG.normal(size=4)),
             init("k", RNG.uniform(0.5, 2, 4)), init("two", np.array(2.0)),
             init("c", RNG.normal(size=(1, 4))), init("W2", RNG.normal(size=(2, 4)))]
    net = check(make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])], inits), tmp_path,
                shape=(3,))
    assert len(net.layers) == 2
    assert net.layers[1].nodes == ("ScaleAfterRelu", "ShiftAfterRelu", "G2")


def test_transpose_of_input_becomes_permutation(tmp_path):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="T", perm=[0, 2, 1]),
             helper.make_node("Flatten", ["t"], ["f"], name="F", axis=1),
             helper.make_node("Gemm", ["f", "W"], ["y"], name="G", transB=1)]
    inits = [init("W", RNG.normal(size=(3, 6)))]
    net = check(make_model(nodes, [("x", ["N", 2, 3])], [("y", ["N", 3])], inits), tmp_path,
                shape=(2, 3))
    assert net.input_map.perm.tolist() == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize("opset", [11, 13])
def test_reshape_squeeze_unsqueeze_identity_dropout_constant(tmp_path, opset):
    axes = {"axes": [2]} if opset < 13 else {}
    axes_in = [] if opset < 13 else ["ax"]
    nodes = [
        helper.make_node("Squeeze", ["x", *axes_in], ["s"], name="Sq", **axes),
        helper.make_node("Unsqueeze", ["s", *axes_in], ["u"], name="Unsq", **axes),
        helper.make_node("Reshape", ["u", "shape"], ["r"], name="Resh"),
        helper.make_node("Identity", ["r"], ["i"], name="Id"),
        helper.make_node("Constant", [], ["Wc"], name="ConstW",
                         value=init("w", RNG.normal(size=(4, 3)))),
        helper.make_node("Transpose", ["Wc"], ["WcT"], name="TW"),
        helper.make_node("MatMul", ["i", "WcT"], ["m"], name="MM"),
        helper.make_node("Dropout", ["m"], ["d"], name="Drop"),
        helper.make_node("Relu", ["d"], ["y"], name="R"),
    ]
    inits = [init("shape", np.array([-1, 3])), init("ax", np.array([2]))]
    model = make_model(nodes, [("x", ["N", 3, 1])], [("y", ["N", 4])],
                       inits if opset >= 13 else inits[:1], opset=opset)
    net = check(model, tmp_path, shape=(3, 1))
    assert net.layers[0].nodes == ("MM",) and net.layers[0].act_node == "R"


def test_initializers_listed_as_inputs_and_unnamed_nodes(tmp_path):
    model = random_mlp([3, 4, 2])
    for node in model.graph.node:
        node.name = ""
    model.graph.input.extend([helper.make_tensor_value_info(
        i.name, i.data_type, list(i.dims)) for i in model.graph.initializer])
    net = check(model, tmp_path, shape=(3,))
    assert net.layers[0].act_node == "h0" and net.layers[0].nodes == ("g0",)


def test_two_affine_layers_in_a_row_keep_an_identity_layer(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="G1", transB=1),
             helper.make_node("Gemm", ["g", "W2", "b2"], ["g2"], name="G2", transB=1),
             helper.make_node("Relu", ["g2"], ["h"], name="R"),
             helper.make_node("Gemm", ["h", "W3"], ["y"], name="G3", transB=1)]
    inits = [init("W", RNG.normal(size=(2, 4))), init("b", RNG.normal(size=2)),
             init("W2", RNG.normal(size=(5, 2))), init("b2", RNG.normal(size=5)),
             init("W3", RNG.normal(size=(3, 5)))]
    net = check(make_model(nodes, [("x", ["N", 4])], [("y", ["N", 3])], inits), tmp_path,
                shape=(4,))
    assert [(layer.n_out, layer.activation.kind) for layer in net.layers] == [
        (2, "identity"), (5, "relu"), (3, "identity")]


def test_image_input_flattened_row_major(tmp_path):
    model = random_mlp([16, 5, 3], input_shape=(1, 1, 4, 4))
    net = check(model, tmp_path, shape=(1, 4, 4))
    assert net.n_inputs == 16
    assert load_model(tmp_path / "model.onnx").interface.input_dims == (1, 1, 4, 4)


def test_stored_domain_round_trip(tmp_path):
    net = load(save_model(random_mlp([3, 4, 2]), tmp_path / "a.onnx"))
    box = Box([0, -1, 0.5], [1, 1, 2], "--box test")
    stored = load_model(save(net, tmp_path / "b.onnx", domain=box)).stored_domain
    assert stored.lo.tolist() == [0, -1, 0.5] and stored.hi.tolist() == [1, 1, 2]
    assert stored.source == "--box test"


@pytest.mark.parametrize("weight_first", [False, True])
def test_matmul_on_higher_rank_samples(tmp_path, weight_first):
    shape, w = ((2, 3, 4), RNG.normal(size=(5, 3))) if weight_first else \
        ((2, 3), RNG.normal(size=(3, 4)))
    operands = ["W", "x"] if weight_first else ["x", "W"]
    nodes = [helper.make_node("MatMul", operands, ["m"], name="MM"),
             helper.make_node("Relu", ["m"], ["h"], name="R"),
             helper.make_node("Flatten", ["h"], ["f"], name="F", axis=1),
             helper.make_node("Gemm", ["f", "W2"], ["y"], name="G", transB=1)]
    width = 2 * 5 * 4 if weight_first else 2 * 4
    inits = [init("W", w), init("W2", RNG.normal(size=(3, width)))]
    net = check(make_model(nodes, [("x", ["N", *shape])], [("y", ["N", 3])], inits), tmp_path,
                shape=shape)
    assert net.layers[0].n_out == width


def test_a_second_converter_for_the_same_op_and_version_is_refused():
    from exactprune.onnx_io.registry import converter

    with pytest.raises(ValueError, match="Relu has a converter from schema 1 already"):
        converter("Relu", since=1)(lambda ctx: None)

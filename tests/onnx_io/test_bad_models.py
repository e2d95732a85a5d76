"""Bad inputs: each gives one ExactpruneError, and through the CLI a one-line error and exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders import init, make_model, random_mlp, save_model
from click.testing import CliRunner
from onnx import helper

from exactprune import load
from exactprune.cli import main
from exactprune.errors import (
    InvalidModelError,
    MissingFileError,
    ModelFileError,
    UnsupportedModelError,
)

RNG = np.random.default_rng(0)


def chain(ops, n=3):
    """Gemm followed by single-input ops (op type or (op type, attrs)), all n wide."""
    nodes = [helper.make_node("Gemm", ["x", "W"], ["t0"], name="Gemm_0", transB=1)]
    for k, op in enumerate(ops):
        op, attrs = op if isinstance(op, tuple) else (op, {})
        nodes.append(helper.make_node(op, [f"t{k}"], [f"t{k + 1}"], name=f"{op}_{k + 1}", **attrs))
    nodes.append(helper.make_node("Identity", [f"t{len(ops)}"], ["y"], name="Out"))
    return make_model(nodes, [("x", ["N", n])], [("y", ["N", n])], [init("W", np.eye(n))])


def between_layers(*ops):
    """Gemm, the single-input ops `ops`, Gemm: a nonlinearity between two layers."""
    nodes = [helper.make_node("Gemm", ["x", "W"], ["t0"], name="Gemm_0", transB=1)]
    for k, op in enumerate(ops):
        nodes.append(helper.make_node(op, [f"t{k}"], [f"t{k + 1}"], name=f"{op}_{k + 1}"))
    nodes.append(helper.make_node("Gemm", [f"t{len(ops)}", "W"], ["y"], name="Gemm_last",
                                  transB=1))
    return make_model(nodes, [("x", ["N", 3])], [("y", ["N", 3])], [init("W", np.eye(3))])


def residual():
    nodes = [helper.make_node("Gemm", ["x", "W"], ["g"], name="Gemm_0", transB=1),
             helper.make_node("Relu", ["g"], ["h"], name="Relu_0"),
             helper.make_node("Gemm", ["h", "W"], ["g2"], name="Gemm_1", transB=1),
             helper.make_node("Add", ["g2", "h"], ["y"], name="Add_skip")]
    return make_model(nodes, [("x", ["N", 3])], [("y", ["N", 3])], [init("W", np.eye(3))])


def fan_out():
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="Relu_0"),
             helper.make_node("Gemm", ["h", "W"], ["a"], name="Gemm_a", transB=1),
             helper.make_node("Gemm", ["h", "W"], ["y"], name="Gemm_b", transB=1)]
    return make_model(nodes, [("x", ["N", 3])], [("y", ["N", 3])], [init("W", np.eye(3))])


def nan_weights():
    model = random_mlp([3, 4, 2])
    w = RNG.normal(size=(4, 3))
    w[1, 2] = np.nan
    model.graph.initializer[0].CopyFrom(init("W0", w))
    return model


def bad_shape():
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="Gemm_0", transB=1)]
    return make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])],
                      [init("W", RNG.normal(size=(2, 5)))])


CASES = {
    "unsupported": (lambda: between_layers("Tanh", "Relu", "Erf"), UnsupportedModelError,
                    r"unsupported ops between layers: node Tanh_1 \(Tanh, opset 13\), node Erf_3 "
                    r"\(Erf, opset 13\) \(before node Gemm_last\)"),
    "residual": (residual, UnsupportedModelError,
                 r"node Add_skip \(Add\) combines computed tensors 'g2', 'h' \(a residual branch"),
    "fan-out": (fan_out, UnsupportedModelError,
                r"tensor 'h' is read by node Gemm_a and node Gemm_b: .* not branching graphs"),
    "nan": (nan_weights, InvalidModelError,
            r"initializer 'W0' \(used by node Gemm_0, Gemm\) has 1 NaN/inf value"),
    "shape": (bad_shape, InvalidModelError,
              r"node Gemm_0 \(Gemm, opset 13\): input \(N, 3\) does not fit weight B of shape "
              r"\(2, 5\)"),
    "transpose-batch": (lambda: chain([("Transpose", {"perm": [1, 0]})]), UnsupportedModelError,
                        r"node Transpose_1 \(Transpose, opset 13\): perm \[1, 0\] moves the batch"),
    "squeeze-batch": (lambda: make_model(
        [helper.make_node("Squeeze", ["x"], ["s"], name="Sq"),
         helper.make_node("Gemm", ["s", "W"], ["y"], name="G", transB=1)],
        [("x", [1, 3, 1])], [("y", [1, 2])], [init("W", np.ones((2, 3)))]),
        UnsupportedModelError, r"node Sq \(Squeeze, opset 13\): squeezing every axis"),
    "sigmoid-between-layers": (lambda: between_layers("Sigmoid"), UnsupportedModelError,
                               r"between layers: node Sigmoid_1 \(Sigmoid, opset 13\) \(before"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_errors(tmp_path, case):
    build, error, pattern = CASES[case]
    path = save_model(build(), tmp_path / f"{case}.onnx")
    with pytest.raises(error, match=pattern):
        load(path)
    with pytest.raises(error, match=f"^{tmp_path}/{case}.onnx: "):
        load(path)


def cli_error(path) -> str:
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("case", ["unsupported", "residual", "nan"])
def test_cli_model_errors_are_one_line(tmp_path, case):
    build, _error, pattern = CASES[case]
    line = cli_error(save_model(build(), tmp_path / f"{case}.onnx"))
    assert f"{case}.onnx" in line
    assert __import__("re").search(pattern, line)


def test_cli_not_onnx_and_truncated(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not an ONNX model\n")
    assert "notes.onnx is not" in cli_error(text)
    with pytest.raises(ModelFileError, match="notes.onnx is not"):
        load(text)
    data = random_mlp([30, 40, 2]).SerializeToString()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    assert "cut.onnx is not a readable ONNX model" in cli_error(cut)


def test_cli_missing_file(tmp_path):
    assert f"model file {tmp_path}/nope.onnx does not exist" in cli_error(tmp_path / "nope.onnx")
    with pytest.raises(MissingFileError, match="does not exist"):
        load(tmp_path / "nope.onnx")


def _conv_chain(tmp_path, first: str, second: str) -> Path:
    """input (N, 1, 6, 6) -> first (a 3x3 kernel) -> Relu -> second -> Flatten -> Gemm."""
    k = np.ones((1, 1, 3, 3), np.float32)
    extra = {"kernel_shape": [2, 2]} if second == "MaxPool" else {}
    size = {"ConvTranspose": 8, "Conv": 4}[first] - (1 if second == "MaxPool" else 0)
    nodes = [helper.make_node(first, ["input", "K"], ["c"], name=f"{first}_0"),
             helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
             helper.make_node(second, ["r"], ["s"], name=f"{second}_2", **extra),
             helper.make_node("Flatten", ["s"], ["f"], name="Flatten_3"),
             helper.make_node("Gemm", ["f", "W", "b"], ["output"], name="Gemm_4", transB=1)]
    model = make_model(nodes, [("input", ["N", 1, 6, 6])], [("output", ["N", 2])],
                       [init("K", k), init("W", np.ones((2, size * size))), init("b", np.zeros(2))],
                       opset=13)
    return save_model(model, tmp_path / f"{first}.onnx")


def test_cli_unsupported_convolution(tmp_path):
    line = cli_error(_conv_chain(tmp_path, "ConvTranspose", "Identity"))
    assert ("these convolutional layers are not supported (node ConvTranspose_0 (ConvTranspose, "
            "opset 13)): exactprune reads Conv (2-D), AveragePool and GlobalAveragePool") in line


def test_cli_unsupported_op_after_a_convolution(tmp_path):
    line = cli_error(_conv_chain(tmp_path, "Conv", "LpNormalization"))
    assert "unsupported ops between layers: node LpNormalization_2 (LpNormalization, opset 13)" in line

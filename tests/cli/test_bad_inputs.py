"""A corpus of bad inputs, built by the test: every case exits 2 with one line, no traceback, and
leaves no file behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import dense_model, init, make_model, random_mlp, save_model
from click.testing import CliRunner
from onnx import helper

from exactprune.cli import main
from exactprune.onnx_io.metadata import KEY_DOMAIN


def mlp(tmp: Path, name: str = "m.onnx", widths=(3, 4, 2), **kwargs) -> str:
    return str(save_model(random_mlp(list(widths), **kwargs), tmp / name))


def negative_dimension(tmp):
    model = random_mlp([3, 4, 2])
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = -2
    onnx.save(model, str(tmp / "m.onnx"))
    return ["stability", str(tmp / "m.onnx"), "--box", "0", "1"], "dimension -2"


def nan_leaky_slope(tmp):
    model = random_mlp([3, 4, 2], activation="LeakyRelu")
    for node in model.graph.node:
        if node.op_type == "LeakyRelu":
            node.attribute.append(helper.make_attribute("alpha", float("nan")))
    onnx.save(model, str(tmp / "m.onnx"))
    return ["inspect", str(tmp / "m.onnx"), "--json"], "alpha nan is not a finite number"


def regions_beyond_float32(method):
    def case(tmp):
        return ["regions", mlp(tmp), "--box", "-1e300", "1e300", "--method", method], "float32"
    return case


def external_data_missing(tmp):
    model = random_mlp([3, 4, 2])
    onnx.save(model, str(tmp / "m.onnx"), save_as_external_data=True, location="m.data",
              size_threshold=0)
    (tmp / "m.data").unlink()
    return ["inspect", str(tmp / "m.onnx")], "external data file"


def dims_do_not_match_data(tmp):
    model = random_mlp([3, 4, 2])
    model.graph.initializer[0].dims[0] = 7
    onnx.save(model, str(tmp / "m.onnx"))
    return ["inspect", str(tmp / "m.onnx")], r"declares dims \[7, 3\]"


def huge_input(dims):
    def case(tmp):
        model = random_mlp([3, 4, 2])
        shape = model.graph.input[0].type.tensor_type.shape
        del shape.dim[1:]
        for d in dims:
            shape.dim.add().dim_value = d
        onnx.save(model, str(tmp / "m.onnx"))
        return ["compress", str(tmp / "m.onnx"), str(tmp / "o.onnx"), "--box", "0", "1"], \
            "values per sample"
    return case


def flatten_of_a_huge_input(tmp):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "W", "b"], ["y"], transB=1)]
    model = make_model(nodes, [("x", ["N", 100_000, 100_000])], [("y", ["N", 2])],
                       [init("W", np.zeros((2, 4))), init("b", np.zeros(2))], check=False)
    onnx.save(model, str(tmp / "m.onnx"))
    return ["stability", str(tmp / "m.onnx"), "--box", "0", "1"], "values per sample"


def float32_overflow(command, lo, hi, match):
    def case(tmp):  # weights of 10: the first layer reaches 30 x the box's bound
        model = str(save_model(dense_model([np.full((4, 3), 10.0), np.full((2, 4), 10.0)],
                                           [np.zeros(4), np.zeros(2)]), tmp / "m.onnx"))
        out = [str(tmp / "o.onnx")] if command == "compress" else []
        extra = [model] if command == "verify" else []
        return [command, model, *extra, *out, "--box", lo, hi], match
    return case


def bounds_file(name, text, match):
    def case(tmp):
        path = tmp / name
        path.write_text(text) if isinstance(text, str) else np.save(path, text)
        return ["stability", mlp(tmp), "--bounds", str(path)], match
    return case


HEADER = "".join(f"(declare-const X_{i} Real)\n" for i in range(3))
BOX = "".join(f"(assert (>= X_{i} 0))\n(assert (<= X_{i} 1))\n" for i in range(3))


def vnnlib(text, match, encoding="utf-8"):
    def case(tmp):
        (tmp / "p.vnnlib").write_bytes(text.encode(encoding))
        return ["stability", mlp(tmp), "--vnnlib", str(tmp / "p.vnnlib")], match
    return case


def verify_of_different_inputs(tmp):
    a = mlp(tmp, "a.onnx", (784, 4, 2))
    model = random_mlp([64, 4, 2])
    helper.set_model_props(model, {KEY_DOMAIN: json.dumps({"lo": [0] * 64, "hi": [1] * 64})})
    b = str(save_model(model, tmp / "b.onnx"))
    return ["verify", a, b, "--box", "0", "1"], "the two models' inputs differ"


def npy_of_shape_2_by_2(tmp):
    np.save(tmp / "b.npy", np.array([[-1.5, 2.5], [-1.0, 1.5]]))
    return ["stability", mlp(tmp, widths=(2, 4, 2)), "--bounds", str(tmp / "b.npy")], \
        r"a \(2, 2\) array could hold rows"


def unsupported_shape_ops_in(command):
    def case(tmp):
        args, match = unsupported_shape_ops(tmp)
        model = args[1]
        extra = {"compress": [str(tmp / "o.onnx"), "--box", "0", "1"],
                 "stability": ["--box", "0", "1"], "regions": ["--box", "0", "1"]}[command]
        return [command, model, *extra], match
    return case


def unsupported_shape_ops(tmp):
    """A Reshape target built from the input's shape that doubles the batch."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="Shape_0"),
             helper.make_node("Gather", ["s", "i"], ["n"], name="Gather_1", axis=0),
             helper.make_node("Unsqueeze", ["n", "a"], ["u"], name="Unsqueeze_2"),
             helper.make_node("Mul", ["u", "two"], ["u2"], name="Mul_3"),
             helper.make_node("Concat", ["u2", "m"], ["t"], name="Concat_4", axis=0),
             helper.make_node("Reshape", ["x", "t"], ["f"], name="Reshape_5"),
             helper.make_node("Gemm", ["f", "W"], ["y"], name="Gemm_6", transB=1)]
    inits = [init("i", np.array(0)), init("a", np.array([0])), init("m", np.array([-1])),
             init("two", np.array([2])), init("W", np.ones((2, 3)))]
    model = make_model(nodes, [("x", ["N", 2, 3])], [("y", ["N", 2])], inits)
    onnx.save(model, str(tmp / "m.onnx"))
    return ["inspect", str(tmp / "m.onnx")], \
        r"node Reshape_5 \(Reshape, opset 13\): the target shape depends on the batch size"


CASES = {
    "external data file missing": external_data_missing,
    "initializer dims do not match its data": dims_do_not_match_data,
    "input of 10^12 features": huge_input([10 ** 12]),
    "input of 2^63-1 features": huge_input([2 ** 63 - 1]),
    "[N, 1e5, 1e5] + Flatten": flatten_of_a_huge_input,
    "compress --box -1e300 1e300": float32_overflow("compress", "-1e300", "1e300", "float32"),
    "verify --box -1e300 1e300": float32_overflow("verify", "-1e300", "1e300", "float32"),
    "compress on bounds of 1e38": float32_overflow("compress", "-1e38", "1e38",
                                                   "beyond float32's range"),
    "verify on bounds of 1e38": float32_overflow("verify", "-1e38", "1e38", "non-finite outputs"),
    "--bounds with strings": bounds_file("b.json", '{"lo": ["0", 0, 0], "hi": 1}',
                                         r'lower bound "0" at position 0 is not a number'),
    "--bounds with booleans": bounds_file("b.json", '{"lo": 0, "hi": [true, 1, 1]}',
                                          "upper bound true at position 0 is not a number"),
    "--bounds .npy (2, 1, 3)": bounds_file("b.npy", np.zeros((2, 1, 3)), r"expected \(2, 3\)"),
    "--bounds .npy of strings": bounds_file("b.npy", np.array([["0"] * 3, ["1"] * 3]), "dtype"),
    "VNN-LIB 1_0": vnnlib(HEADER + BOX + "(assert (<= X_0 1_0))", "'1_0' is not a number"),
    "VNN-LIB X_00": vnnlib(HEADER + BOX + "(assert (<= X_00 1))", "X_00 is not a valid name"),
    "VNN-LIB unknown identifier": vnnlib(HEADER + BOX + "(assert (<= x_1 1))",
                                         "unknown identifier 'x_1'"),
    "VNN-LIB not UTF-8": vnnlib("; caf\u00e9\n" + HEADER + BOX, "UTF-8", "latin-1"),
    "VNN-LIB nested 5000 deep": vnnlib(HEADER + BOX + "(assert " + "(and " * 5000 + "(<= X_0 1)"
                                       + ")" * 5001, "nested too deeply"),
    "--bounds nested 100000 deep": bounds_file("b.json", '{"lo": ' + "[" * 100_000 + "]" * 100_000
                                               + ', "hi": 1}', "not a readable JSON bounds file"),
    "--bounds of a 400-digit number": bounds_file("b.json", '{"lo": 0, "hi": 1' + "0" * 400 + "}",
                                                  "must be numbers"),
    "--bounds of a 5000-digit number": bounds_file("b.json", '{"lo": 0, "hi": 1' + "0" * 5000
                                                   + "}", "not a readable JSON bounds file"),
    "input dimension -2": negative_dimension,
    "LeakyRelu alpha NaN": nan_leaky_slope,
    "regions --method sample beyond float32": regions_beyond_float32("sample"),
    "regions --method milp beyond float32": regions_beyond_float32("milp"),
    "verify of models with different inputs": verify_of_different_inputs,
    "shape subgraph": unsupported_shape_ops,
    **{f"shape subgraph, {command}": unsupported_shape_ops_in(command)
       for command in ("compress", "stability", "regions")},  # verify runs it in onnxruntime
    "--bounds with lo/hi and lower/upper": bounds_file(
        "b.json", '{"lo": 0, "hi": 1, "lower": [5, 5, 5], "upper": [6, 6, 6]}',
        'expected exactly the keys "lo" and "hi"'),
    "--bounds with an unknown key": bounds_file("b.json", '{"lo": 0, "hi": 1, "hi ": 2}',
                                                'got "lo", "hi", "hi "'),
    "--bounds with a repeated key": bounds_file("b.json", '{"lo": 0, "hi": 1, "hi": 2}',
                                                'key "hi" appears more than once'),
    "--bounds .npy (2, 2) for 2 inputs": npy_of_shape_2_by_2,
    "VNN-LIB asserts on an undeclared input": vnnlib(
        HEADER + BOX + "(assert (<= X_5 1))",
        r"asserts on X_5, which is not declared \(it declares 3 inputs, up to X_2\)"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(tmp_path, name):
    args, match = CASES[name](tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert re.search(match, result.stderr), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_real_process_prints_one_line_too(tmp_path):
    args, _ = huge_input([10 ** 12])(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "exactprune", *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stdout == ""

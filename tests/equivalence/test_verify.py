"""onnxruntime verification: compare() and `exactprune verify` on tiny Gemm/Relu models."""

import json
import re

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from exactprune.cli import main
from exactprune.cli.verify_cmd import NO_DOMAIN
from exactprune.domain import Box, parse_box
from exactprune.equivalence import CheckOptions
from exactprune.equivalence.sampled import compare, flat_input_size
from exactprune.errors import DomainError, InvalidModelError, UnsupportedModelError
from exactprune.onnx_io.metadata import KEY_DOMAIN

RNG = np.random.default_rng(7)
W1, B1 = RNG.normal(size=(6, 3)), RNG.normal(size=6)
W2, B2 = RNG.normal(size=(2, 6)), RNG.normal(size=2)


def mlp(layers, batch="N", in_shape=None, domain=None):
    """Gemm(transB=1) + Relu between layers; input [batch, n_in] (or `in_shape`), opset 13."""
    n_in = layers[0][0].shape[1]
    shape = in_shape or [batch, n_in]
    nodes, inits, x = [], [], "x"
    if in_shape is not None:
        inits.append(numpy_helper.from_array(np.array([-1, n_in], np.int64), "flat_shape"))
        nodes.append(helper.make_node("Reshape", ["x", "flat_shape"], ["x_flat"]))
        x = "x_flat"
    for k, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"W{k}"),
                  numpy_helper.from_array(b.astype(np.float32), f"B{k}")]
        out = "y" if k == len(layers) - 1 else f"g{k}"
        nodes.append(helper.make_node("Gemm", [x, f"W{k}", f"B{k}"], [out], transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [out], [f"h{k}"]))
            x = f"h{k}"
    n_out = layers[-1][0].shape[0]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    if domain is not None:
        helper.set_model_props(model, {KEY_DOMAIN: domain.dumps()})
    onnx.checker.check_model(model)
    return model


def saved(tmp_path, name, model):
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def invoke(*args):
    return CliRunner().invoke(main, ["verify", *map(str, args)])


BASE = mlp([(W1, B1), (W2, B2)])
BOX = parse_box(-1, 1, 3)


def test_identical_models_pass():
    report = compare(BASE, mlp([(W1, B1), (W2, B2)], batch=1), BOX, CheckOptions(samples=50))
    assert report.passed and report.max_abs == 0.0
    assert report.points == {"centre": 1, "uniform": 50, "vertex": 8}  # all 2**3 vertices
    assert report.n_points == 59 and not report.unit_box_assumed
    assert report.domain_source == "--box -1 1"


def test_perturbed_bias_fails_and_deviation_is_measured():
    report = compare(BASE, mlp([(W1, B1), (W2, B2 + [0.0, 1e-2])]), BOX, CheckOptions(samples=20))
    assert not report.passed
    assert report.max_abs == pytest.approx(1e-2, rel=1e-4)
    assert report.max_rel == pytest.approx(report.max_abs / report.scale)
    assert report.scale >= 1.0


def test_float32_sized_noise_passes_tolerance():
    report = compare(BASE, mlp([(W1, B1), (W2, B2 + 1e-7)]), BOX, CheckOptions(samples=20))
    assert report.passed and 0 < report.max_abs < 1e-6


def test_unit_box_assumed_without_domain():
    report = compare(BASE, BASE, None, CheckOptions(samples=5, vertices=0))
    assert report.unit_box_assumed and report.domain_source.startswith("unit box [0,1]")
    assert report.points == {"centre": 1, "uniform": 5}


def test_extra_inputs_are_checked():
    """B differs from A only where x_0 > 2: invisible in [-1, 1]^3, caught by an extra point."""
    w1 = np.vstack([W1, [[1.0, 0.0, 0.0]]])
    b1 = np.append(B1, -2.0)
    w2 = np.hstack([W2, [[1.0], [0.0]]])
    changed = mlp([(w1, b1), (w2, B2)])
    assert compare(BASE, changed, BOX, CheckOptions(samples=30)).passed
    report = compare(BASE, changed, BOX, CheckOptions(samples=30), extra_inputs=[[3.0, 0.0, 0.0]])
    assert not report.passed and report.worst_kind == "extra"
    assert report.worst_input == report.n_points - 1
    assert report.max_abs == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("batch", [1, 4, "N"])
def test_batch_dims_give_the_same_outputs(batch):
    """Fixed batch dims (with padding of the last chunk) and symbolic ones agree."""
    other = mlp([(W1, B1), (W2, B2 + [0.0, 0.5])], batch=batch)
    report = compare(BASE, other, BOX, CheckOptions(samples=9, vertices=0))
    assert report.max_abs == pytest.approx(0.5, rel=1e-5) and report.n_points == 10


def test_reshaped_input_shape():
    model = mlp([(W1, B1), (W2, B2)], in_shape=[1, 3, 1])
    assert flat_input_size(model) == 3
    assert compare(model, model, BOX, CheckOptions(samples=5)).passed


def test_shape_mismatches_are_invalid_models():
    with pytest.raises(InvalidModelError, match=r"the two models' inputs differ: model A \[N, 3\], "
                                                r"model B \[1, 3, 1\]"):
        compare(BASE, mlp([(W1, B1), (W2, B2)], in_shape=[1, 3, 1]), BOX)
    with pytest.raises(InvalidModelError, match=r"model A y gives 2 values per input, "
                                                r"model B y gives 3"):
        compare(BASE, mlp([(W1, B1), (np.vstack([W2, W2[:1]]), np.append(B2, 0))]), BOX)


def test_domain_size_and_extra_inputs_must_fit():
    with pytest.raises(DomainError, match=r"domain --box 0 1 has 4 inputs, the models have 3"):
        compare(BASE, BASE, parse_box(0, 1, 4))
    with pytest.raises(ValueError, match=r"extra inputs of shape \(2, 2\) are not flat inputs"):
        compare(BASE, BASE, BOX, extra_inputs=np.zeros((2, 2)))


def test_two_graph_inputs_are_unsupported():
    model = onnx.ModelProto.FromString(BASE.SerializeToString())
    model.graph.input.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1]))
    with pytest.raises(UnsupportedModelError, match=r"model B: 2 graph inputs \['x', 'z'\]"):
        compare(BASE, model, BOX)


def test_nan_outputs_fail():
    report = compare(BASE, mlp([(W1, B1), (W2, B2 + [np.nan, 0.0])]), BOX, CheckOptions(samples=3))
    assert not report.passed and report.max_abs == np.inf
    assert report.to_json()["max_abs"] is None


# the command -----------------------------------------------------------------------------------
def test_cli_identical_passes_with_box(tmp_path):
    a = saved(tmp_path, "a.onnx", BASE)
    result = invoke(a, a, "--box", "-1", "1", "--samples", "30")
    assert result.exit_code == 0, result.output
    assert "--box -1 1" in result.output and "PASS" in result.output
    assert "39 (1 centre, 30 uniform, 8 vertex)" in result.output


def test_cli_perturbed_model_exits_1(tmp_path):
    a = saved(tmp_path, "a.onnx", BASE)
    b = saved(tmp_path, "b.onnx", mlp([(W1, B1 + 0.1), (W2, B2)]))
    result = invoke(a, b, "--samples", "30")
    assert result.exit_code == 1
    assert "FAIL" in result.output and NO_DOMAIN in result.output
    assert "b.onnx deviates from" in result.output


def test_cli_json_report(tmp_path):
    a = saved(tmp_path, "a.onnx", BASE)
    b = saved(tmp_path, "b.onnx", mlp([(W1, B1), (W2, B2 + 1e-3)]))
    result = invoke(a, b, "--json", "--samples", "10", "--vertices", "0", "--atol", "1e-2")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["model_b"] == b
    assert data["max_abs"] == pytest.approx(1e-3, rel=1e-3)
    assert data["n_points"] == 11 and data["unit_box_assumed"] is True
    assert data["tolerance"] == pytest.approx(1e-2 + 1e-4 * data["scale"])
    failing = invoke(a, b, "--json", "--samples", "10", "--atol", "0", "--rtol", "0")
    assert failing.exit_code == 1 and json.loads(failing.stdout)["passed"] is False


def test_cli_uses_stored_domain_then_flags(tmp_path):
    stored = Box(np.full(3, 5.0), np.full(3, 6.0), "spec.vnnlib")
    a = saved(tmp_path, "a.onnx", mlp([(W1, B1), (W2, B2)], domain=stored))
    result = invoke(a, a, "--json")
    data = json.loads(result.stdout)
    assert data["domain_source"] == f"stored in {a} (from spec.vnnlib)"
    assert not data["unit_box_assumed"]
    spec = tmp_path / "p.vnnlib"
    spec.write_text("".join(f"(assert (<= X_{i} 1))(assert (>= X_{i} 0))" for i in range(3)))
    data = json.loads(invoke(a, a, "--json", "--vnnlib", spec).stdout)
    assert data["domain_source"] == str(spec)


@pytest.mark.parametrize("extra, match", [
    (["--box", "0", "1", "--bounds", "b.json"], "give at most one domain, not --box and --bounds"),
    (["--bounds", "b.json", "--vnnlib", "p.vnnlib"], "not --bounds and --vnnlib"),
    (["--bounds", "missing.json"], r"missing\.json: no such file"),
    (["--box", "2", "1"], "lower bound 2 > upper bound 1"),
])
def test_cli_bad_domain_exits_2(tmp_path, extra, match):
    a = saved(tmp_path, "a.onnx", BASE)
    result = invoke(a, a, *[str(tmp_path / e) if e.endswith(".json") else e for e in extra])
    assert result.exit_code == 2
    assert re.search(match, result.output)


def test_cli_shape_mismatch_and_bad_files_exit_2(tmp_path):
    a = saved(tmp_path, "a.onnx", BASE)
    b = saved(tmp_path, "b.onnx", mlp([(W1, B1), (W2, B2)], in_shape=[1, 3, 1]))
    result = invoke(a, b)
    assert result.exit_code == 2 and "the two models' inputs differ" in result.output
    assert invoke(a, tmp_path / "none.onnx").exit_code == 2
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01garbage")
    result = invoke(a, junk)
    assert result.exit_code == 2 and "not a readable ONNX model" in result.output


def test_cli_checks_a_compressed_model_where_it_claims_to_be_exact(tmp_path):
    """A stores [0, 6]^3, B (compressed on part of it) stores [5, 6]^3: verify without a flag
    uses their intersection, where B is exact, not the whole of A's domain."""
    wide = Box(np.zeros(3), np.full(3, 6.0), "wide")
    narrow = Box(np.full(3, 5.0), np.full(3, 6.0), "narrow")
    a = saved(tmp_path, "a.onnx", mlp([(W1, B1), (W2, B2)], domain=wide))
    b = saved(tmp_path, "b.onnx", mlp([(W1, B1), (W2, B2)], domain=narrow))
    data = json.loads(invoke(a, b, "--json").stdout)
    assert data["domain_source"] == f"stored in {b} (from narrow)"
    c = saved(tmp_path, "c.onnx", mlp([(W1, B1), (W2, B2)],
                                     domain=Box(np.full(3, 7.0), np.full(3, 8.0), "far")))
    result = invoke(a, c)
    assert result.exit_code == 2 and "do not meet" in result.stderr

"""compress(): reductions + export + verification end to end, the CLI, the shared and sample models."""

from __future__ import annotations

import gzip
import json
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from builders import BOX, REPO, SHARED, SHARED_REASON, lying_analyser, mnist_csv, planted_network  # noqa: E402
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from exactprune import compress, pipeline
from exactprune.cli import main
from exactprune.domain import Box, load_vnnlib
from exactprune.equivalence import CheckOptions
from exactprune.onnx_io import load, to_onnx
from exactprune.reductions import layer_name
from exactprune.stability import analyse_stability


def tiny_model(path: Path) -> Path:
    """2 -> 4 -> 3 -> 2 with, on [0,1]^2, neuron 1 of fc0 stably inactive and 2, 3 stably active."""
    w0 = np.array([[1.0, -1.0], [0.5, 0.7], [1.0, 2.0], [-1.0, 0.5]], np.float32)
    b0 = np.array([0.0, -5.0, 3.0, 4.0], np.float32)
    w1 = np.array([[1.0, -2.0, 0.5, 0.3], [0.2, 1.0, -1.0, 1.0], [-0.5, 0.4, 0.3, -0.2]], np.float32)
    b1 = np.array([0.1, -0.2, 0.3], np.float32)
    w2 = np.array([[1.0, 0.5, -1.0], [0.3, -0.7, 2.0]], np.float32)
    b2 = np.array([0.0, 1.0], np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w0, "w0"), (b0, "b0"), (w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["g0"], name="fc0", transB=1),
             helper.make_node("Relu", ["g0"], ["h0"], name="relu0"),
             helper.make_node("Gemm", ["h0", "w1", "b1"], ["g1"], name="fc1", transB=1),
             helper.make_node("Relu", ["g1"], ["h1"], name="relu1"),
             helper.make_node("Gemm", ["h1", "w2", "b2"], ["y"], name="fc2", transB=1)]
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def run(model, x: np.ndarray) -> np.ndarray:
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    if isinstance(inp.shape[0], int):  # a fixed batch of 1: one point at a time
        shape = [1, *inp.shape[1:]]
        return np.concatenate([session.run(None, {inp.name: row.reshape(shape).astype(np.float32)})[0]
                               .reshape(1, -1) for row in x])
    return session.run(None, {inp.name: x.astype(np.float32)})[0]


def assert_same_outputs(a, b, box: Box, rng, scale_tol: float = 1e-5) -> None:
    x = rng.uniform(box.lo, box.hi, size=(300, box.size))
    ya, yb = run(a, x), run(b, x)
    assert np.abs(ya - yb).max() <= scale_tol * max(1.0, np.abs(ya).max())


def test_tiny_model_loses_its_stable_neurons(tmp_path):
    src = tiny_model(tmp_path / "tiny.onnx")
    box = Box(np.zeros(2), np.ones(2), "--box 0 1")
    result = compress(src, box, check=CheckOptions(samples=200))
    report = result.report
    assert report.verified and report.params_after < report.params_before
    fc0 = report.layers[0]
    assert (fc0.name, fc0.stably_inactive, fc0.stably_active) == ("relu0", 1, 2)
    assert 1 not in result.network.layers[0].origin
    assert report.by_rule["inactive"]["neurons"] >= 1
    assert_same_outputs(src, result.model, box, np.random.default_rng(0))
    out = result.save(tmp_path / "small.onnx")
    again = compress(out)  # the domain stored in the output
    assert again.report.domain == "--box 0 1" and again.report.actions == []


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n_hidden=st.integers(1, 3), leaky=st.booleans(),
       plan=st.lists(st.tuples(*(st.integers(0, 1),) * 6), min_size=3, max_size=3))
def test_random_planted_networks_verify_and_are_idempotent(seed, n_hidden, leaky, plan):
    planted = planted_network(seed, n_hidden, leaky, plan)
    original = to_onnx(planted.network)
    analyse = partial(analyse_stability, time_limit=20.0)
    first = compress(original, BOX, check=CheckOptions(samples=100), analyse=analyse)
    assert first.report.verified
    if first.fixpoint.complete and not leaky:  # the real analysis finds every planted neuron
        left = {layer_name(layer): set(layer.origin) for layer in first.network.hidden}
        for name, gone in planted.gone.items():
            assert not left.get(name, set()) & set(gone), name
    assert_same_outputs(original, first.model, BOX, np.random.default_rng(seed))
    second = compress(first.model, BOX, check=CheckOptions(samples=100), analyse=analyse)
    if first.fixpoint.complete:
        assert second.report.params_after == second.report.params_before


def test_constant_network_and_final_relu_export_and_verify():
    from exactprune.ir import Dense, InputMap, Network

    rng = np.random.default_rng(4)
    box = Box(-np.ones(2), np.ones(2), "--box -1 1")
    dead_layer = Network((Dense(rng.standard_normal((3, 2)), rng.standard_normal(3), act_node="r0"),
                          Dense(rng.standard_normal((4, 3)), np.full(4, -100.0), act_node="r1"),
                          Dense(rng.standard_normal((2, 4)), rng.standard_normal(2), "identity")),
                         InputMap.identity(2))
    result = compress(dead_layer, box, check=CheckOptions(samples=100))
    assert [layer.weight.shape for layer in result.network.layers] == [(0, 2), (2, 0)]
    assert result.report.verified and result.report.params_after == 2
    final_relu = Network((Dense(rng.standard_normal((3, 2)), rng.standard_normal(3), act_node="r0"),
                          Dense(rng.standard_normal((2, 3)), np.array([-100.0, 0.0]), "relu",
                                act_node="out")), InputMap.identity(2))
    result = compress(final_relu, box, check=CheckOptions(samples=100))
    assert result.report.verified and result.network.n_outputs == 2
    assert "output-zero" in result.report.by_rule
    assert_same_outputs(to_onnx(final_relu), result.model, box, rng)


def test_without_domain_only_data_free_rules_run(tmp_path):
    rng = np.random.default_rng(3)
    net = planted_network(5, 2, False, [(1, 1, 0, 1, 1, 1)] * 3).network
    result = compress(net, None, check=CheckOptions(samples=50))
    assert result.stability is None and "no domain" in result.report.notes[0]
    assert set(result.report.by_rule) <= {"constant", "dead", "lump"}
    assert result.report.by_rule and result.report.verified
    x = rng.uniform(-5, 5, (100, 4))
    assert np.allclose(net.forward(x), result.network.forward(x), atol=1e-9)


@pytest.fixture()
def src(tmp_path) -> Path:
    return tiny_model(tmp_path / "in.onnx")


def test_cli_compress_writes_model_and_json(src, tmp_path):
    out, report = tmp_path / "out.onnx", tmp_path / "report.json"
    result = CliRunner().invoke(main, ["compress", str(src), str(out), "--box", "0", "1",
                                       "--json", str(report), "--samples", "100"])
    assert result.exit_code == 0, result.output
    assert "relu0" in result.stdout and "parameters" in result.stdout and "PASS" in result.stdout
    data = json.loads(report.read_text())
    assert data["verified"] and data["stability"]["layers"][0]["stably_inactive"] == [1]
    assert data["params_after"] == load(out).n_params < data["params_before"]


def test_cli_refuses_to_overwrite(src, tmp_path):
    out = tmp_path / "out.onnx"
    out.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["compress", str(src), str(out), "--box", "0", "1"])
    assert result.exit_code == 2 and "pass --force" in result.stderr
    assert out.read_bytes() == b"keep me"
    result = CliRunner().invoke(main, ["compress", str(src), str(src), "--box", "0", "1", "--force"])
    assert result.exit_code == 2 and "is the input model" in result.stderr


def test_cli_missing_input(tmp_path):
    result = CliRunner().invoke(main, ["compress", str(tmp_path / "nope.onnx"), str(tmp_path / "o.onnx")])
    assert result.exit_code == 2 and "nope.onnx" in result.stderr


def test_cli_without_domain_says_how_to_give_one(src, tmp_path):
    result = CliRunner().invoke(main, ["compress", str(src), str(tmp_path / "o.onnx")])
    assert result.exit_code == 0 and "--box LO HI" in result.stderr


def test_cli_verification_failure_exits_1_and_writes_nothing(src, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "analyse_stability", lying_analyser)
    out = tmp_path / "out.onnx"
    args = ["compress", str(src), str(out), "--box", "-3", "3", "--samples", "100"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "verification failed" in result.stderr
    assert not out.exists()
    result = CliRunner().invoke(main, args + ["--keep-on-fail"])
    assert result.exit_code == 1 and out.exists()


def test_recompressing_never_claims_more_than_the_first_domain(src, tmp_path):
    from exactprune.errors import DomainError

    first = compress(src, Box(np.zeros(2), np.full(2, 0.5), "--box 0 0.5"), check=CheckOptions(samples=100))
    small = first.save(tmp_path / "small.onnx")
    second = compress(small, Box(-np.ones(2), np.ones(2), "--box -1 1"), check=CheckOptions(samples=100))
    assert np.array_equal(second.domain.lo, np.zeros(2))
    assert np.array_equal(second.domain.hi, np.full(2, 0.5))
    assert any("already compressed" in note for note in second.report.notes)
    with pytest.raises(DomainError, match="does not meet"):
        compress(small, Box(np.full(2, 0.6), np.ones(2), "--box 0.6 1"))


def test_an_interrupted_analysis_ends_the_fixpoint_and_says_so(src):
    calls = []

    def interrupted(network, box, **kwargs):
        calls.append(network)
        result = analyse_stability(network, box, method="bounds")
        result.complete, result.interrupted = False, True
        return result

    result = compress(src, Box(np.zeros(2), np.ones(2), "--box 0 1"), analyse=interrupted,
                      check=CheckOptions(samples=100))
    assert len(calls) == 1 and result.report.verified
    assert any("interrupted (Ctrl-C)" in note for note in result.report.notes)


@pytest.mark.skipif(not (SHARED / "models").is_dir(), reason=SHARED_REASON)
def test_shared_cartpole_compresses_and_verifies():
    model = SHARED / "models" / "cartpole.onnx"
    box = load_vnnlib(SHARED / "models" / "cartpole_case_safe_14.vnnlib", 4)
    result = compress(model, box, time_limit=60.0)
    assert result.report.verified and result.report.params_after < result.report.params_before / 2
    assert_same_outputs(model, result.model, box, np.random.default_rng(1))


SAMPLES = sorted((REPO / "sample_models").glob("mnist_*.onnx"))


@pytest.mark.parametrize("model", SAMPLES, ids=lambda p: p.name)
def test_sample_models_classify_mnist_as_before(model):
    with gzip.open(mnist_csv(), "rt") as fh:
        pixels = np.loadtxt(fh, delimiter=",", dtype=np.float64)[:, :784]
    x = pixels / 255.0
    result = compress(model, check=CheckOptions(samples=200))  # the full pipeline: under a second per model
    assert result.report.verified and result.report.complete and result.report.domain is not None
    assert result.report.params_after < result.report.params_before
    assert np.array_equal(run(model, x).argmax(axis=1), run(result.model, x).argmax(axis=1))

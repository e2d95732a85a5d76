"""Models at the edges of what the importer reads (found by a review as an adversarial user):
each is read and compressed exactly, or refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
from builders import init, make_model, rel_dev, run_ort, save_model
from onnx import TensorProto, helper

from exactprune import compress, load
from exactprune.domain import Box, load_calibration
from exactprune.errors import DomainError, InvalidModelError, UnsupportedModelError

RNG = np.random.default_rng(11)
BOX = Box(-2 * np.ones(3), 2 * np.ones(3), "box")


def relu6_model():
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="G", transB=1),
             helper.make_node("Clip", ["g", "lo", "hi"], ["h"], name="Relu6"),
             helper.make_node("Gemm", ["h", "W2", "b2"], ["y"], name="G2", transB=1)]
    inits = [init("W", RNG.normal(size=(8, 3))), init("b", RNG.normal(size=8)),
             init("lo", np.array(0.0, np.float32)), init("hi", np.array(1.0, np.float32)),
             init("W2", RNG.normal(size=(2, 8))), init("b2", RNG.normal(size=2))]
    return make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])], inits)


def test_a_compressed_clip_model_is_read_again_and_compressed_further(tmp_path):
    model = relu6_model()
    first = compress(save_model(model, tmp_path / "m.onnx"), BOX)
    assert "Min" in {n.op_type for n in first.model.graph.node}  # capped units, inf caps
    again = compress(save_model(first.model, tmp_path / "o.onnx"),
                     Box(-np.ones(3), np.ones(3), "smaller"))
    assert again.report.verified and again.report.neurons_after <= first.report.neurons_after
    x = RNG.uniform(-1, 1, size=(300, 3)).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(again.model, x)) <= 1e-5


@pytest.mark.parametrize("lo", [-1e12, -1e30, -np.inf])
def test_a_clip_bound_far_away_costs_no_precision(tmp_path, lo):
    model = relu6_model()
    model.graph.initializer[2].CopyFrom(init("lo", np.array(lo, np.float32)))
    result = compress(save_model(model, tmp_path / "m.onnx"), BOX)
    assert result.report.verified and result.verification.max_abs <= 1e-5


def test_a_body_computing_in_float32_between_float64_casts_is_written_so(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["x32"], name="In", to=TensorProto.FLOAT),
             helper.make_node("Gemm", ["x32", "W", "b"], ["g"], name="G", transB=1),
             helper.make_node("Relu", ["g"], ["h"], name="R"),
             helper.make_node("Gemm", ["h", "W2"], ["y32"], name="G2", transB=1),
             helper.make_node("Cast", ["y32"], ["y"], name="Out", to=TensorProto.DOUBLE)]
    inits = [init("W", RNG.normal(size=(6, 3))), init("b", RNG.normal(size=6)),
             init("W2", RNG.normal(size=(2, 6)))]
    model = make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])], inits)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    result = compress(save_model(model, tmp_path / "m.onnx"), BOX)
    assert result.report.verified
    types = {t.data_type for t in result.model.graph.initializer if t.name.startswith("layer")}
    assert types == {TensorProto.FLOAT}  # the original's layers computed in float32
    assert result.verification.tolerance > 1e-6  # float32's tolerance, not float64's


def test_an_input_without_batch_unsqueezed_before_gemm_and_a_scalar_output(tmp_path):
    nodes = [helper.make_node("Unsqueeze", ["x", "axes"], ["u"], name="U"),
             helper.make_node("Gemm", ["u", "W", "b"], ["g"], name="G", transB=1),
             helper.make_node("Relu", ["g"], ["h"], name="R"),
             helper.make_node("Reshape", ["h", "flat"], ["f"], name="F"),
             helper.make_node("MatMul", ["f", "w"], ["y"], name="Dot")]
    inits = [init("axes", np.array([0])), init("W", RNG.normal(size=(6, 3))),
             init("b", RNG.normal(size=6)), init("flat", np.array([6])),
             init("w", RNG.normal(size=6))]
    model = make_model(nodes, [("x", [3])], [("y", [])], inits)
    result = compress(save_model(model, tmp_path / "m.onnx"), BOX)
    assert result.report.verified
    out = result.model.graph.output[0].type.tensor_type.shape
    assert len(out.dim) == 0  # still a scalar


@pytest.mark.parametrize("build, error, match", [
    (lambda: make_model([helper.make_node("Relu", ["x"], ["y"], name="R")], [("x", ["N"])],
                        [("y", ["N"])]), UnsupportedModelError, r"has shape \['N'\]"),
    (lambda: make_model([helper.make_node("Gemm", ["x", "W"], ["g"], name="G", transB=1),
                         helper.make_node("Clip", ["g", "lo"], ["y"], name="C")],
                        [("x", ["N", 3])], [("y", ["N", 2])],
                        [init("W", np.ones((2, 3))), init("lo", np.zeros(0, np.float32))]),
     InvalidModelError, "its min and max must be scalars"),
])
def test_refused_in_one_error(tmp_path, build, error, match):
    with pytest.raises(error, match=match):
        load(save_model(build(), tmp_path / "m.onnx"))


def test_a_corrupt_npz_calibration_file_is_a_domain_error(tmp_path):
    bad = tmp_path / "rows.npz"
    np.savez(bad, X=np.zeros((4, 3)))
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DomainError, match="not readable calibration data"):
        load_calibration(bad, 3)

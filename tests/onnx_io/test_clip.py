"""Clip (ReLU6, Hardtanh, one-sided) read as ReLU units and written back as capped units."""

from __future__ import annotations

import numpy as np
import pytest
from builders import init, make_model, rel_dev, run_ort, save_model
from onnx import helper

from exactprune import compress
from exactprune.domain import Box
from exactprune.onnx_io import load_model, to_onnx, written_network

RNG = np.random.default_rng(5)


def clip_model(lo, hi, opset: int, width: int = 6):
    """Gemm, Clip(lo, hi) (None: no bound), Gemm on 3 inputs; bounds as attributes before
    opset 11, as inputs from there on."""
    inits = [init("W", RNG.normal(size=(width, 3))), init("b", RNG.normal(size=width)),
             init("W2", RNG.normal(size=(2, width))), init("b2", RNG.normal(size=2))]
    if opset < 11:
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        clip = helper.make_node("Clip", ["g"], ["h"], name="Clip_1", **attrs)
    else:
        names = []
        for key, value in (("lo", lo), ("hi", hi)):
            if value is not None:
                inits.append(init(key, np.array(value, dtype=np.float32)))
            names.append(key if value is not None else "")
        clip = helper.make_node("Clip", ["g", *names], ["h"], name="Clip_1")
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="Gemm_0", transB=1), clip,
             helper.make_node("Gemm", ["h", "W2", "b2"], ["y"], name="Gemm_2", transB=1)]
    return make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])], inits, opset=opset)


@pytest.mark.parametrize("lo, hi, units", [(0.0, 6.0, 12), (-1.0, 1.0, 12), (0.5, None, 6),
                                           (None, 0.3, 6), (1.0, 1.0, None), (2.0, -1.0, None)])
@pytest.mark.parametrize("opset", [9, 13])
def test_clip_is_exact_as_relu_units_and_written_back_fused(tmp_path, lo, hi, units, opset):
    if opset < 11 and lo is not None and hi is not None and lo > hi:
        pytest.skip("onnxruntime refuses Clip-6 with min > max")
    model = clip_model(lo, hi, opset)
    source = load_model(save_model(model, tmp_path / "m.onnx"))
    net = source.network
    relu = [layer.n_out for layer in net.hidden if layer.activation.kind == "relu"]
    assert sum(relu) == (units or 0)  # lo >= hi: the constant hi, no units
    x = RNG.uniform(-3, 3, size=(200, 3)).astype(np.float32)
    y = run_ort(model, x)
    assert rel_dev(y, net.forward(x)) <= 1e-5
    written = to_onnx(net, interface=source.interface)
    assert rel_dev(y, run_ort(written, x)) <= 1e-5
    both = lo is not None and hi is not None and lo < hi
    assert ("Min" in {n.op_type for n in written.graph.node}) == both
    if units:
        assert written_network(net, opset).n_neurons == 6  # one (capped) unit per neuron


def test_relu6_neurons_stuck_at_a_bound_become_constants(tmp_path):
    """Neurons pinned below 0, inside [0, 6] and above 6 on the box and one crossing 0: the
    pinned ones at a bound fold into the next bias, the middle one stays as an affine (active)
    unit beside the crossing one."""
    w = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
    b = np.array([-5.0, 3.0, 10.0, -0.5])  # on x in [0, 1]^3: below, middle, above, crossing 0
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="Gemm_0", transB=1),
             helper.make_node("Clip", ["g", "lo", "hi"], ["h"], name="Relu6"),
             helper.make_node("Gemm", ["h", "W2"], ["y"], name="Gemm_2", transB=1)]
    inits = [init("W", w), init("b", b), init("lo", np.array(0.0, np.float32)),
             init("hi", np.array(6.0, np.float32)), init("W2", RNG.normal(size=(2, 4)))]
    model = make_model(nodes, [("x", ["N", 3])], [("y", ["N", 2])], inits)
    path = save_model(model, tmp_path / "m.onnx")
    result = compress(path, Box(np.zeros(3), np.ones(3), "unit box"))
    assert result.report.verified
    assert result.report.neurons_before == 4 and result.report.neurons_after == 2
    x = RNG.uniform(0, 1, size=(500, 3)).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) <= 1e-5

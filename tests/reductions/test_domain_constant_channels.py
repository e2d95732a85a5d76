"""Channels constant on the domain: a box that fixes input channel 0 makes the conv channels that
read only it (and, deeper, only such channels or stably inactive ones) constant, with non-zero
kernels. compress folds exactly those channels ("constant"), not one that reads a single other
tap, nor any on a box that fixes nothing; the written model verifies and matches the original
on random points of the box, and every value the rule takes is the network's own float64 value
at every point of the box."""

import numpy as np
import pytest
from builders import conv_chain, rel_dev, run_ort
from onnx import numpy_helper

from exactprune import compress
from exactprune.domain import Box
from exactprune.equivalence import CheckOptions
from exactprune.ir import INACTIVE, UNKNOWN
from exactprune.onnx_io import convert
from exactprune.reductions.constancy import constant_outputs

SHAPE = (3, 7, 7)
N = int(np.prod(SHAPE))


def fixed_box(fixed: bool) -> Box:
    """[0, 1] on every input, input channel 0 fixed to 0.4 when `fixed`."""
    lo, hi = np.zeros(SHAPE), np.ones(SHAPE)
    if fixed:
        lo[0] = hi[0] = 0.4
    return Box(lo.reshape(-1), hi.reshape(-1), "fixed channel 0" if fixed else "--box 0 1")


def _plant(model, node: int, kernel: np.ndarray, bias: np.ndarray) -> None:
    inits = {t.name: t for t in model.graph.initializer}
    inits[f"K{node}"].CopyFrom(numpy_helper.from_array(kernel.astype(np.float32), f"K{node}"))
    inits[f"B{node}"].CopyFrom(numpy_helper.from_array(bias.astype(np.float32), f"B{node}"))


def _kernel(model, node: int) -> np.ndarray:
    inits = {t.name: t for t in model.graph.initializer}
    return np.abs(numpy_helper.to_array(inits[f"K{node}"])) + 0.05


def first_layer():
    """Conv(5, 3x3) Relu Conv(4, 2x2) Relu -> Gemm: channels 0, 1 of the first conv read only
    input channel 0 (fold into the second conv's bias), channel 0 of the second reads only them
    (folds then), its channel 1 reads them and one tap of channel 2 (stays). Expected folds."""
    model = conv_chain([("Conv", {"out": 5, "k": 3}), ("Relu", {}),
                        ("Conv", {"out": 4, "k": 2}), ("Relu", {})], in_shape=SHAPE, seed=5)
    k0, k2 = _kernel(model, 0), _kernel(model, 2)
    k0[:2, 1:] = 0.0
    k2[:2, 2:] = 0.0
    k2[1, 2, 1, 0] = 0.3
    _plant(model, 0, k0, np.array([0.5, -0.2, 5, 5, 5]))
    _plant(model, 2, k2, np.full(4, 0.5))
    return model, {"Relu_1": {0, 1}, "Relu_3": {0}}


def depthwise():
    """Depthwise Conv(3, 3x3) Relu Conv(4, 2x2) Relu Conv(3, 2x2) Relu -> Gemm: the depthwise
    channel 0 reads only input channel 0, its channel 2 is dead (kernel <= 0, bias -1); channel
    0 of the second conv reads only depthwise channel 0, its channel 2 that and the dead one
    (both fold into the third conv's bias); its channel 1 reads one tap of channel 1 (stays)."""
    model = conv_chain([("Conv", {"out": 3, "k": 3, "group": 3}), ("Relu", {}),
                        ("Conv", {"out": 4, "k": 2}), ("Relu", {}),
                        ("Conv", {"out": 3, "k": 2}), ("Relu", {})], in_shape=SHAPE, seed=6)
    k0, k2 = _kernel(model, 0), _kernel(model, 2)
    k0[2] = -k0[2]
    k2[:3, 1:] = 0.0
    k2[1, 1, 0, 1] = 0.3
    k2[2, 2] = -0.7
    _plant(model, 0, k0, np.array([0.5, 5, -1]))
    _plant(model, 2, k2, np.array([0.5, 0.5, 2.0, 0.5]))
    _plant(model, 4, _kernel(model, 4), np.full(3, 0.5))
    return model, {"Relu_3": {0, 2}}


MODELS = {"first_layer": first_layer, "depthwise": depthwise}


def folded_channels(result) -> dict[str, set[int]]:
    """{layer name: original channels} of the actions, which must all be "constant"."""
    positions = {layer.act_node: getattr(layer, "positions", 1) for layer in result.network.layers}
    out: dict[str, set[int]] = {}
    for action in result.fixpoint.actions:
        assert action.rule == "constant"
        out.setdefault(action.layer, set()).update(o // positions[action.layer]
                                                   for o in action.neurons)
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compress_folds_exactly_the_channels_constant_on_the_box(name):
    model, expected = MODELS[name]()
    box = fixed_box(True)
    result = compress(model, box, check=CheckOptions(samples=200))
    assert result.report.verified
    assert folded_channels(result) == expected
    rng = np.random.default_rng(1)
    x = rng.uniform(box.lo, box.hi, size=(100, N)).reshape(-1, *SHAPE).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) < 1e-5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_nothing_folds_on_a_box_that_fixes_no_input(name):
    model, _ = MODELS[name]()
    result = compress(model, fixed_box(False), check=CheckOptions(samples=100))
    assert result.report.verified
    assert not any(a.rule == "constant" for a in result.fixpoint.actions)


def test_constant_values_are_the_networks_own_at_every_point():
    """On the depthwise model, with the dead channel's status: the second conv's constant
    positions are exactly channels 0 and 2 (channel 1 reads a varying tap), and their float64
    values are the forward pass's at every sampled point, bit for bit."""
    network = convert(depthwise()[0]).network
    box = fixed_box(True)
    status = np.full(network.layers[0].n_out, UNKNOWN, dtype=np.int8)
    status.reshape(3, -1)[2] = INACTIVE
    stat = [status, None]
    values = constant_outputs(list(network.layers), 1, network.input_map, box, stat)
    constant = ~np.isnan(values).reshape(4, -1)
    assert constant.all(axis=1).tolist() == [True, False, True, False]
    assert not constant[1].any()
    x = np.random.default_rng(2).uniform(box.lo, box.hi, size=(30, N))
    h = network.layers[1].activation.apply(network.preactivations(x)[1])
    assert (h[:, ~np.isnan(values)] == values[~np.isnan(values)]).all()
    unfixed = constant_outputs(list(network.layers), 1, network.input_map, fixed_box(False), stat)
    assert np.isnan(unfixed).all()

"""Pre-activation bounds: soundness on samples, exactness where it must hold, tightening."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from builders import inside
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.bounds import interval_bounds, symbolic_bounds
from exactprune.domain import Box
from exactprune.ir import Activation, Dense, InputMap, Network, leaky_relu


def random_net(widths, seed, activations=None, input_map=None):
    rng = np.random.default_rng(seed)
    layers = []
    for k, (a, b) in enumerate(zip(widths, widths[1:])):
        act = "identity" if k == len(widths) - 2 else (activations or ["relu"] * 9)[k]
        layers.append(Dense(rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.3,
                            Activation(act, 0.1 if act == "leaky_relu" else 0.0)))
    return Network(tuple(layers), input_map or InputMap.identity(widths[0]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 4),
       acts=st.lists(st.sampled_from(["relu", "leaky_relu", "identity"]), min_size=4, max_size=4))
def test_bounds_are_sound_and_symbolic_is_tighter(seed, depth, acts):
    widths = [3] + [6] * depth + [2]
    net = random_net(widths, seed, acts)
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-1, 0.5, 3)
    box = Box(lo, lo + rng.uniform(0.01, 1.5, 3))
    ib, sb = interval_bounds(net, box), symbolic_bounds(net, box)
    assert inside(net, box, ib) and inside(net, box, sb)
    for (il, iu), (sl, su) in zip(ib, sb):
        assert (sl >= il).all() and (su <= iu).all()


def test_interval_bounds_propagate_known_bounds():
    net = random_net([3, 5, 5, 2], seed=11)
    box = Box(-np.ones(3), np.ones(3))
    plain = interval_bounds(net, box)
    lo, up = plain[0]
    known = [((lo + up) / 2, up), None, None]
    tight = interval_bounds(net, box, known)
    assert (tight[0][0] == np.maximum(lo, (lo + up) / 2)).all() and (tight[0][1] == up).all()
    assert all((tl >= pl).all() and (tu <= pu).all() for (tl, tu), (pl, pu) in zip(tight, plain))
    assert (tight[1][0] > plain[1][0]).any() or (tight[1][1] < plain[1][1]).any()


def test_symbolic_bounds_of_an_affine_network_are_attained():
    net = random_net([4, 5, 3], seed=3, activations=["identity"])
    box = Box(np.zeros(4), np.ones(4))
    lo, up = symbolic_bounds(net, box)[-1]
    w = net.layers[1].weight @ net.layers[0].weight  # the composed affine map
    best = np.where(w > 0, 1.0, 0.0)  # the maximising vertex of each output
    attained = np.array([net.preactivations(best[j])[-1][0, j] for j in range(3)])
    assert np.allclose(up, attained, atol=1e-8) and (up >= attained).all()
    assert (up - lo > 0.1).all()


def test_input_map_is_respected():
    imap = InputMap(np.array([1, 0]), np.array([2.0, -1.0]), np.array([0.5, 0.0]))
    net = Network((Dense(np.eye(2), np.zeros(2), "relu"), Dense(np.ones((1, 2)), [0.0], "identity")),
                  imap)
    lo, up = symbolic_bounds(net, Box([0.0, 0.0], [1.0, 3.0]))[0]
    # h0 = (2 * x1 + 0.5, -x0): x1 in [0, 3] -> [0.5, 6.5]; x0 in [0, 1] -> [-1, 0]
    assert np.allclose(lo, [0.5, -1.0]) and np.allclose(up, [6.5, 0.0])
    assert (lo <= [0.5, -1.0]).all() and (up >= [6.5, 0.0]).all()


def test_symbolic_bounds_stay_sound_under_cancellation():
    from fractions import Fraction

    rng = np.random.default_rng(1)
    for _ in range(200):
        w = rng.uniform(0.5, 2.0)
        big = 10.0 ** rng.uniform(6, 10)
        net = Network((Dense(np.array([[w], [np.nextafter(w, 3.0)]]), np.zeros(2), act_node="r0"),
                       Dense(np.array([[big, -big]]), np.zeros(1), "identity")),
                      InputMap.identity(1))
        up = symbolic_bounds(net, Box(np.array([1.0]), np.array([2.0])))[1][1][0]
        w0, w1, b = Fraction(w), Fraction(float(np.nextafter(w, 3.0))), Fraction(big)
        exact_max = max(b * (w0 - w1) * x for x in (Fraction(1), Fraction(2)))
        assert Fraction(float(up)) >= exact_max


def test_leaky_relu_with_a_negative_slope_gets_sound_bounds():
    # h = leaky(x) with alpha = -1 is |x|: on [-10, 1] its range is [0, 10], not (10, 1)
    net = Network((Dense(np.array([[1.0]]), np.zeros(1), leaky_relu(-1.0)),
                   Dense(np.array([[1.0]]), np.zeros(1), "identity")), InputMap.identity(1))
    box = Box(np.array([-10.0]), np.array([1.0]))
    for bounds in (interval_bounds(net, box), symbolic_bounds(net, box)):
        lo, up = bounds[1]
        assert lo[0] <= 0.0 and 10.0 <= up[0] and lo[0] <= up[0]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=st.floats(-3.0, 3.0))
def test_bounds_hold_for_any_leaky_slope(seed, alpha):
    rng = np.random.default_rng(seed)
    sizes = [3, 5, 4, 2]
    layers = [Dense(rng.normal(size=(b, a)), rng.normal(size=b), leaky_relu(alpha))
              for a, b in zip(sizes[:-2], sizes[1:-1])]
    layers.append(Dense(rng.normal(size=(2, 4)), np.zeros(2), "identity"))
    net = Network(tuple(layers), InputMap.identity(3))
    box = Box(-np.ones(3), np.ones(3))
    x = rng.uniform(-1, 1, size=(2000, 3))
    for bounds in (interval_bounds(net, box), symbolic_bounds(net, box)):
        for (lo, up), g in zip(bounds, net.preactivations(x)):
            assert np.all(lo <= g) and np.all(g <= up)


@pytest.mark.parametrize("seed", range(8))
def test_compress_is_exact_for_negative_leaky_slopes(seed):
    from builders import dense_model, run_ort

    from exactprune import compress

    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(6, 3)), rng.normal(size=(5, 6)), rng.normal(size=(2, 5))]
    biases = [rng.normal(size=6) * 2, rng.normal(size=5) * 2, np.zeros(2)]
    model = dense_model(weights, biases, activation="LeakyRelu")
    for node in model.graph.node:
        if node.op_type == "LeakyRelu":
            node.attribute.append(onnx.helper.make_attribute("alpha", -0.5 - seed / 4))
    box = Box(-np.ones(3), np.ones(3))
    result = compress(model, box)
    x = rng.uniform(-1, 1, size=(3000, 3))
    assert result.report.verified
    assert np.abs(run_ort(model, x) - run_ort(result.model, x)).max() <= 1e-4

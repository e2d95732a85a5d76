"""Optimised bounds (alpha-CROWN slopes): sound for every slope, never looser than the symbolic
bounds they start from, tighter where the slopes matter, and stoppable at any time."""

from __future__ import annotations

import time

import numpy as np
from builders import inside
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.bounds import input_bounds, symbolic_bounds
from exactprune.bounds.optimised import Lines, lower_pass, optimised_bounds
from exactprune.domain import Box
from exactprune.ir import Activation, Dense, InputMap, Network


def random_net(widths, seed, acts):
    rng = np.random.default_rng(seed)
    layers = []
    for k, (a, b) in enumerate(zip(widths, widths[1:])):
        act = Activation("identity") if k == len(widths) - 2 else acts[k]
        layers.append(Dense(rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.3, act))
    return Network(tuple(layers), InputMap.identity(widths[0]))


ACTS = st.sampled_from([Activation("relu"), Activation("leaky_relu", 0.1),
                        Activation("leaky_relu", 2.0), Activation("leaky_relu", -0.5),
                        Activation("identity")])


def box_for(rng, d):
    lo = rng.uniform(-1, 0.5, d)
    return Box(lo, lo + rng.uniform(0.01, 1.5, d))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(2, 4), acts=st.lists(ACTS, min_size=4,
                                                                             max_size=4))
def test_optimised_bounds_are_sound_and_never_looser(seed, depth, acts):
    net = random_net([3] + [7] * depth + [2], seed, acts)
    box = box_for(np.random.default_rng(seed), 3)
    start = symbolic_bounds(net, box)
    tight = optimised_bounds(net, box, start, iterations=15)
    assert inside(net, box, tight, n=4000)
    for (sl, su), (tl, tu) in zip(start, tight):
        assert (tl >= sl).all() and (tu <= su).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), acts=st.lists(ACTS, min_size=3, max_size=3))
def test_every_slope_in_range_gives_a_sound_bound(seed, acts):
    """Soundness does not depend on the optimisation: random slopes anywhere in the range."""
    net = random_net([3, 6, 6, 6, 2], seed, acts)
    rng = np.random.default_rng(seed)
    box = box_for(rng, 3)
    bounds = symbolic_bounds(net, box)
    k, w, b = 3, net.layers[3].weight, net.layers[3].bias
    lines = {i: Lines.of(net, i, *bounds[i]) for i in range(k)}
    coef, const = np.vstack([w, -w]), np.concatenate([b, -b])
    slopes = {i: rng.uniform(r.smin, r.smax, (coef.shape[0], r.free.size)) for i, r in lines.items()}
    value = lower_pass(net, k, lines, slopes, coef, const, *input_bounds(net, box), False).value
    x = rng.uniform(box.lo, box.hi, (4000, 3))
    h = net.layers[2].activation.apply(net.preactivations(x)[2])
    assert (h @ coef.T + const >= value - 1e-9).all()


def test_gradient_matches_finite_differences():
    net = random_net([5, 8, 8, 8, 3], 1, [Activation("relu")] * 3)
    box = Box(-np.ones(5), np.ones(5))
    bounds = symbolic_bounds(net, box)
    k, w, b = 3, net.layers[3].weight, net.layers[3].bias
    lines = {i: Lines.of(net, i, *bounds[i]) for i in range(k)}
    assert all(r.free.size for r in lines.values())
    coef, const = np.vstack([w, -w]), np.concatenate([b, -b])
    rng = np.random.default_rng(0)
    slopes = {i: rng.uniform(0.05, 0.95, (coef.shape[0], r.free.size)) for i, r in lines.items()}
    h0 = input_bounds(net, box)
    run = lower_pass(net, k, lines, slopes, coef, const, *h0, True)
    value, grads = run.value, run.grads
    for i, r in lines.items():
        for t in range(coef.shape[0]):
            for j in range(r.free.size):
                moved = {q: s.copy() for q, s in slopes.items()}
                moved[i][t, j] += 1e-6
                after = lower_pass(net, k, lines, moved, coef, const, *h0, False).value
                assert abs((after[t] - value[t]) / 1e-6 - grads[i][t, j]) < 1e-4


def test_optimised_slopes_tighten_a_deep_network():
    net = random_net([10] + [30] * 4 + [3], 7, [Activation("relu")] * 4)
    box = Box(-np.ones(10), np.ones(10))
    start = symbolic_bounds(net, box)
    tight = optimised_bounds(net, box, start)
    gain = [np.sum(su - sl) - np.sum(tu - tl) for (sl, su), (tl, tu) in zip(start, tight)]
    assert gain[0] == 0.0 and gain[2] > 0.0 and gain[3] > 0.0  # layer 0 is exact already
    stable = [int(((lo >= 0) | (up <= 0)).sum()) for lo, up in tight]
    assert stable >= [int(((lo >= 0) | (up <= 0)).sum()) for lo, up in start]
    assert inside(net, box, tight)


def test_a_deadline_in_the_past_returns_the_bounds_given():
    net = random_net([4, 9, 9, 2], 3, [Activation("relu")] * 2)
    box = Box(-np.ones(4), np.ones(4))
    start = symbolic_bounds(net, box)
    same = optimised_bounds(net, box, start, deadline=time.monotonic() - 1.0)
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(start, same))


def test_a_neuron_with_zero_weights_and_bias_has_bounds_exactly_zero():
    """No rounding happens in an all-zero row, so no margin: the neuron is provably stable."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(4, 3))
    w[2] = 0.0
    second = rng.normal(size=(3, 4))
    second[1] = 0.0
    net = Network((Dense(w, [0.1, -0.2, 0.0, 0.3]), Dense(second, [0.0, 0.0, 0.5]),
                   Dense(rng.normal(size=(1, 3)), [0.0], "identity")), InputMap.identity(3))
    box = Box(-np.ones(3), np.ones(3))
    for bounds in (symbolic_bounds(net, box), optimised_bounds(net, box, symbolic_bounds(net, box))):
        assert bounds[0][0][2] == bounds[0][1][2] == 0.0
        assert bounds[1][0][1] == bounds[1][1][1] == 0.0
        assert inside(net, box, bounds)

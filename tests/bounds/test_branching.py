"""Branch and bound over phase splits: a PROVEN sign holds on every sampled input, the bound it
reports is sound whatever the verdict, beta's gradient is right, it proves what bounds on the
whole box cannot, and a flip at a part's corner refutes."""

from __future__ import annotations

import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_optimised import ACTS, box_for, random_net

from exactprune.bounds import branching, input_bounds, symbolic_bounds
from exactprune.bounds.branching import Verdict, prove_sign
from exactprune.bounds.optimised import Lines, Split, lower_pass, optimised_bounds
from exactprune.domain import Box
from exactprune.ir import Activation, Dense, InputMap, Network

NEVER = staticmethod(lambda x: False)


def samples(net, box, rng, n=4000):
    x = rng.uniform(box.lo, box.hi, (n, box.size))
    corners = np.where(rng.random((n // 4, box.size)) < 0.5, box.lo, box.hi)
    return net.preactivations(np.vstack([x, corners]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(2, 3), acts=st.lists(ACTS, min_size=3,
                                                                             max_size=3),
       nodes=st.sampled_from([1, 8, 200]), threshold=st.sampled_from([0.0, 0.3]))
def test_proofs_and_bounds_hold_on_samples(seed, depth, acts, nodes, threshold):
    net = random_net([3] + [6] * depth + [2], seed, acts)
    rng = np.random.default_rng(seed)
    box = box_for(rng, 3)
    bounds = symbolic_bounds(net, box)
    g = samples(net, box, rng)
    for k in range(1, depth):
        for j in range(net.layers[k].n_out):
            for sign in (1, -1):
                found = prove_sign(net, box, bounds, k, j, sign, np.inf, lambda x: False, nodes,
                                   threshold)
                worst = (sign * g[k][:, j]).max()
                assert worst <= found.bound + 1e-9
                if found.verdict is Verdict.PROVEN:
                    assert worst <= threshold + 1e-9


def test_beta_gradient_matches_finite_differences():
    net = random_net([4, 6, 6, 2], 3, [Activation("relu")] * 2)
    box = Box(-np.ones(4), np.ones(4))
    bounds = symbolic_bounds(net, box)
    k, lines = 2, {i: Lines.of(net, i, *bounds[i]) for i in range(2)}
    coef, const = net.layers[2].weight[:1], net.layers[2].bias[:1]
    rng = np.random.default_rng(1)
    slopes = {i: rng.uniform(0.1, 0.9, (1, r.free.size)) for i, r in lines.items()}
    sign = {i: rng.choice([-1, 0, 1], (1, 6)).astype(np.int8) for i in range(2)}
    beta = {i: rng.uniform(0.1, 1.0, (1, 6)) for i in range(2)}
    h0 = input_bounds(net, box)

    def value(b):
        splits = {i: Split(sign[i], b[i]) for i in range(2)}
        return lower_pass(net, k, lines, slopes, coef, const, *h0, True, splits)

    run = value(beta)
    for i in range(2):
        for j in range(6):
            moved = {q: b.copy() for q, b in beta.items()}
            moved[i][0, j] += 1e-6
            slope = (value(moved).value[0] - run.value[0]) / 1e-6
            assert abs(slope - run.beta_grads[i][0, j]) < 1e-4


def cancelling_net() -> Network:
    """g = relu(x) - relu(-x) - relu(x + 2) + 1.9 = -0.1 on [-1, 1]: stably inactive, but the
    relaxations of relu(x) and relu(-x) leave a gap of at least 0.4 whatever their slopes."""
    return Network((Dense(np.array([[1.0], [-1.0], [1.0]]), np.array([0.0, 0.0, 2.0])),
                    Dense(np.array([[1.0, -1.0, -1.0]]), np.array([1.9])),
                    Dense(np.ones((1, 1)), np.zeros(1), "identity")), InputMap.identity(1))


def test_splitting_proves_what_optimised_bounds_cannot():
    net = cancelling_net()
    box = Box(-np.ones(1), np.ones(1))
    bounds = optimised_bounds(net, box, symbolic_bounds(net, box))
    assert bounds[1][1][0] >= 0.4
    found = prove_sign(net, box, bounds, 1, 0, 1, np.inf, lambda x: False)
    assert found.verdict is Verdict.PROVEN and found.nodes == 3


def test_a_flip_at_a_corner_refutes_and_a_past_deadline_leaves_it_open():
    net = random_net([3, 8, 8, 2], 11, [Activation("relu")] * 2)
    box = Box(-np.ones(3), np.ones(3))
    bounds = symbolic_bounds(net, box)
    g = samples(net, box, np.random.default_rng(0))[1]
    j = int(np.flatnonzero((g > 0.01).any(0) & (g < -0.01).any(0))[0])
    seen = []

    def refute(x):
        seen.append(x)
        return bool((net.preactivations(x)[1][:, j] > 0.0).any()) if len(x) else False

    assert prove_sign(net, box, bounds, 1, j, 1, np.inf, refute).verdict is Verdict.REFUTED
    late = prove_sign(net, box, bounds, 1, j, 1, time.monotonic() - 1.0, NEVER)
    assert late.verdict is Verdict.OPEN and late.nodes == 0
    assert late.bound >= g[:, j].max()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_candidate_children_bounds_hold_on_their_parts(seed):
    """Filtered smart branching bounds both children of each candidate split with the node's
    slopes and betas: each bound must hold on the samples of its part (the split neuron's side),
    for any slopes and betas the ascent may hold."""
    net = random_net([3, 6, 6, 6, 2], seed, [Activation("relu")] * 3)
    rng = np.random.default_rng(seed)
    box = box_for(rng, 3)
    bounds = symbolic_bounds(net, box)
    k, lines = 2, {i: Lines.of(net, i, *bounds[i]) for i in range(2)}
    crossing = [(i, n) for i in range(2) for n in range(6) if bounds[i][0][n] < 0.0 < bounds[i][1][n]]
    if not crossing:
        return
    x = np.vstack([rng.uniform(box.lo, box.hi, (4000, 3)),
                   np.where(rng.random((1000, 3)) < 0.5, box.lo, box.hi)])
    g = net.preactivations(x)
    j = int(rng.integers(net.layers[k].n_out))
    coef, const = -net.layers[k].weight[j], -net.layers[k].bias[j]
    target = -g[k][:, j]  # coef @ h_k + const
    node = branching._Node({i: np.zeros(6, np.int8) for i in range(2)},
                           {i: np.zeros(6) for i in range(2)},
                           {i: lines[i].initial() for i in range(2)})
    params = {("s", i): rng.uniform(0.0, 1.0, (1, lines[i].free.size)) for i in range(2)}
    params.update({("b", i): rng.uniform(0.0, 2.0, (1, 6)) for i in range(2)})
    picks = [(0, i, n, side) for i, n in crossing for side in (1, -1)]
    child = branching._children(net, k, lines, coef, const, input_bounds(net, box), params,
                                [node], picks)
    for (_, i, n, side), bound in zip(picks, child):
        part = side * g[i][:, n] >= 0.0
        assert (target[part] >= bound - 1e-9).all()

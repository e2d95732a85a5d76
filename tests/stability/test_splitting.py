"""Input splitting: bounds on the parts of a split box prove what one box cannot, give up
within their budget, and never prove what a part cannot settle."""

from __future__ import annotations

import numpy as np
from builders import twin_network

from exactprune.bounds import symbolic_bounds
from exactprune.domain import Box
from exactprune.ir import Dense, InputMap, Network
from exactprune.stability.splitting import prove_by_splitting


def random_net(widths, seed):
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.3,
                    "identity" if k == len(widths) - 2 else "relu")
              for k, (a, b) in enumerate(zip(widths, widths[1:]))]
    return Network(tuple(layers), InputMap.identity(widths[0]))


def test_splitting_proves_what_one_box_cannot():
    net = twin_network(1)
    box = Box([0.0], [1.0])
    assert symbolic_bounds(net, box)[1][1][0] > 0.0
    want = {0: np.zeros(2, bool), 1: np.array([True])}
    inactive, active = prove_by_splitting(net, box, want, {0: np.zeros(2, bool), 1: np.array([True])},
                                          time_limit=20.0)
    assert inactive[1][0] and not active[1][0]


def test_splitting_gives_up_within_its_budget():
    net = random_net([2, 8, 8, 1], seed=5)
    box = Box([-1.0, -1.0], [1.0, 1.0])
    want = {0: np.ones(8, bool), 1: np.ones(8, bool)}
    x = np.random.default_rng(0).uniform(-1, 1, size=(4000, 2))
    g = net.preactivations(x)
    inactive, active = prove_by_splitting(net, box, want, want, time_limit=5.0, max_boxes=50)
    for i in (0, 1):  # nothing proven is contradicted by samples
        assert not (g[i][:, inactive[i]] > 0).any() and not (g[i][:, active[i]] < 0).any()


def test_splitting_with_nothing_open_in_later_layers():
    net = twin_network(1)
    box = Box([0.0], [1.0])
    want = {0: np.ones(2, bool), 1: np.zeros(1, bool)}
    inactive, active = prove_by_splitting(net, box, want, want, time_limit=5.0)
    assert set(inactive) == {0, 1} and not inactive[1].any() and not active[1].any()
    assert not inactive[0].any() and not active[0].any()  # relu(x0 - 0.5) really flips


def test_splitting_does_not_prove_a_neuron_whose_bound_cannot_improve_by_splitting():
    # g1 = -relu(x) + 0.5 on x in [-2, 1]: g1(1) = -0.5, so g1 is not stably active; the upper
    # relaxation of relu is flat there, which once left the part unsplit and the neuron "proven"
    net = Network((Dense(np.array([[1.0]]), np.zeros(1), act_node="r0"),
                   Dense(np.array([[-1.0]]), np.array([0.5]), act_node="r1"),
                   Dense(np.array([[1.0]]), np.zeros(1), "identity")), InputMap.identity(1))
    box = Box(np.array([-2.0]), np.array([1.0]))
    todo = {0: np.zeros(1, bool), 1: np.ones(1, bool)}
    _, active = prove_by_splitting(net, box, {0: np.zeros(1, bool), 1: np.zeros(1, bool)}, todo,
                                   time_limit=5.0)
    assert not active[1].any()

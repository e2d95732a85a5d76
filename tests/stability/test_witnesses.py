"""Witness signs count only beyond the float64 rounding error of the forward pass."""

from fractions import Fraction

import numpy as np

from exactprune.ir import Dense, InputMap, Network
from exactprune.stability.signs import SignEvidence


def test_a_sign_made_by_rounding_is_not_a_witness():
    # h0 = 3 x - 0.3 and g = h0 - 4e-17 at x = 0.1: float64 gives g = +1.6e-17, exact
    # arithmetic on the same float64 numbers gives g = -1.2e-17
    net = Network((Dense(np.array([[1.0]]), np.array([-4e-17])),
                   Dense(np.array([[1.0]]), np.zeros(1), activation="identity")),
                  InputMap(np.array([0]), np.array([3.0]), np.array([-0.3])))
    x = np.array([[0.1]])
    exact = Fraction(3) * Fraction(0.1) + Fraction(-0.3) + Fraction(-4e-17)
    assert exact < 0 < net.preactivations(x)[0][0, 0]
    evidence = SignEvidence(net, [0])
    evidence.observe(x)
    assert not evidence.pos[0][0] and not evidence.neg[0][0]
    evidence.observe(np.array([[0.2], [0.0]]))  # clear signs still count
    assert evidence.pos[0][0] and evidence.neg[0][0]


def test_error_bound_covers_the_float64_deviation_on_random_networks():
    rng = np.random.default_rng(0)
    for _ in range(20):
        sizes = [int(v) for v in rng.integers(2, 30, size=4)]
        layers = [Dense(rng.normal(size=(b, a)) * 10.0, rng.normal(size=b))
                  for a, b in zip(sizes, sizes[1:])]
        net = Network(tuple(layers), InputMap.identity(sizes[0]))
        x = rng.uniform(-5, 5, size=(50, sizes[0]))
        evidence = SignEvidence(net, list(range(len(layers))))
        exact = net.preactivations(x.astype(np.longdouble))
        for (g, err), ref in zip(evidence.certain(x), exact):
            assert np.all(np.abs(g - ref) <= err)


def test_the_gradient_attack_reaches_a_corner_that_sampling_misses():
    """relu(x0) - relu(x1) feeds g = sum - 0.97 on [0, 1]^2 x [0, 1]^18 padding inputs: g > 0
    only near x0 = 1, x1 = 0 (a small corner of the box); the attack reaches it from the centre,
    and a neuron that never passes 0 gets no positive sign."""
    import time

    from exactprune.domain import Box
    from exactprune.stability.witnesses import attack

    first = np.zeros((2, 20))
    first[0, 0], first[1, 1] = 1.0, 1.0
    net = Network((Dense(first, np.zeros(2)),
                   Dense(np.array([[1.0, -1.0], [-1.0, -1.0]]), np.array([-0.97, 0.0])),
                   Dense(np.ones((1, 2)), np.zeros(1), "identity")), InputMap.identity(20))
    box = Box(np.zeros(20), np.ones(20))
    evidence = SignEvidence(net, [1])
    evidence.observe(np.full((1, 20), 0.5))
    assert not evidence.pos[1].any()
    attack(net, box, evidence, {1: np.ones(2, bool)}, time.monotonic() + 30)
    assert evidence.pos[1][0] and not evidence.pos[1][1]

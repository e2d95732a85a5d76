"""Pruning (exactprune.pruning): gradients, CBS against magnitude, allocation, recall distortion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.domain import Labelled
from exactprune.errors import DomainError
from exactprune.ir import Dense, InputMap, Network
from exactprune.pruning import PruneOptions, RecallReport, allocate, prune_network
from exactprune.pruning.cbs import cbs_layer, magnitude_layer
from exactprune.pruning.gradients import layer_signals


def small_net(seed: int, widths=(4, 6, 5, 3)) -> Network:
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(size=(b, a)), rng.normal(size=b) * 0.1,
                    "relu" if k < len(widths) - 2 else "identity")
              for k, (a, b) in enumerate(zip(widths, widths[1:]))]
    return Network(tuple(layers), InputMap.identity(widths[0]))


def loss(network: Network, x: np.ndarray, y: np.ndarray) -> float:
    out = network.forward(x)
    out = out - out.max(axis=1, keepdims=True)
    return float(-(out[np.arange(y.size), y] - np.log(np.exp(out).sum(axis=1))).sum())


def test_gradients_match_finite_differences():
    network = small_net(0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)
    signals = layer_signals(network, x, y)
    for k, (h, delta) in enumerate(signals):
        grad = delta.T @ h  # summed over the samples
        layer = network.layers[k]
        for i, j in ((0, 0), (layer.n_out - 1, layer.n_in - 1)):
            w = layer.weight.copy()
            w[i, j] += 1e-6
            moved = network.replace(layers=tuple(layer.with_params(w, layer.bias) if m == k
                                                 else other for m, other in
                                                 enumerate(network.layers)))
            assert (loss(moved, x, y) - loss(network, x, y)) / 1e-6 == pytest.approx(
                grad[i, j], rel=1e-3, abs=1e-5)


def test_cbs_removes_a_weight_its_twin_can_absorb_and_magnitude_does_not():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(400, 4))
    h[:, 1] = h[:, 0]  # input 1 is a copy of input 0
    delta = rng.normal(size=(400, 1))
    weight = np.array([[1.0, 0.9, 0.05, 2.0]])
    cbs = cbs_layer(weight, h, delta, zeros=1, block=4, damp=1e-6)
    assert cbs[0, 1] == 0.0 or cbs[0, 0] == 0.0
    assert cbs[0, 0] + cbs[0, 1] == pytest.approx(1.9, rel=1e-3)  # the twin took its weight
    assert np.allclose(h @ cbs[0], h @ weight[0], atol=0.06)
    assert magnitude_layer(weight, 1)[0, 2] == 0.0


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), sparsity=st.sampled_from([0.3, 0.6, 0.9]),
       method=st.sampled_from(["cbs", "magnitude"]), how=st.sampled_from(["uniform", "regions"]))
def test_prune_reaches_the_sparsity_and_keeps_biases(seed, sparsity, method, how):
    network = small_net(seed)
    rng = np.random.default_rng(seed)
    data = Labelled(rng.normal(size=(50, 4)), rng.integers(0, 3, 50), "random")
    pruned = prune_network(network, data, PruneOptions(sparsity=sparsity, method=method,
                                                       allocate=how, block=3))
    shares = allocate(network, sparsity, how)
    for layer, new, share in zip(network.layers, pruned.network.layers, shares):
        assert np.count_nonzero(new.weight == 0) == round(share * layer.weight.size)
        assert np.array_equal(new.bias, layer.bias)
        if np.count_nonzero(new.weight == 0) > np.count_nonzero(layer.weight == 0):
            assert np.array_equal(new.weight, new.weight.astype(np.float32))  # as written
    total = sum(layer.weight.size for layer in network.layers)
    assert abs(pruned.sparsity - sparsity) <= len(network.layers) / total


def test_existing_zeros_stay_zero():
    network = small_net(3)
    w = network.layers[0].weight.copy()
    w[:, 0] = 0.0
    network = network.replace(layers=(network.layers[0].with_params(w, network.layers[0].bias),
                                      *network.layers[1:]))
    rng = np.random.default_rng(0)
    data = Labelled(rng.normal(size=(40, 4)), rng.integers(0, 3, 40), "random")
    pruned = prune_network(network, data, PruneOptions(sparsity=0.5, method="cbs", block=2))
    assert np.all(pruned.network.layers[0].weight[:, 0] == 0.0)


def test_region_allocation_keeps_the_small_layer_denser_at_high_sparsity():
    network = small_net(0, widths=(784, 100, 100, 10))
    uniform = allocate(network, 0.98, "uniform")
    regions = allocate(network, 0.98, "regions")
    sizes = [layer.weight.size for layer in network.layers]
    assert sum(s * n for s, n in zip(regions, sizes)) == pytest.approx(0.98 * sum(sizes), abs=1)
    assert regions[1] < uniform[1] and regions[0] > uniform[0]


def test_labels_beyond_the_outputs_are_bad_input():
    data = Labelled(np.zeros((3, 4)), np.array([0, 1, 7]), "bad.npz")
    with pytest.raises(DomainError, match="label 7 but the model has 3 outputs"):
        prune_network(small_net(0), data, PruneOptions(sparsity=0.5))


def planted_predictions(hard_loss: float, easy_gain: float, seed: int = 0):
    """Labels of 4 classes x 200 rows; class 0 is hard (recall 0.6 before), the others ~0.9.
    After pruning class 0 loses `hard_loss` of recall and class 3 gains `easy_gain`."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), 200)
    before, after = y.copy(), y.copy()
    for c, r0, r1 in ((0, 0.6, 0.6 - hard_loss), (1, 0.9, 0.85), (2, 0.9, 0.85),
                      (3, 0.95, 0.95 + easy_gain)):
        rows = np.flatnonzero(y == c)
        wrong0 = rng.permutation(rows)[:int(round((1 - r0) * rows.size))]
        wrong1 = rng.permutation(rows)[:int(round((1 - r1) * rows.size))]
        before[wrong0] = (c + 1) % 4
        after[wrong1] = (c + 1) % 4
    return y, before, after


def test_intensification_detects_a_planted_hard_class():
    y, before, after = planted_predictions(hard_loss=0.3, easy_gain=0.03)
    report = RecallReport.of(y, before, after, 4)
    assert report.before[0] < report.accuracy_before  # class 0 is the hard one
    assert report.intensified[0] == 1 and report.intensified[3] == 1
    assert report.intensification_ratio > 0.5
    assert report.drops[0] == pytest.approx(0.3)


def test_no_intensification_when_the_hard_class_recovers():
    y, before, after = planted_predictions(hard_loss=-0.25, easy_gain=-0.2)
    report = RecallReport.of(y, before, after, 4)
    assert report.intensified[0] == -1 and report.intensified[3] == -1
    assert report.intensification_ratio < 0.5


def test_swaps_lower_the_joint_cost():
    from exactprune.pruning import cbs

    rng = np.random.default_rng(7)  # a case where a swap helps one block
    h, delta = rng.normal(size=(200, 8)), rng.normal(size=(200, 5))
    h[:, 3] = h[:, 2] + 0.01 * rng.normal(size=200)
    w = rng.normal(size=(5, 8))
    inv = cbs._inverses(h, delta ** 2, 1e-3)
    counts = np.full(5, 5)
    greedy = np.nonzero(cbs._greedy(w, inv, counts))[1].reshape(5, 5)
    swapped = cbs._swap(w, inv, greedy.copy(), rounds=20)
    final = np.nonzero(swapped == 0.0)[1].reshape(5, 5)
    before, after = cbs._joint(w, inv, greedy)[0], cbs._joint(w, inv, final)[0]
    assert np.all(after <= before * (1 + 1e-12)) and after.sum() < before.sum()
    assert np.allclose(cbs._joint(w, inv, final)[3], swapped)

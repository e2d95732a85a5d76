"""Exact reductions on random networks with planted stable, constant, dead and proportional
neurons: exactly the planted ones go, the function on the box is unchanged, a second pass
removes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from builders import BOX, oracle, planted_network
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.domain import Box
from exactprune.ir import ACTIVE, INACTIVE, UNKNOWN, Dense, InputMap, Network, leaky_relu
from exactprune.reductions import (
    lump,
    proportional_groups,
    reduce_data_free,
    reduce_network,
    reduce_stable,
    remove_constant,
    remove_dead,
    select_basis,
)
from exactprune.reductions.base import layer_name
from exactprune.stability import LayerStability, StabilityResult


def max_dev(a: Network, b: Network, rng) -> float:
    x = rng.uniform(BOX.lo, BOX.hi, size=(400, BOX.size))
    ya = a.forward(x)
    return float(np.abs(ya - b.forward(x)).max() / max(1.0, np.abs(ya).max()))


plan_strategy = st.tuples(*(st.integers(0, 2), st.integers(0, 2), st.integers(0, 1),
                            st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_hidden=st.integers(1, 3), leaky=st.booleans(),
       plan=st.lists(plan_strategy, min_size=3, max_size=3))
def test_exactly_the_planted_neurons_go(seed, n_hidden, leaky, plan):
    planted = planted_network(seed, n_hidden, leaky, plan)
    net = planted.network
    result = reduce_network(net, BOX, analyse=oracle(planted), lump_tol=1e-9)
    reduced = result.network
    assert max_dev(net, reduced, np.random.default_rng(seed)) < 1e-9
    if leaky:  # a stably inactive LeakyReLU is affine: it is folded like an active one
        for name in planted.gone:
            planted.gone[name] = [j for j in planted.gone[name]
                                  if planted.status[(name, j)] != INACTIVE]
    before = {layer_name(layer): layer for layer in net.hidden}
    after = {layer_name(layer): layer for layer in reduced.hidden}
    for name, layer in before.items():
        left = set(after[name].origin)
        assert not left & set(planted.gone[name]), name
        assert set(planted.kept[name]) <= left, name
        for src, copy in planted.pairs.get(name, []):
            assert len(left & {src, copy}) == 1, name
        if not leaky:
            assert layer.n_out - after[name].n_out == planted.n_gone[name], name
    again = reduce_network(reduced, BOX, analyse=oracle(planted), lump_tol=1e-9)
    assert again.actions == []


def tiny(layers, n_in=2) -> Network:
    return Network(tuple(layers), InputMap.identity(n_in))


def test_select_basis_merges_only_exact_dependencies():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 5))
    rows = np.vstack([base, base[0] + 2 * base[1], base[2] + 1e-6 * rng.standard_normal(5)])
    basis, dep, k = select_basis(rows)
    assert sorted(basis.tolist() + dep.tolist()) == list(range(5))
    assert dep.size == 1 and np.allclose(k @ rows[basis], rows[dep], atol=1e-12)
    assert select_basis(rows, tol=1e-3)[1].size == 2


def test_rank_merge_keeps_function_on_domain():
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((6, 2))  # 5 active rows in R^2: 3 must go; 1 unknown stays
    net = tiny([Dense(w1, 10 + np.zeros(6), act_node="r"),
                Dense(rng.standard_normal((4, 6)), rng.standard_normal(4), act_node="r2"),
                Dense(rng.standard_normal((2, 4)), np.zeros(2), "identity")])
    status = {0: np.array([ACTIVE] * 5 + [UNKNOWN], np.int8), 1: np.full(4, UNKNOWN, np.int8)}
    reduced, actions = reduce_stable(net, status)
    assert reduced.layers[0].n_out == 3 and [a.rule for a in actions] == ["rank-merge"]
    x = rng.uniform(-1, 1, (200, 2))
    assert np.allclose(net.forward(x), reduced.forward(x), atol=1e-10)


def test_fully_stable_layer_folds_when_smaller():
    rng = np.random.default_rng(2)
    net = tiny([Dense(rng.standard_normal((6, 2)), 10 + np.zeros(6), act_node="r"),
                Dense(rng.standard_normal((6, 6)), rng.standard_normal(6), act_node="r2"),
                Dense(rng.standard_normal((1, 6)), np.zeros(1), "identity")])
    status = {0: np.full(6, ACTIVE, dtype=np.int8), 1: np.full(6, UNKNOWN, dtype=np.int8)}
    reduced, actions = reduce_stable(net, status)
    assert len(reduced.layers) == 2 and "layer-fold" in [a.rule for a in actions]
    assert reduced.layers[0].act_node == "r2" and reduced.n_params < net.n_params
    x = rng.uniform(-1, 1, (200, 2))
    assert np.allclose(net.forward(x), reduced.forward(x), atol=1e-10)


def test_identity_hidden_layer_folds_without_domain():
    rng = np.random.default_rng(3)
    net = tiny([Dense(rng.standard_normal((8, 2)), rng.standard_normal(8), "identity", nodes=("a",)),
                Dense(rng.standard_normal((3, 8)), rng.standard_normal(3), "identity", nodes=("b",))])
    reduced, actions = reduce_data_free(net)
    assert len(reduced.layers) == 1 and reduced.n_params == 9
    x = rng.standard_normal((50, 2)) * 100
    assert np.allclose(net.forward(x), reduced.forward(x), rtol=1e-10, atol=1e-9)


def test_all_inactive_layer_makes_output_constant():
    rng = np.random.default_rng(4)
    net = tiny([Dense(rng.standard_normal((3, 2)), rng.standard_normal(3), act_node="r0"),
                Dense(rng.standard_normal((4, 3)), -100 + np.zeros(4), act_node="r1"),
                Dense(rng.standard_normal((5, 4)), rng.standard_normal(5), act_node="r2"),
                Dense(rng.standard_normal((2, 5)), rng.standard_normal(2), "identity")])
    box = Box(-np.ones(2), np.ones(2))

    def analyse(network, box, time_limit=None):
        layers = [LayerStability(k, layer.act_node, np.full(layer.n_out, INACTIVE if layer.act_node == "r1"
                                                        else UNKNOWN, dtype=np.int8), [],
                                 np.zeros(layer.n_out), np.zeros(layer.n_out), layer.origin)
                  for k, layer in enumerate(network.layers) if layer.activation.two_phase]
        return StabilityResult(layers, box)

    reduced = reduce_network(net, box, analyse=analyse).network
    assert [layer.weight.shape for layer in reduced.layers] == [(0, 2), (2, 0)]
    x = rng.uniform(-1, 1, (20, 2))
    assert np.allclose(reduced.forward(x), net.forward(x), atol=1e-12)
    assert np.ptp(reduced.forward(x), axis=0).max() == 0.0


def test_final_relu_inactive_output_becomes_zero_column():
    rng = np.random.default_rng(5)
    w_out = rng.standard_normal((2, 3))
    net = tiny([Dense(rng.standard_normal((3, 2)), rng.standard_normal(3), act_node="r0"),
                Dense(w_out, np.array([-50.0, 0.1]), "relu", act_node="final")])
    status = {0: np.full(3, UNKNOWN, dtype=np.int8), 1: np.array([INACTIVE, UNKNOWN], np.int8)}
    reduced, actions = reduce_stable(net, status)
    assert reduced.n_outputs == 2 and [a.rule for a in actions] == ["output-zero"]
    assert not reduced.layers[1].weight[0].any() and reduced.layers[1].bias[0] == 0.0
    assert np.array_equal(reduced.layers[1].weight[1], w_out[1])


def test_unknown_and_unstable_neurons_are_kept():
    rng = np.random.default_rng(6)
    net = tiny([Dense(rng.standard_normal((4, 2)), np.zeros(4), act_node="r"),
                Dense(rng.standard_normal((1, 4)), np.zeros(1), "identity")])
    reduced, actions = reduce_stable(net, {0: np.array([UNKNOWN, 0, UNKNOWN, 0], np.int8)})
    assert actions == [] and reduced.layers[0].n_out == 4


def test_leaky_inactive_neuron_is_folded_not_dropped():
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((4, 2))
    net = tiny([Dense(w1, np.array([-20.0, 20.0, 20.0, 0.0]), leaky_relu(0.2), act_node="l"),
                Dense(rng.standard_normal((2, 4)), np.zeros(2), "identity")])
    status = {0: np.array([INACTIVE, ACTIVE, ACTIVE, UNKNOWN], np.int8)}
    reduced, actions = reduce_stable(net, status)
    assert reduced.layers[0].n_out == 3  # three affine rows in R^2 keep two
    x = rng.uniform(-1, 1, (100, 2))
    assert np.allclose(net.forward(x), reduced.forward(x), atol=1e-10)


def test_constant_and_dead_neurons():
    rng = np.random.default_rng(8)
    w1, w2 = rng.standard_normal((4, 2)), rng.standard_normal((2, 4))
    w1[1] = 0.0  # constant relu(0.5)
    w2[:, 3] = 0.0  # dead
    b1 = np.array([0.0, 0.5, 0.0, 0.0])
    net = tiny([Dense(w1, b1, origin=(10, 11, 12, 13)), Dense(w2, np.zeros(2), "identity")])
    after_const, a = remove_constant(net)
    assert a[0].rule == "constant" and a[0].neurons == (11,)
    after_dead, b = remove_dead(after_const)
    assert b[0].neurons == (13,) and after_dead.layers[0].origin == (10, 12)
    x = rng.standard_normal((50, 2)) * 10
    assert np.allclose(net.forward(x), after_dead.forward(x), atol=1e-12)


def test_lumping_exact_by_default_and_positive_only():
    rng = np.random.default_rng(9)
    w1 = rng.standard_normal((5, 3))
    b1 = rng.standard_normal(5)
    w1[1], b1[1] = w1[0], b1[0]  # equal
    w1[2], b1[2] = 4.0 * w1[0], 4.0 * b1[0]  # exactly proportional
    w1[3], b1[3] = -w1[4], -b1[4]  # negative: must stay for relu
    net = tiny([Dense(w1, b1, act_node="r"), Dense(rng.standard_normal((2, 5)), np.zeros(2),
                                                    "identity")], n_in=3)
    reduced, actions = lump(net)
    assert reduced.layers[0].n_out == 3 and set(actions[0].neurons) | {0} >= {1, 2}
    x = rng.standard_normal((50, 3)) * 10
    assert np.allclose(net.forward(x), reduced.forward(x), atol=1e-10)
    w1[2] = w1[2] * (1 + 1e-12)
    assert len(proportional_groups(np.column_stack([w1, b1]))) == 1
    assert len(proportional_groups(np.column_stack([w1, b1]), tol=1e-9)) == 2


@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_data_free_reduction_is_a_fixpoint(activation):
    rng = np.random.default_rng(10)
    w1 = rng.standard_normal((6, 3))
    w1[5] = 2.0 * w1[4]
    net = tiny([Dense(w1, np.zeros(6), activation, nodes=("h",)),
                Dense(rng.standard_normal((2, 6)), np.zeros(2), "identity", nodes=("o",))], n_in=3)
    once, actions = reduce_data_free(net)
    assert actions
    assert reduce_data_free(once)[1] == []


def test_a_merge_that_would_round_badly_in_float32_is_refused(monkeypatch):
    """rows b1 = [1, 0], b2 = [1, 1e-4] and d = [0, 1] = 1e4 (b2 - b1), all stably active: a basis
    {b1, b2} merges d with K = [-1e4, 1e4], exact in float64 but 1e4 times the float32 rounding
    of the original. The precision guard must refuse it (the pivoted basis never picks it; the
    test forces it)."""
    from builders import run_ort

    from exactprune import compress
    from exactprune.onnx_io import to_onnx
    from exactprune.reductions import stable

    rng = np.random.default_rng(0)
    rows = np.vstack([[1.0, 0.0], [1.0, 1e-4], [0.0, 1.0], rng.normal(size=(3, 2))])
    bias = np.r_[np.full(3, 10.0), np.zeros(3)]  # three unstable neurons: no layer fold
    net = Network((Dense(rows, bias), Dense(rng.normal(size=(2, 6)), np.zeros(2),
                                            activation="identity")),
                  InputMap.identity(2))
    model = to_onnx(net)

    pivoted = stable.select_basis

    def ill_conditioned(rows, tol):  # for the rows of the three affine neurons
        if rows.shape[0] != 3:
            return pivoted(rows, tol)
        k = np.linalg.solve(rows[:2].T, rows[2])
        return np.array([0, 1]), np.array([2]), k[None, :]

    monkeypatch.setattr(stable, "select_basis", ill_conditioned)
    box = Box(-np.ones(2), np.ones(2))
    result = compress(model, box)
    assert result.report.verified and len(result.report.precision_kept) == 1  # once, not per round
    assert any("precision guard" in note for note in result.report.notes)
    x = rng.uniform(-1, 1, size=(4000, 2))
    exact = net.forward(x)
    own = np.abs(run_ort(model, x) - exact).max()
    assert np.abs(run_ort(result.model, x) - exact).max() <= 4 * max(own, 1e-6)

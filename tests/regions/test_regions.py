"""Linear regions: known answers, enumeration vs SCIP count, bounds, slices, compression, CLI."""

from __future__ import annotations

import itertools
import json
from math import comb
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from exactprune.cli import main
from exactprune.domain import Box
from exactprune.errors import DomainError
from exactprune.ir import Dense, InputMap, Network, leaky_relu
from exactprune.pipeline import compress
from exactprune.regions import (
    count_regions,
    count_regions_milp,
    region_bounds,
    sample_regions,
    slice_regions,
    theorem1,
)


def make_net(weights, biases, out=1, rng=None) -> Network:
    layers = [Dense(w, b) for w, b in zip(weights, biases)]
    rng = rng or np.random.default_rng(0)
    layers.append(Dense(rng.normal(size=(out, layers[-1].n_out)), np.zeros(out), activation="identity"))
    return Network(tuple(layers), InputMap.identity(layers[0].n_in))


def random_net(sizes, rng, out=1) -> Network:
    return make_net([rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)],
                    [rng.normal(size=sizes[i + 1]) * 0.5 for i in range(len(sizes) - 1)], out, rng)


@pytest.mark.parametrize("path", ["vertex", "lp"])
@pytest.mark.parametrize("n,d", [(5, 2), (6, 3), (4, 1)])
def test_generic_hyperplanes_give_the_arrangement_count(n, d, path):
    rng = np.random.default_rng(n * 10 + d)
    net = make_net([rng.normal(size=(n, d))], [rng.normal(size=n)])
    box = Box(-1e4 * np.ones(d), 1e4 * np.ones(d))  # contains every intersection point
    result = count_regions(net, box, path=path)
    assert result.exact and result.verified
    assert result.regions == sum(comb(n, i) for i in range(d + 1))


@pytest.mark.parametrize("path", ["vertex", "lp"])
def test_parallel_hyperplanes_give_n_plus_one(path):
    n = 7
    offsets = np.linspace(-0.8, 0.8, n)
    net = make_net([np.tile([[1.0, 2.0, -1.0]], (n, 1))], [offsets])
    assert count_regions(net, Box(-np.ones(3), np.ones(3)), path=path).regions == n + 1


@pytest.mark.parametrize("path", ["vertex", "lp"])
@pytest.mark.parametrize("depth", [1, 3, 5])
def test_tent_map_has_two_to_the_depth_regions(depth, path):
    # tent(x) = 2 relu(x) - 4 relu(x - 1/2) on [0, 1]; layer l computes both ReLUs of the previous tent
    weights, biases = [np.array([[1.0], [1.0]])], [np.array([0.0, -0.5])]
    for _ in range(depth - 1):
        weights.append(np.array([[2.0, -4.0], [2.0, -4.0]]))
        biases.append(np.array([0.0, -0.5]))
    net = make_net(weights, biases)
    result = count_regions(net, Box([0.0], [1.0]), path=path)
    assert result.exact and result.regions == 2 ** depth


def breakpoints_1d(net: Network, lo: float, hi: float, n: int = 200_001) -> int:
    x = np.linspace(lo, hi, n)[:, None]
    pre = np.hstack(net.preactivations(x)[:-1]) > 0
    return 1 + int(np.sum(np.any(pre[1:] != pre[:-1], axis=1)))


@pytest.mark.parametrize("path", ["vertex", "lp"])
def test_one_dimensional_input_matches_a_sweep(path):
    rng = np.random.default_rng(5)
    net = random_net([1, 6, 5, 4], rng)
    assert count_regions(net, Box([-2.0], [2.0]), path=path).regions == breakpoints_1d(net, -2.0, 2.0)


@pytest.mark.parametrize("path", ["vertex", "lp"])
def test_a_point_domain_is_one_region(path):
    net = random_net([3, 5, 4], np.random.default_rng(2))
    point = Box(np.full(3, 0.25), np.full(3, 0.25))
    result = count_regions(net, point, path=path)
    assert result.exact and result.regions == 1
    line = Box(np.array([0.25, 0.25, -2.0]), np.array([0.25, 0.25, 2.0]))  # one input free
    sweep = breakpoints_1d(make_net(
        [net.layers[0].weight[:, 2:]] + [layer.weight for layer in net.layers[1:-1]],
        [net.layers[0].bias + net.layers[0].weight[:, :2] @ [0.25, 0.25]]
        + [layer.bias for layer in net.layers[1:-1]]), -2.0, 2.0)
    assert count_regions(net, line, path=path).regions == sweep


def test_time_limit_gives_a_lower_bound():
    rng = np.random.default_rng(1)
    net = random_net([3, 8, 8], rng)
    box = Box(-np.ones(3), np.ones(3))
    full = count_regions(net, box)
    cut = count_regions(net, box, time_limit=0.0)
    assert not cut.exact and "time limit" in cut.note
    assert 1 <= cut.regions <= full.regions


def test_sampling_is_a_lower_bound():
    rng = np.random.default_rng(2)
    net = random_net([2, 6, 6], rng)
    box = Box(-np.ones(2), np.ones(2))
    est = sample_regions(net, box, samples=5000)
    assert not est.exact and 1 < est.regions <= count_regions(net, box).regions


def test_sampling_counts_the_regions_of_a_network_with_dead_neurons():
    rng = np.random.default_rng(4)
    net = random_net([2, 6, 6], rng)
    first, second = net.layers[0], net.layers[1]
    w, b = second.weight.copy(), second.bias.copy()
    w[2], b[2] = 0.0, 0.0  # pre-activation exactly 0 everywhere: a dead neuron
    net = Network((first, Dense(w, b, second.activation), *net.layers[2:]), net.input_map)
    box = Box(-np.ones(2), np.ones(2))
    est = sample_regions(net, box, samples=5000)
    assert 1 < est.regions <= count_regions(net, box).regions


def test_theorem1_known_values():
    assert theorem1(784, [(10, 10, True)] * 2) == 616_666
    assert theorem1(784, [(11, 11, True)] * 2) == 2_449_868
    assert theorem1(1, [(3, 3, True)] * 3) == 4 ** 3  # exact for one input: (n + 1)^L


def test_bounds_order_and_rank_refinement():
    rng = np.random.default_rng(3)
    low_rank = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 4))
    net = make_net([low_rank, rng.normal(size=(6, 6))], [rng.normal(size=6), rng.normal(size=6)])
    b = region_bounds(net)
    assert b["theorem1_rank"] < b["theorem1"] <= b["product"] <= b["2^N"] == 2 ** 12
    assert all(isinstance(v, int) for v in b.values())
    assert count_regions(net, Box(-np.ones(4), np.ones(4))).regions <= b["theorem1_rank"]


def test_removing_planted_stable_neurons_keeps_the_count():
    rng = np.random.default_rng(4)
    w1, b1 = rng.normal(size=(5, 2)), rng.normal(size=5) * 0.3
    w2, b2 = rng.normal(size=(4, 5)), rng.normal(size=4) * 0.3
    # layer 1 gets a stably inactive neuron (any outgoing weights) and a stably active one whose
    # output is unused; layer 2 gets a stably inactive neuron: all removable exactly on the box
    w1p, b1p = np.vstack([w1, [[0.5, 0.5], [0.5, -0.5]]]), np.r_[b1, -3.0, 3.0]
    w2p = np.hstack([w2, rng.normal(size=(4, 1)), np.zeros((4, 1))])
    w2p, b2p = np.vstack([w2p, np.zeros((1, 7))]), np.r_[b2, -1.0]
    out = rng.normal(size=(1, 5))
    planted = Network((Dense(w1p, b1p), Dense(w2p, b2p), Dense(out, np.zeros(1), activation="identity")),
                      InputMap.identity(2))
    compressed = Network((Dense(w1, b1), Dense(w2, b2),
                          Dense(out[:, :4], np.zeros(1), activation="identity")), InputMap.identity(2))
    box = Box(-np.ones(2), np.ones(2))
    x = rng.uniform(-1, 1, size=(500, 2))
    assert np.allclose(planted.forward(x), compressed.forward(x))
    a, b = count_regions(planted, box), count_regions(compressed, box)
    assert a.exact and b.exact and a.regions == b.regions > 1
    result = compress(planted, box)  # the real pipeline finds and removes them
    assert result.report.verified and result.network.n_neurons <= compressed.n_neurons
    c = count_regions(result.network, box)
    assert c.exact and c.regions == a.regions


def test_slice_of_a_two_input_network_matches_the_full_count():
    rng = np.random.default_rng(6)
    net = random_net([2, 6, 5], rng, out=3)
    box = Box(-np.ones(2), np.ones(2))
    sliced = slice_regions(net, box)
    assert sliced.count.regions == count_regions(net, box).regions
    area = sum(0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], 1)) - np.dot(p[:, 1], np.roll(p[:, 0], 1)))
               for p in sliced.polygons)
    assert area == pytest.approx(1.0, rel=1e-6)  # the polygons tile the (s, t) unit square


def test_slice_rejects_collinear_points():
    net = random_net([3, 4], np.random.default_rng(0))
    a = np.zeros(3)
    with pytest.raises(DomainError, match="collinear"):
        slice_regions(net, Box(-np.ones(3), np.ones(3)), (a, a + 1, a + 2))


def tiny_onnx(path, rng):
    w1, b1 = rng.normal(size=(6, 2)), rng.normal(size=6) * 0.5
    w2, b2 = rng.normal(size=(3, 6)), np.zeros(3)
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["g1"], transB=1),
             helper.make_node("Relu", ["g1"], ["h1"]),
             helper.make_node("Gemm", ["h1", "W2", "b2"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(a.astype(np.float32), n)
             for a, n in [(w1, "W1"), (b1, "b1"), (w2, "W2"), (b2, "b2")]]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_cli_json_contract_and_plot(tmp_path):
    model, out, png = tmp_path / "tiny.onnx", tmp_path / "r.json", tmp_path / "r.png"
    tiny_onnx(model, np.random.default_rng(8))
    res = CliRunner().invoke(main, ["regions", str(model), "--box", "-1", "1", "--json", str(out),
                                    "--plot", str(png)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert list(data) == ["model", "domain", "slice", "regions", "exact", "method", "time_s",
                          "cells_per_layer", "lps", "outer_lps", "point_splits", "verified", "note",
                          "path", "interrupted", "bounds"]
    assert data["exact"] is True and data["method"] == "exact" and data["regions"] > 1
    assert {"theorem1", "2^N"} <= set(data["bounds"]) and data["regions"] <= data["bounds"]["theorem1"]
    assert png.stat().st_size > 1000
    res = CliRunner().invoke(main, ["regions", str(model), "--box", "-1", "1", "--method", "milp",
                                    "--json", str(out)])
    assert res.exit_code == 0 and json.loads(out.read_text())["regions"] == data["regions"]


def test_bounds_only_json_counts_nothing(tmp_path):
    model, out = tmp_path / "tiny.onnx", tmp_path / "r.json"
    tiny_onnx(model, np.random.default_rng(8))
    res = CliRunner().invoke(main, ["regions", str(model), "--box", "-1", "1", "--method", "bounds",
                                    "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert list(data) == ["model", "domain", "slice", "regions", "exact", "method", "time_s", "note",
                          "bounds"]
    assert (data["regions"], data["exact"], data["method"], data["slice"]) == (0, False, "bounds", False)
    assert data["bounds"]["theorem1"] > 1


def test_an_unknown_path_is_refused():
    net = make_net([np.eye(2)], [np.zeros(2)])
    with pytest.raises(ValueError, match="path"):
        count_regions(net, Box(-np.ones(2), np.ones(2)), path="vertices")


def test_cli_plane_needs_the_input_size(tmp_path):
    model = tmp_path / "tiny.onnx"
    tiny_onnx(model, np.random.default_rng(8))
    res = CliRunner().invoke(main, ["regions", str(model), "--plane", "0,0,0", "1,0", "0,1"])
    assert res.exit_code == 2 and "3 values, the model has 2 inputs" in res.output


def test_hyperplanes_through_one_interior_point_give_all_patterns_with_one_lp():
    rng = np.random.default_rng(11)
    n, d = 6, 9
    net = make_net([rng.normal(size=(n, d))], [np.zeros(n)])  # all through the origin
    result = count_regions(net, Box(-np.ones(d), np.ones(d)))
    assert result.exact and result.verified
    assert result.regions == 2 ** n and result.lps <= 2


def test_layer_split_at_once_and_counted_last_layer_agree_with_scip():
    # the LP path (path="lp"), whatever the input dimension
    # more inputs than neurons: the 2^k split of layer 1 and the deletion-restriction count of
    # the last layer (rank-deficient in cells with few active neurons) both run
    rng = np.random.default_rng(12)
    for sizes in ([6, 3, 5], [7, 4, 4], [5, 2, 4, 3], [4, 4]):
        net = random_net(sizes, rng)
        box = Box(-np.ones(sizes[0]), np.ones(sizes[0]))
        exact, milp = count_regions(net, box, path="lp"), count_regions_milp(net, box)
        assert exact.exact and exact.verified and milp.verified
        assert exact.regions == milp.regions, sizes


@pytest.mark.parametrize("path", ["vertex", "lp"])
def test_duplicate_and_parallel_neurons_in_the_counted_layer(path):
    rng = np.random.default_rng(13)
    w = rng.normal(size=(3, 7))
    # a duplicate of neuron 0, a mirrored copy of neuron 1 and a neuron parallel to neuron 2
    w1 = np.vstack([w, w[0], -w[1], w[2]])
    b1 = np.r_[0.1, -0.2, 0.3, 0.1, 0.2, -0.4]
    net = make_net([w1], [b1])
    box = Box(-np.ones(7), np.ones(7))  # 6 neurons <= 7 inputs: the deletion-restriction count
    exact, milp = count_regions(net, box, path=path), count_regions_milp(net, box)
    assert exact.exact and exact.regions == milp.regions


def test_sign_points_realise_every_sign_next_to_the_point():
    from exactprune.regions.signpoints import sign_points, signs
    rng = np.random.default_rng(14)
    normals = rng.normal(size=(3, 6))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    point = rng.uniform(-0.5, 0.5, size=6)
    offsets = normals @ point
    rows = np.zeros((0, 6))
    pts = sign_points(point, normals, offsets, -np.ones(6), np.ones(6), rows, np.zeros(0))
    assert pts.shape == (8, 6) and np.all(np.abs(pts) < 1.0)
    assert np.array_equal(np.sign(pts @ normals.T - offsets), signs(3))
    assert sign_points(point, np.vstack([normals, normals[0]]), np.r_[offsets, offsets[0]],
                       -np.ones(6), np.ones(6), rows, np.zeros(0)) is None  # dependent normals


@pytest.mark.parametrize("path", ["vertex", "lp"])
def test_dead_neuron_with_zero_weights_and_bias_is_inactive(path):
    rng = np.random.default_rng(15)
    w1, b1 = rng.normal(size=(4, 2)), rng.normal(size=4) * 0.3
    w2 = np.vstack([rng.normal(size=(3, 4)), np.zeros((1, 4))])  # g == 0 everywhere: inactive
    net = make_net([w1, w2], [b1, np.r_[rng.normal(size=3) * 0.3, 0.0]])
    box = Box(-np.ones(2), np.ones(2))
    result, sliced = count_regions(net, box, path=path), slice_regions(net, box)
    assert result.exact and result.verified and sliced.count.verified
    assert result.regions == sliced.count.regions == count_regions_milp(net, box).regions


# LP-free vertex enumeration (vertex.py) ---------------------------------------------------------

def test_vertex_enumeration_agrees_with_lp_enumeration_and_scip_on_random_networks():
    rng = np.random.default_rng(21)
    for trial in range(36):
        d = int(rng.integers(1, 7))
        sizes = [d] + [int(rng.integers(2, 6)) for _ in range(rng.integers(1, 4))]
        net = random_net(sizes, rng)
        box = Box(-np.ones(d), np.ones(d))
        fast, lp = count_regions(net, box, path="vertex"), count_regions(net, box, path="lp")
        assert fast.exact and fast.verified and lp.exact and fast.lps == 0
        assert fast.regions == lp.regions, (trial, sizes)
        if trial % 3 == 0:
            assert fast.regions == count_regions_milp(net, box).regions, (trial, sizes)


def test_vertex_enumeration_with_leaky_and_identity_layers_matches_the_lp_path():
    rng = np.random.default_rng(22)
    layers = (Dense(rng.normal(size=(5, 3)), rng.normal(size=5) * 0.5, activation=leaky_relu(0.1)),
              Dense(rng.normal(size=(4, 5)), rng.normal(size=4) * 0.5, activation="identity"),
              Dense(rng.normal(size=(4, 4)), rng.normal(size=4) * 0.5),
              Dense(rng.normal(size=(1, 4)), np.zeros(1), activation="identity"))
    net = Network(layers, InputMap.identity(3))
    box = Box(-np.ones(3), np.ones(3))
    fast, lp = count_regions(net, box, path="vertex"), count_regions(net, box, path="lp")
    assert fast.exact and fast.verified and fast.regions == lp.regions > 5


@pytest.mark.parametrize("offset,regions", [(1.0 - 1e-12, 1), (1.0 - 1e-6, 2), (1.0 + 1e-6, 1)])
def test_vertex_ties_a_hyperplane_near_a_facet(offset, regions):
    # x1 = offset: within the tolerance of the facet x1 = 1 it does not cut, beyond it it does
    net = make_net([np.array([[1.0, 0.0]])], [np.array([-offset])])
    result = count_regions(net, Box(-np.ones(2), np.ones(2)), path="vertex")
    assert result.exact and result.verified and result.regions == regions


@pytest.mark.parametrize("shift,regions", [(0.0, 1), (1e-12, 1), (1e-6, 2)])
def test_vertex_ties_a_hyperplane_touching_a_corner(shift, regions):
    # x1 + x2 + x3 = 3 - shift touches the corner (1, 1, 1) only, or cuts a tiny corner off
    net = make_net([np.ones((1, 3))], [np.array([-3.0 + shift])])
    result = count_regions(net, Box(-np.ones(3), np.ones(3)), path="vertex")
    assert result.exact and result.verified and result.regions == regions


def test_vertex_hyperplanes_through_box_corners_and_one_point():
    # both diagonals of the square: through the corners and the centre (a degenerate vertex)
    net = make_net([np.array([[1.0, -1.0], [1.0, 1.0]])], [np.zeros(2)])
    assert count_regions(net, Box(-np.ones(2), np.ones(2)), path="vertex").regions == 4
    # n generic planes through one interior point of R^3: 2 * sum_{i<3} C(n-1, i) regions
    rng = np.random.default_rng(23)
    n, centre = 6, np.array([0.2, -0.1, 0.3])
    w = rng.normal(size=(n, 3))
    net = make_net([w], [-w @ centre])
    box = Box(-np.ones(3), np.ones(3))
    fast = count_regions(net, box, path="vertex")
    assert fast.exact and fast.verified
    assert fast.regions == 2 * sum(comb(n - 1, i) for i in range(3)) == count_regions_milp(net, box).regions


def test_vertex_pencil_of_hyperplanes_in_four_dimensions():
    # x1, x2, x1 + x2 share the 2-flat x1 = x2 = 0 (rank-deficient tight sets), then x3 cuts it
    w = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [1.0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    net = make_net([w, np.array([[1.0, -1.0, 0.5, 0.3]])], [np.zeros(4), np.array([0.1])])
    box = Box(-np.ones(4), np.ones(4))
    fast = count_regions(net, box, path="vertex")
    assert fast.exact and fast.verified and fast.cells_per_layer[0] == 12
    assert fast.regions == count_regions(net, box, path="lp").regions == count_regions_milp(net, box).regions


def test_vertex_duplicate_and_mirrored_neurons_in_a_deep_network():
    rng = np.random.default_rng(24)
    w1, b1 = rng.normal(size=(4, 3)), rng.normal(size=4) * 0.3
    w2, b2 = rng.normal(size=(3, 4)), rng.normal(size=3) * 0.3
    plain = make_net([w1, w2], [b1, b2])
    # layer 1 gets a copy and a mirror of neuron 0 (unused downstream), layer 2 a copy of neuron 1
    w1d, b1d = np.vstack([w1, w1[0], -w1[0]]), np.r_[b1, b1[0], -b1[0]]
    w2d = np.hstack([w2, np.zeros((3, 2))])
    w2d, b2d = np.vstack([w2d, w2d[1]]), np.r_[b2, b2[1]]
    doubled = make_net([w1d, w2d], [b1d, b2d])
    box = Box(-np.ones(3), np.ones(3))
    a, b = count_regions(plain, box, path="vertex"), count_regions(doubled, box, path="vertex")
    assert a.exact and b.exact and b.verified
    assert a.regions == b.regions == count_regions_milp(plain, box).regions


def test_vertex_enumeration_on_a_slice_with_domain_rows():
    from exactprune.regions.count import count_problem
    from exactprune.regions.slices import plane_problem
    rng = np.random.default_rng(25)
    net = random_net([3, 6, 5], rng)
    box = Box(-np.ones(3), np.ones(3))
    problem = plane_problem(net, box, np.array([-1.0, 0.5, -0.7]), np.array([1.0, -0.4, 0.9]),
                            np.array([0.3, 1.0, -1.0]))
    assert problem.rows.shape[0] > 0
    fast, lp = count_problem(problem, net, path="vertex"), count_problem(problem, net, path="lp")
    assert fast.exact and fast.verified and fast.regions == lp.regions > 3


def test_vertex_enumeration_uses_proven_stable_neurons():
    from exactprune.stability import analyse_stability
    rng = np.random.default_rng(26)
    w1 = np.vstack([rng.normal(size=(4, 2)), [[0.1, 0.1]]])
    net = make_net([w1, rng.normal(size=(3, 5))], [np.r_[rng.normal(size=4) * 0.3, 5.0], rng.normal(size=3)])
    box = Box(-np.ones(2), np.ones(2))
    stab = analyse_stability(net, box, method="bounds")
    assert count_regions(net, box, stability=stab, path="vertex").regions == count_regions(net, box).regions


def test_witness_check_rejects_a_wrong_pattern_and_a_point_outside():
    from exactprune.regions.problem import box_problem
    from exactprune.regions.recheck import WitnessCheck
    net = make_net([np.array([[1.0, 1e-3]])], [np.zeros(1)])
    problem = box_problem(net, Box(-np.ones(2), np.ones(2)))
    assert problem.dim == 2
    check = WitnessCheck(problem, net)
    check.add(np.array([[0.5, 0.0], [-0.5, 0.0]]), np.array([[True], [False]]))
    assert check.verified(2, finished=True)
    check.add(np.array([[0.5, 0.0]]), np.array([[False]]))
    assert not check.verified(2, finished=True) and check.mismatch == 1
    check = WitnessCheck(problem, net)
    check.add(np.array([[2.0, 0.0]]), np.array([[True]]))
    assert not check.verified(1, finished=True) and check.outside == 1


def test_inputs_the_first_layer_never_reads_are_fixed_at_the_centre():
    from exactprune.regions.problem import box_problem
    w = np.array([[1.0, 0.0, -1.0], [0.5, 0.0, 1.0]])
    net = make_net([w], [np.array([0.1, -0.2])])
    box = Box(np.array([-1.0, 2.0, -1.0]), np.array([1.0, 4.0, 1.0]))
    problem = box_problem(net, box)
    assert problem.dim == 2 and list(problem.columns) == [0, 2]
    assert np.allclose(problem.lift(np.array([[0.3, -0.4]])), [[0.3, 3.0, -0.4]])
    for path in ("vertex", "lp"):  # two lines crossing inside the box
        got = count_regions(net, box, path=path)
        assert got.exact and got.verified and got.regions == 4 == count_regions_milp(net, box).regions


# LPs the warm HiGHS solve leaves open (lp.py, fallback.py) ---------------------------------------

def test_highs_instances_run_when_the_scheduler_has_another_thread_count():
    import highspy

    from exactprune.solvers.highs import THREADS, quiet_highs, run
    other = highspy.Highs()
    other.setOptionValue("output_flag", False)
    other.setOptionValue("threads", THREADS + 1)
    highspy.Highs.resetGlobalScheduler(True)
    try:
        other.addVar(0.0, 1.0)
        other.run()  # the process's scheduler now has THREADS + 1 threads
        plain, guarded = quiet_highs(), quiet_highs()
        for h in (plain, guarded):
            h.addVar(0.0, 1.0)
            h.changeColCost(0, -1.0)
        assert plain.run() == highspy.HighsStatus.kError  # what run() guards against
        run(guarded)
        assert guarded.getModelStatus() == highspy.HighsModelStatus.kOptimal
    finally:
        highspy.Highs.resetGlobalScheduler(True)


def test_fallback_solvers_agree_with_highs():
    import highspy

    from exactprune.regions.lp import CellLP
    from exactprune.solvers.highs import RETRIES, solve_elsewhere, solve_highs, solve_scip
    lp = CellLP(-np.ones(3), np.ones(3), cap=10.0)
    lp.push(np.array([0.6, 0.8, 0.0]), 0.1)
    margin, _ = lp.trial()
    model = lp.highs.getLp()
    for status, objective, x in [solve_scip(model), solve_elsewhere(model, retries=())] + \
            [solve_highs(model, options) for options in RETRIES]:
        assert status == "optimal" and -objective == pytest.approx(margin, abs=1e-7)
        assert x[:3] @ np.array([0.6, 0.8, 0.0]) + x[3] <= 0.1 + 1e-7
    # the flat x1 = 5 misses the box: every solver says infeasible
    h = highspy.Highs()
    h.passModel(model)
    h.addRow(5.0, 5.0, 1, np.array([0], dtype=np.int32), np.array([1.0]))
    assert solve_scip(h.getLp())[0] == "infeasible"
    assert lp.on_flat(np.array([[1.0, 0.0, 0.0]]), np.array([5.0]))[0] == -np.inf


def test_lp_path_without_warm_answers_still_counts_exactly(monkeypatch):
    from exactprune.regions import lp as lp_module
    rng = np.random.default_rng(27)
    net = random_net([7, 4, 3], rng)  # 7 inputs: the LP path, with the 2^k split and the last layer count
    box = Box(-np.ones(7), np.ones(7))
    reference = count_regions(net, box, path="lp")
    assert reference.exact and reference.lps > 0
    monkeypatch.setattr(lp_module.CellLP, "_warm", lambda self: "")  # every warm solve "fails"
    rescued = count_regions(net, box, path="lp")
    assert rescued.exact and rescued.verified and rescued.regions == reference.regions
    monkeypatch.setattr(lp_module, "solve_elsewhere", lambda model: ("", float("nan"), None))
    failed = count_regions(net, box, path="lp")
    assert not failed.exact and "LP(s)" in failed.note and failed.regions <= reference.regions


def test_crossing_edges_need_the_combinatorial_test_on_degenerate_vertices():
    # the cube [0, 2]^3 with a second copy of its top facet (bit 6): the top vertices are
    # degenerate (4 tight constraints), and diagonal ones share d - 1 = 2 of them without an edge
    from exactprune.regions.vertex import Cells, box_vertices, crossing_edges, set_bit
    V, T = box_vertices(np.zeros(3), 2.0 * np.ones(3), 1)
    set_bit(T, V[:, 2] == 2.0, 6)
    cells = Cells(V, np.zeros(8, dtype=np.int64), T, np.zeros((1, 0), bool), np.zeros((1, 0, 3)),
                  np.zeros((1, 0)), np.zeros((1, 0, 3)), np.zeros((1, 0)))
    s = V[:, 0] - 1.0  # the plane x = 1 crosses the four edges along x
    a, b, common = crossing_edges(cells, s > 0, s < 0, np.array([True]))
    assert sorted(map(tuple, np.hstack([V[a], V[b]]).tolist())) == sorted(
        (2.0, y, z, 0.0, y, z) for y in (0.0, 2.0) for z in (0.0, 2.0))
    assert np.all(np.bitwise_count(common).sum(axis=1) >= 2)


# LP-free answers to the flat question (certify.py) ----------------------------------------------

def cell_and_lp(rng, d=12):
    from exactprune.regions.lp import CellLP
    rows = rng.normal(size=(4, d))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rhs = np.abs(rng.normal(size=4)) * 0.3
    lp = CellLP(-np.ones(d), np.ones(d), cap=10.0)
    for row, c in zip(rows, rhs):
        lp.push(row, c)
    return rows, rhs, lp


def test_flat_witness_lies_on_the_flat_inside_the_cell_and_agrees_with_the_lp():
    from exactprune.regions.certify import SAFETY, centred_point, flat_witness
    rng = np.random.default_rng(31)
    rows, rhs, lp = cell_and_lp(rng)
    lo, hi, tol = -np.ones(12), np.ones(12), 1e-7
    centre = centred_point(lp.trial()[1], lo, hi, rows, rhs)
    assert np.all(rhs - rows @ centre > 0.0) and np.all(np.abs(centre) < 1.0)
    found = 0
    for _ in range(20):
        normals = rng.normal(size=(2, 12))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        offsets = rng.normal(size=2) * 0.5
        u = flat_witness(centre, normals, offsets, lo, hi, rows, rhs, tol)
        if u is None:
            continue
        found += 1
        assert np.allclose(normals @ u, offsets) and np.all(np.abs(u) < 1.0 - tol)
        assert np.min(rhs - rows @ u) > SAFETY * tol
        assert lp.on_flat(normals, offsets)[0] > tol  # the LP says yes too
    assert found >= 5
    # a flat outside the box or beyond a cell row gets no witness
    e = np.eye(12)[:1]
    assert flat_witness(centre, e, np.array([5.0]), lo, hi, rows, rhs, tol) is None
    assert flat_witness(centre, rows[:1], rhs[:1] + 0.1, lo, hi, rows, rhs, tol) is None


def test_lp_path_counts_the_same_without_witnesses(monkeypatch):
    from exactprune.regions import arrangement
    rng = np.random.default_rng(33)
    net = random_net([9, 5, 5], rng)  # the 2^k split, then the counted last layer
    box = Box(-np.ones(9), np.ones(9))
    with_witnesses = count_regions(net, box, path="lp")
    monkeypatch.setattr(arrangement, "flat_witness", lambda *args: None)
    plain = count_regions(net, box, path="lp")
    assert with_witnesses.exact and with_witnesses.verified and plain.exact
    assert with_witnesses.regions == plain.regions and with_witnesses.lps < plain.lps


def test_sign_points_refuses_more_points_than_its_budget():
    """18 independent hyperplanes through the centre of a 20-D box: 2^18 points of 20 inputs
    exceed SIGN_ENTRIES, so none are made (the callers split instead); 10 of them are made."""
    from exactprune.regions.signpoints import SIGN_ENTRIES, sign_points

    d = 20
    lo, hi, centre = np.zeros(d), np.ones(d), np.full(d, 0.5)
    rows, rhs = np.zeros((0, d)), np.zeros(0)
    for n, made in ((10, True), (18, False)):
        assert (2.0 ** n * (n + d) > SIGN_ENTRIES) is not made
        normals = np.eye(d)[:n]
        pts = sign_points(centre, normals, normals @ centre, lo, hi, rows, rhs)
        assert (pts is not None) is made
        if made:
            assert pts.shape == (2 ** n, d)
            assert np.array_equal(np.sign(pts @ normals.T - normals @ centre),
                                  np.array(list(itertools.product((1.0, -1.0), repeat=n))))


def test_a_wide_first_layer_in_high_dimension_stops_at_the_time_limit_in_bounded_memory():
    """The shipped 784-100-100-10 network on the unit box: the first layer's 100 hyperplanes
    meet inside the box, whose 2^100 sides no one can list; under a 3 GB address-space limit
    the count ends at its time limit with a lower bound (it once ran out of memory)."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    model = Path(__file__).parents[2] / "sample_models" / "mnist_784_100_100_10.onnx"
    done = subprocess.run([sys.executable, "-m", "exactprune", "regions", str(model), "--box",
                           "0", "1", "--time-limit", "3", "--json", "-"], capture_output=True,
                          text=True, timeout=120, preexec_fn=limit)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert not report["exact"] and report["verified"] and report["regions"] >= 2

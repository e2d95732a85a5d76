"""Stability analysis: planted answers, soundness on samples, limits, and real models."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
from builders import (
    SHARED_MODELS,  # noqa: E402
    planted,
    shared_model,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.domain import Box
from exactprune.errors import DomainError
from exactprune.ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Dense, InputMap, Network, leaky_relu
from exactprune.solvers.scip import FLIP_MARGIN
from exactprune.stability import Reason, analyse_stability


@pytest.mark.parametrize("n_inputs", [3, 20])  # 3: input splitting applies; 20: it does not
@pytest.mark.parametrize("method", ["auto", "milp", "per-neuron", "per-neuron-plain",
                                    "per-neuron-tight", "per-neuron-capped"])
def test_planted_answers_are_found_exactly(n_inputs, method):
    net, box, want = planted(n_inputs, seed=n_inputs)
    result = analyse_stability(net, box, time_limit=60, method=method)
    assert result.complete
    for layer, expected in zip(result.layers, want):
        assert layer.status.tolist() == expected
        assert all(layer.evidence)
    if n_inputs == 20 and method in ("auto", "milp"):  # no bounds on the whole box prove the twin
        assert result.layers[1].evidence[3] == ("milp" if method == "milp" else "branch and bound")


def test_without_branch_and_bound_a_per_neuron_milp_proves_the_twin(monkeypatch):
    from exactprune.stability import branching

    monkeypatch.setattr(branching, "ROUNDS", ())
    net, box, want = planted(20, seed=20)
    result = analyse_stability(net, box, time_limit=60)
    assert [layer.status.tolist() for layer in result.layers] == want
    assert result.layers[1].evidence[3] == "per-neuron"


def test_witnesses_prove_every_unstable_neuron():
    net, box, _ = planted(20, seed=1)
    result = analyse_stability(net, box, time_limit=60)
    assert box.lo.min() >= 0 and (result.witnesses >= box.lo).all() and (result.witnesses <= box.hi).all()
    g = net.preactivations(result.witnesses)
    for layer in result.layers:
        unstable = layer.status == UNSTABLE
        assert (g[layer.layer][:, unstable] > 0).any(axis=0).all()
        assert (g[layer.layer][:, unstable] < 0).any(axis=0).all()


def test_no_time_leaves_unknowns_and_says_incomplete():
    net, box, _ = planted(20, seed=2)
    result = analyse_stability(net, box, time_limit=0.0, method="milp")
    assert not result.complete
    assert result.layers[1].status[3] == UNKNOWN and result.layers[1].evidence[3] == ""
    assert result.to_json("m.onnx")["complete"] is False
    assert result.to_json("m.onnx")["layers"][1]["unknown"] == [3]


def test_bounds_method_decides_without_solver():
    net, box, _ = planted(20, seed=3)
    result = analyse_stability(net, box, method="bounds")
    assert {e for layer in result.layers for e in layer.evidence} <= {"bounds", "witness", ""}
    assert result.layers[1].status[3] == UNKNOWN


def test_bad_arguments_are_rejected():
    net, box, _ = planted(3, seed=0)
    with pytest.raises(ValueError, match="unknown stability method 'fast'"):
        analyse_stability(net, box, method="fast")
    with pytest.raises(DomainError, match="has 2 inputs, the model has 3"):
        analyse_stability(net, Box([0, 0], [1, 1], "tiny"))
    with pytest.raises(DomainError, match="unbounded"):
        analyse_stability(net, Box([0, 0, -np.inf], [1, 1, 1], "open"))


def test_progress_reports_counts():
    net, box, _ = planted(20, seed=4)
    seen = []
    analyse_stability(net, box, progress=seen.append)
    assert seen and seen[-1]["decided"] == seen[-1]["total"] == 14
    assert {"bounds", "witness", "branch and bound"} <= set(seen[-1]["by_evidence"])


def test_final_relu_and_leaky_relu_layers_are_analysed():
    rng = np.random.default_rng(7)
    net = Network((Dense(rng.normal(size=(6, 3)), rng.normal(size=6), leaky_relu(0.1)),
                   Dense(rng.normal(size=(6, 6)), rng.normal(size=6), "identity"),
                   Dense(rng.normal(size=(2, 6)), [30.0, -30.0], "relu")), InputMap.identity(3))
    result = analyse_stability(net, Box(-np.ones(3), np.ones(3)), time_limit=30)
    assert [layer.layer for layer in result.layers] == [0, 2]
    assert result.layers[1].status.tolist() == [ACTIVE, INACTIVE]
    assert result.complete


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 100_000), n_in=st.sampled_from([2, 3, 18]), width=st.integers(2, 5))
def test_nothing_claimed_stable_ever_flips(seed, n_in, width):
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(size=(width, n_in)), rng.normal(size=width) * 0.5),
              Dense(rng.normal(size=(width, width)), rng.normal(size=width) * 0.5),
              Dense(rng.normal(size=(1, width)), [0.0], "identity")]
    net = Network(tuple(layers), InputMap.identity(n_in))
    lo = rng.uniform(-1, 0, n_in)
    box = Box(lo, lo + rng.uniform(0.05, 1.0, n_in))
    result = analyse_stability(net, box, time_limit=20)
    x = rng.uniform(box.lo, box.hi, size=(3000, n_in))
    corners = np.where(rng.random((500, n_in)) < 0.5, box.lo, box.hi)
    g = net.preactivations(np.vstack([x, corners]))
    for layer in result.layers:
        gl = g[layer.layer]
        tol = np.array([FLIP_MARGIN * 2 if e in ("milp", "per-neuron") else 0.0
                        for e in layer.evidence])
        assert not (gl[:, layer.status == ACTIVE] < -tol[layer.status == ACTIVE]).any()
        assert not (gl[:, layer.status == INACTIVE] > tol[layer.status == INACTIVE]).any()
        # the bounds reported (tightened by dual bounds and open searches) hold too
        assert (gl >= layer.lower - 1e-4).all() and (gl <= layer.upper + 1e-4).all()


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_published_baselines_agree_and_tight_bounds_hold(seed):
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(size=(6, 3)), rng.normal(size=6) * 0.5) for _ in range(1)] + \
        [Dense(rng.normal(size=(6, 6)), rng.normal(size=6) * 0.5) for _ in range(2)] + \
        [Dense(rng.normal(size=(1, 6)), [0.0], "identity")]
    net = Network(tuple(layers), InputMap.identity(3))
    box = Box(-np.ones(3), np.ones(3))
    fast = analyse_stability(net, box, time_limit=20)
    plain = analyse_stability(net, box, time_limit=20, method="per-neuron-plain")
    tight = analyse_stability(net, box, time_limit=20, method="per-neuron-tight")
    assert fast.complete and plain.complete and tight.complete
    g = net.preactivations(rng.uniform(box.lo, box.hi, size=(3000, 3)))
    for a, b, c in zip(fast.layers, plain.layers, tight.layers):
        unstable = a.status == UNSTABLE
        assert (b.status[unstable] == UNSTABLE).all() and (c.status[unstable] == UNSTABLE).all()
        assert ((b.status == UNSTABLE) == unstable).all() and ((c.status == UNSTABLE) == unstable).all()
        assert (g[a.layer] >= c.lower).all() and (g[a.layer] <= c.upper).all()
        assert set(c.evidence) <= {"bounds", "per-neuron"}


def _shared(model: str, spec: str):
    shared_model(f"{model}.onnx")
    from exactprune.domain import load_vnnlib
    from exactprune.onnx_io import load

    net = load(SHARED_MODELS / f"{model}.onnx")
    return net, load_vnnlib(SHARED_MODELS / f"{spec}.vnnlib", net.n_inputs)


def test_cartpole_agrees_with_the_per_neuron_baseline():
    net, box = _shared("cartpole", "cartpole_case_safe_14")
    fast = analyse_stability(net, box, time_limit=60)
    base = analyse_stability(net, box, time_limit=60, method="per-neuron")
    assert fast.complete and base.complete
    for a, b in zip(fast.layers, base.layers):
        assert a.status.tolist() == b.status.tolist()


def test_acasxu_prop_4_is_decided_and_sound():
    net, box = _shared("acasxu_1_1", "acasxu_prop_4")
    result = analyse_stability(net, box, time_limit=120)
    assert result.complete and result.counts()["unknown"] == 0
    x = np.random.default_rng(0).uniform(box.lo, box.hi, size=(5000, box.size))
    g = net.preactivations(x)
    for layer in result.layers:
        assert not (g[layer.layer][:, layer.status == ACTIVE] < 0).any()
        assert not (g[layer.layer][:, layer.status == INACTIVE] > 0).any()


def test_an_interrupt_returns_a_sound_partial_result():
    net, box, want = planted(20, seed=5)

    def interrupt(info):
        if info["stage"] == "witnesses":
            raise KeyboardInterrupt

    result = analyse_stability(net, box, progress=interrupt)
    assert not result.complete and result.counts()["unknown"] >= 1
    for layer, expected in zip(result.layers, want):
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()


@pytest.mark.parametrize("method", ["auto", "per-neuron", "per-neuron-plain", "per-neuron-tight"])
def test_worker_processes_give_the_same_answers(method):
    net, box, want = planted(20, seed=3)
    result = analyse_stability(net, box, time_limit=60, method=method, workers=2)
    assert result.complete
    assert [layer.status.tolist() for layer in result.layers] == want
    assert all(all(layer.evidence) for layer in result.layers)


def test_an_interrupt_with_worker_processes_stops_them_and_keeps_what_they_proved():
    net, box, want = planted(20, seed=4)
    answered = []

    def interrupt(info):
        if info["stage"] == "per-neuron":
            answered.append(info["decided"])
            if len(answered) == 3:
                raise KeyboardInterrupt

    result = analyse_stability(net, box, method="per-neuron", progress=interrupt, workers=2)
    assert result.interrupted and not result.complete
    for layer, expected in zip(result.layers, want):
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()
    assert multiprocessing.active_children() == []


def _die(task):
    os._exit(1)


def test_a_worker_that_dies_leaves_its_neurons_unknown(monkeypatch):
    from exactprune import parallel
    from exactprune.stability import neuron_milps

    net, box, want = planted(20, seed=6)
    monkeypatch.setattr(parallel, "GRACE_S", 0.0)
    monkeypatch.setattr(neuron_milps, "_work", _die)
    result = analyse_stability(net, box, time_limit=3, method="per-neuron", workers=2)
    assert not result.complete and result.counts()["unknown"] >= 1
    for layer, expected in zip(result.layers, want):
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()
    assert multiprocessing.active_children() == []


def test_a_capped_round_that_times_out_leaves_the_neuron_to_the_next_round(monkeypatch):
    from exactprune.stability import branching, neuron_milps, per_neuron

    monkeypatch.setattr(per_neuron, "ROUND_CAPS", (0.0, None))
    monkeypatch.setattr(branching, "ROUNDS", ())
    timed_out = []
    real = neuron_milps._Solver.side

    def side(self, j, sign, deadline):
        out = real(self, j, sign, deadline)
        if self.spec.cap == 0.0:  # SCIP gets its minimum time (0.01 s): stop it there
            out = neuron_milps.Side(sign, neuron_milps.Outcome.OPEN, reason=out.reason)
            timed_out.append(j)
        return out

    monkeypatch.setattr(neuron_milps._Solver, "side", side)
    net, box, want = planted(20, seed=20)
    result = analyse_stability(net, box, time_limit=60)
    assert timed_out and result.complete
    assert [layer.status.tolist() for layer in result.layers] == want
    assert result.layers[1].evidence[3] == "per-neuron"


def test_a_branching_worker_that_dies_leaves_its_neurons_unknown(monkeypatch):
    from exactprune import parallel
    from exactprune.stability import branching, per_neuron

    net, box, want = planted(20, seed=6)
    monkeypatch.setattr(parallel, "GRACE_S", 0.0)
    monkeypatch.setattr(branching, "_search", _die)
    monkeypatch.setattr(per_neuron, "ROUND_CAPS", ())  # no MILP takes the neurons over
    result = analyse_stability(net, box, time_limit=10, workers=2)
    assert not result.complete
    assert set(result.unknown_by_reason()) == {Reason.SOLVER_TROUBLE}
    assert any("worker process" in t for t in result.trouble)
    for layer, expected in zip(result.layers, want):
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()
    assert multiprocessing.active_children() == []


def test_an_open_search_keeps_the_neurons_bounds_sound(monkeypatch):
    """g = 0.1 - relu(x0) + relu(-x0) + relu(x0 + 2) - 2 = 0.1 on the box (stably active), but
    bounds on the whole box leave lo <= -0.4; one part per search cannot prove it, and the
    search's bound (on -g) must tighten lo, not cross it."""
    from exactprune.stability import branching, per_neuron

    monkeypatch.setattr(branching, "ROUNDS", ((1, 1.0),))
    monkeypatch.setattr(per_neuron, "ROUND_CAPS", ())
    first = np.zeros((3, 20))
    first[:, 0] = [1.0, -1.0, 1.0]  # 20 inputs: no input splitting
    net = Network((Dense(first, np.array([0.0, 0.0, 2.0])),
                   Dense(np.array([[-1.0, 1.0, 1.0]]), np.array([-1.9])),
                   Dense(np.ones((1, 1)), np.zeros(1), "identity")), InputMap.identity(20))
    result = analyse_stability(net, Box(-np.ones(20), np.ones(20)), time_limit=10)
    layer = result.layers[1]
    assert layer.status[0] == UNKNOWN and layer.lower[0] <= -0.4
    assert layer.lower[0] <= 0.1 <= layer.upper[0]
    monkeypatch.setattr(branching, "ROUNDS", ((100, 1.0),))
    assert analyse_stability(net, Box(-np.ones(20), np.ones(20)), time_limit=10).layers[1] \
        .status[0] == ACTIVE


def test_a_neuron_whose_minimum_is_zero_goes_to_a_milp_after_the_first_round(monkeypatch):
    """g = relu(x0) + relu(-x0) = |x0| >= 0 touches 0: no bound with rounding margins proves it
    active, so branch and bound stays open; method auto then asks a MILP for it before larger
    rounds (no later MILP round here), method branch (no solver) leaves it unknown."""
    from exactprune.stability import per_neuron

    monkeypatch.setattr(per_neuron, "ROUND_CAPS", ())
    first = np.zeros((2, 20))
    first[:, 0] = [1.0, -1.0]
    net = Network((Dense(first, np.zeros(2)), Dense(np.ones((1, 2)), np.zeros(1)),
                   Dense(np.ones((1, 1)), np.zeros(1), "identity")), InputMap.identity(20))
    box = Box(-np.ones(20), np.ones(20))
    auto = analyse_stability(net, box, time_limit=30).layers[1]
    assert auto.status[0] == ACTIVE and auto.evidence[0] == "per-neuron"
    assert analyse_stability(net, box, time_limit=30, method="branch").layers[1].status[0] \
        == UNKNOWN

"""The formal check (equivalence/formal.py, `verify --formal`, `compress --prove`): planted
differences are found with counterexamples that float64 and onnxruntime confirm, compressions
are proven, and the outcome is never "equivalent" where sampling sees a difference above T."""

import json
from functools import partial

import numpy as np
import onnx
import pytest
from builders import bump_pair, dense_model, init, make_model, nudged, random_mlp, save_model
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

from exactprune.bounds import symbolic_bounds
from exactprune.cli import main
from exactprune.domain import Box
from exactprune.equivalence import CheckOptions, FormalOptions, compare, prove_equivalence
from exactprune.equivalence.formal import ANALYSIS_METHOD, milp_limit
from exactprune.errors import EXIT_UNDECIDED, InvalidModelError
from exactprune.ir import INACTIVE
from exactprune.onnx_io import convert
from exactprune.onnx_io.metadata import KEY_PROOF
from exactprune.pipeline import compress, prove
from exactprune.solvers.obbt import padded
from exactprune.stability import analyse_stability


def unit(n: int) -> Box:
    return Box(np.zeros(n), np.ones(n), "unit box")


@pytest.mark.parametrize("n", [2, 5, 10])
def test_a_bump_on_a_thin_slab_passes_sampling_and_is_found_formally(n):
    f, g = bump_pair(n, seed=n)
    assert compare(f, g, unit(n), CheckOptions(samples=20000)).passed  # sampling misses it
    report = prove_equivalence(f, g, unit(n), FormalOptions(time_limit=30))
    assert report.equivalent is False
    x = np.array(report.counterexample)
    assert x.shape == (n,) and np.all((x >= 0) & (x <= 1))
    a, b = convert(f).network, convert(g).network
    diff = np.abs(a.forward(x) - b.forward(x)).max()  # re-evaluated here, independently
    assert diff > report.tolerance and diff > 0.5
    assert report.counterexample_outputs["onnxruntime"]["max_abs"] > report.tolerance


def test_a_network_and_its_compression_are_proven_equivalent():
    model = random_mlp([3, 12, 12, 2], seed=1)
    result = compress(model, unit(3), time_limit=10, prove=True)
    assert result.report.neurons_after < result.report.neurons_before
    assert result.proof.equivalent is True
    assert result.proof.max_abs_bound <= result.proof.tolerance
    assert result.report.proof["equivalent"] is True and result.report.verified
    props = {p.key: json.loads(p.value) for p in result.model.metadata_props
             if p.key == KEY_PROOF}
    assert props[KEY_PROOF]["max_abs_bound"] == result.proof.max_abs_bound
    assert result.to_json("out.onnx")["proof"]["equivalent"] is True


def test_one_weight_changed_by_1e_3_is_refuted():
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(8, 4)) / 2, rng.normal(size=(8, 8)) / 3, rng.normal(size=(2, 8))]
    biases = [rng.normal(size=8) * 0.1, rng.normal(size=8) * 0.1, np.zeros(2)]
    model = dense_model(weights, biases)
    box = unit(4)
    up = symbolic_bounds(convert(model).network, box)[1][1]
    j = int(np.argmax(up))  # the hidden neuron that gets largest: its output weight matters
    changed = nudged(model, 1e-3, "W2", index=j)
    report = prove_equivalence(model, changed, box, FormalOptions(tol=1e-5))
    assert report.equivalent is False
    assert report.counterexample_outputs["max_abs"] > 1e-5


def test_a_change_where_the_neuron_is_dead_is_no_difference():
    """The same 1e-3 nudge on a weight out of a neuron that is off on the whole box changes
    nothing there: proven equivalent, not refuted."""
    model = random_mlp([4, 10, 10, 3], seed=2)
    box = unit(4)
    report = prove_equivalence(model, nudged(model, 1e-3, "W1"), box)
    up = symbolic_bounds(convert(model).network, box)[0][1]  # W1[0, 0] reads neuron 0 of layer 0
    assert up[0] <= 0.0 and report.equivalent is True


def test_the_milp_limit_is_padded_to_at_most_the_tolerance():
    for tol in (1e-7, 1e-6, 1.1e-6, 1e-5, 0.1, 10.0):
        limit = milp_limit(tol)
        assert padded(limit, 1) <= tol and limit < tol


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.0, 1e-6, 1e-4, 1e-2, 1.0]))
def test_never_equivalent_where_sampling_finds_a_difference(seed, scale):
    rng = np.random.default_rng(seed)
    widths = [3, 6, 6, 2]
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    biases = [rng.normal(size=b) * 0.3 for b in widths[1:]]
    a = dense_model(weights, biases)
    weights = [w + scale * rng.normal(size=w.shape) * (rng.random(w.shape) < 0.3)
               for w in weights]
    b = dense_model(weights, biases)
    box = Box(-np.ones(3), np.ones(3), "box")
    report = prove_equivalence(a, b, box, FormalOptions(tol=1e-4, time_limit=20, samples=0))
    x = rng.uniform(-1, 1, size=(4000, 3))
    sampled = np.abs(convert(a).network.forward(x) - convert(b).network.forward(x)).max()
    if sampled > 1e-4:
        assert report.equivalent is not True
    if report.equivalent:
        assert sampled <= report.max_abs_bound
    if report.equivalent is False:
        cex = np.array(report.counterexample)[None, :]
        assert np.abs(convert(a).network.forward(cex) - convert(b).network.forward(cex)).max() \
            > 1e-4


def test_models_that_cannot_be_compared_are_refused():
    a = random_mlp([3, 5, 2], seed=0)
    with pytest.raises(InvalidModelError, match="ops after the layers differ"):
        prove_equivalence(a, random_mlp([3, 5, 2], seed=0, tail=["Softmax"]), unit(3))
    with pytest.raises(InvalidModelError, match="inputs"):
        prove_equivalence(a, random_mlp([4, 5, 2], seed=0), unit(3))


def test_shared_tails_are_compared_before_the_tail():
    a = random_mlp([3, 6, 2], seed=4, tail=["Softmax"])
    result = compress(a, unit(3), time_limit=5, prove=True)
    assert result.proof.equivalent is True
    assert result.proof.counterexample is None


def test_analysis_results_are_used_and_the_pair_is_still_sound():
    outcomes = []
    for seed in (1, 2, 3):  # SCIP's incumbents may fail float64 (docs/verify.md): undecided
        f, g = bump_pair(2, seed=seed)
        report = prove_equivalence(f, g, unit(2), FormalOptions(time_limit=30),
                                   analyse=partial(analyse_stability, method=ANALYSIS_METHOD))
        outcomes.append(report.equivalent)
    assert True not in outcomes and outcomes.count(False) >= 2


@pytest.fixture
def pair_files(tmp_path):
    f, g = bump_pair(2, seed=0)
    return (str(save_model(f, tmp_path / "f.onnx")), str(save_model(g, tmp_path / "g.onnx")),
            tmp_path)


def test_cli_exit_codes_and_json_contract(pair_files):
    f, g, tmp = pair_files
    runner = CliRunner()
    same = runner.invoke(main, ["verify", f, f, "--formal", "--json", str(tmp / "same.json")])
    assert same.exit_code == 0 and "EQUIVALENT" in same.output
    data = json.loads((tmp / "same.json").read_text())
    for key in ("equivalent", "tolerance", "max_abs_bound", "counterexample", "outputs",
                "time_s"):
        assert key in data
    assert data["equivalent"] is True and data["counterexample"] is None
    diff = runner.invoke(main, ["verify", f, g, "--formal", "--json", "-"])
    assert diff.exit_code == 1
    data = json.loads(diff.stdout)
    assert data["equivalent"] is False and data["max_abs_bound"] is None
    assert len(data["counterexample"]) == 2 and len(data["outputs"]) == 2
    undecided = runner.invoke(main, ["verify", f, g, "--formal", "--samples", "0",
                                     "--time-limit", "0"])
    assert undecided.exit_code == EXIT_UNDECIDED and "UNDECIDED" in undecided.output
    usage = runner.invoke(main, ["verify", f, g, "--tol", "1e-3"])
    assert usage.exit_code == 2 and "go with --formal" in usage.output


def test_cli_bad_pairs_are_one_line_exit_2(tmp_path):
    a = save_model(random_mlp([3, 5, 2], seed=0), tmp_path / "a.onnx")
    b = save_model(random_mlp([3, 5, 2], seed=0, tail=["Softmax"]), tmp_path / "b.onnx")
    result = CliRunner().invoke(main, ["verify", str(a), str(b), "--formal"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "ops after the layers differ" in result.output


def test_the_pair_milp_names_both_networks_and_the_differences():
    from exactprune.equivalence.product import product
    from exactprune.solvers.pair import PairMILP

    f, g = bump_pair(2, seed=0)
    a, b = convert(f).network, convert(g).network
    prod = product(a, b, unit(2))
    pair = PairMILP(a, b, unit(2), prod.bounds_a, prod.bounds_b,
                    prod.phases(a, prod.bounds_a), prod.phases(b, prod.bounds_b),
                    prod.shared, prod.diff)
    names = {c.name for c in pair.model.getConss()}
    assert {"diff[0]", "diff[1]"} <= names
    assert any(n.startswith("a:affine[") for n in names)
    assert any(n.startswith("b:relu_ub[") for n in names)
    assert any(n.startswith("same_g[") for n in names)


def test_onnx_models_stay_valid():
    f, g = bump_pair(3)
    for model in (f, g):
        onnx.checker.check_model(model)


def test_the_milp_proves_what_the_bounds_cannot():
    """relu(x) - relu(-x) against x (through a stably active neuron): the difference's bounds
    cannot cancel two unstable neurons against a line, the MILP shows no input passes T."""
    a = dense_model([np.array([[1.0], [-1.0]]), np.array([[1.0, -1.0]])], [np.zeros(2), [0.0]])
    b = dense_model([np.array([[1.0]]), np.array([[1.0]])], [[2.0], [-2.0]])
    box = Box(-np.ones(1), np.ones(1), "box")
    report = prove_equivalence(a, b, box, FormalOptions(tol=1e-5, time_limit=30))
    assert report.equivalent is True and report.milp_sides >= 1
    assert "milp" in report.outputs[0].proven_by
    assert report.max_abs_bound <= 1e-5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.0, 1e-3, 0.3]),
       activation=st.sampled_from(["Relu", "LeakyRelu"]), compressed=st.booleans())
def test_the_difference_bounds_hold_on_samples(seed, scale, activation, compressed):
    """product().diff (product network, affine forms, intervals) contains every sampled
    difference, for compressions and perturbed copies, ReLU and LeakyReLU."""
    from exactprune.equivalence.product import product

    rng = np.random.default_rng(seed)
    widths = [3, 7, 7, 2]
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    biases = [rng.normal(size=b) * 0.5 for b in widths[1:]]
    a = dense_model(weights, biases, activation=activation)
    box = Box(-np.ones(3), np.ones(3), "box")
    if compressed:
        b = compress(a, box, time_limit=5).model
    else:
        weights = [w + scale * rng.normal(size=w.shape) for w in weights]
        b = dense_model(weights, biases, activation=activation)
    na, nb = convert(a).network, convert(b).network
    lo, up = product(na, nb, box).diff
    x = np.vstack([rng.uniform(-1, 1, size=(3000, 3)), np.eye(3), -np.eye(3)])
    d = na.forward(x) - nb.forward(x)
    assert np.all(d >= lo - 1e-12) and np.all(d <= up + 1e-12)


def test_the_same_weights_under_another_activation_are_not_one_neuron():
    # relu against leaky_relu(0.01) with equal weights: the forms of their neurons are equal,
    # their outputs are not (0.01 g where g < 0), so no atom may be shared
    rng = np.random.default_rng(8)
    weights = [rng.normal(size=(6, 3)), rng.normal(size=(2, 6))]
    biases = [rng.normal(size=6) * 0.3, np.zeros(2)]
    a = dense_model(weights, biases, "Relu")
    b = dense_model(weights, biases, "LeakyRelu")
    box = Box(-np.ones(3), np.ones(3), "box")
    x = rng.uniform(-1, 1, size=(4000, 3))
    sampled = np.abs(convert(a).network.forward(x) - convert(b).network.forward(x)).max()
    assert sampled > 1e-3
    report = prove_equivalence(a, b, box, FormalOptions(tol=1e-4, time_limit=20))
    assert report.equivalent is False


def _needle(out_weight: float, d: int = 20, downstream: bool = False):
    """A: a neuron g = 5e-6 - sum |x - c| (positive only near c in [0, 1]^d: a MILP calls it
    stable within FLIP_MARGIN), weighted out_weight; with `downstream`, a neuron
    m = relu(1e3 h - 1e-3) after it carries it instead. B drops that weight. A - B at c is
    large, and nothing but c's neighbourhood shows it."""
    c = np.random.default_rng(5).uniform(0.2, 0.8, d).astype(np.float32).astype(float)
    layers = [(np.vstack([np.eye(d), -np.eye(d)]), np.concatenate([-c, c])),
              (np.vstack([-np.ones((1, 2 * d)), np.ones((1, 2 * d))]), np.array([5e-6, 0.0]))]
    if downstream:
        layers.append((np.array([[1e3, 0.0], [0.0, 1.0]]), np.array([-1e-3, 0.0])))
    models = [dense_model([w for w, _ in layers] + [np.array([[weight, 1.0]])],
                          [b for _, b in layers] + [np.zeros(1)]) for weight in (out_weight, 0.0)]
    return models, c


@pytest.mark.parametrize("downstream", [False, True])
def test_what_a_milp_proved_within_its_margin_is_not_taken_as_exact(downstream):
    (a, b), c = _needle(1e5 if not downstream else 1e3, downstream=downstream)
    box = unit(c.size)
    diff = np.abs(convert(a).network.forward(c[None]) - convert(b).network.forward(c[None])).max()
    assert diff > 0.1
    milp = partial(analyse_stability, method="per-neuron")
    claims = milp(convert(a).network, box, time_limit=20).layers[1]
    assert claims.status[0] == INACTIVE and str(claims.evidence[0]) == "per-neuron"
    for analyse in (milp, None):
        report = prove_equivalence(a, b, box, FormalOptions(time_limit=60), analyse=analyse)
        assert report.equivalent is not True
    assert prove(a, b, box, FormalOptions(time_limit=60)).equivalent is False


def _tail_model(sub_inputs, shape):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Gemm", ["input", "W0", "b0"], ["g0"], transB=1),
             helper.make_node("Relu", ["g0"], ["h0"]),
             helper.make_node("Gemm", ["h0", "W1", "b1"], ["g1"], transB=1),
             helper.make_node("Reshape", ["g1", "shape"], ["r"]),
             helper.make_node("Softmax", ["r"], ["s"], axis=-1),
             helper.make_node("Reshape", ["s", "flat"], ["t"]),
             helper.make_node("Sub", sub_inputs, ["output"])]
    inits = [init("W0", rng.normal(size=(4, 3))), init("b0", rng.normal(size=4)),
             init("W1", rng.normal(size=(2, 4))), init("b1", rng.normal(size=2)),
             init("shape", np.array(shape, dtype=np.int64)),
             init("flat", np.array([-1, 2], dtype=np.int64)), init("c", [0.5, 0.5])]
    return make_model(nodes, [("input", ["N", 3])], [("output", ["N", 2])], inits)


def test_tails_must_agree_in_wiring_and_in_the_shape_they_read():
    a = _tail_model(["t", "c"], [-1, 1, 2])
    for other in (_tail_model(["c", "t"], [-1, 1, 2]), _tail_model(["t", "c"], [-1, 2, 1])):
        with pytest.raises(InvalidModelError, match="constants, wiring or input shape"):
            prove_equivalence(a, other, unit(3))
    assert prove_equivalence(a, _tail_model(["t", "c"], [-1, 1, 2]), unit(3)).equivalent

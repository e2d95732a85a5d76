"""Single stably inactive positions of a live conv channel: the Dense layer reading them loses
their columns (a Gather of the others in the written model when that is smaller), the report
counts them under "position", and the written model verifies in onnxruntime."""

import numpy as np
import pytest
from builders import conv_chain, rel_dev, run_ort
from onnx import numpy_helper

from exactprune import compress
from exactprune.domain import Box
from exactprune.equivalence import CheckOptions
from exactprune.ir import Dense
from exactprune.onnx_io import convert

SIDE, CENTER = 6, (2, 3)  # a 1 x 6 x 6 input; only the centre 2 x 2 pixels vary on the box


def planted(act: str = "Relu", n_out: int = 3, channels: int = 2, seed: int = 1):
    """Conv(channels, 3x3, pads 1) act -> Flatten -> Gemm(n_out); kernels > 0.3, bias -0.25: a
    position whose window misses the centre sees only zeros (stably inactive), the others are
    unstable on the box."""
    ops = [("Conv", {"out": channels, "k": 3, "pads": [1, 1, 1, 1]}), (act, {})]
    model = conv_chain(ops, in_shape=(1, SIDE, SIDE), n_out=n_out, seed=seed)
    inits = {t.name: t for t in model.graph.initializer}
    kernel = np.abs(numpy_helper.to_array(inits["K0"])) + 0.3
    inits["K0"].CopyFrom(numpy_helper.from_array(kernel.astype(np.float32), "K0"))
    inits["B0"].CopyFrom(numpy_helper.from_array(np.full(channels, -0.25, np.float32), "B0"))
    return model


def centre_box() -> Box:
    up = np.zeros((SIDE, SIDE))
    up[CENTER[0]:CENTER[1] + 1, CENTER[0]:CENTER[1] + 1] = 1.0
    return Box(np.zeros(SIDE * SIDE), up.reshape(-1), "centre 2x2 in [0, 1]")


def inactive_positions(channels: int) -> list[int]:
    """Flat (C, H, W) indices of the positions whose 3x3 window misses the centre."""
    near = range(CENTER[0] - 1, CENTER[1] + 2)
    return [c * SIDE * SIDE + r * SIDE + q for c in range(channels) for r in range(SIDE)
            for q in range(SIDE) if r not in near or q not in near]


def samples(box: Box, n: int = 200) -> np.ndarray:
    x = np.random.default_rng(0).uniform(box.lo, box.hi, size=(n, box.lo.size))
    return x.reshape(n, 1, SIDE, SIDE).astype(np.float32)


def test_inactive_positions_lose_their_columns_through_a_gather():
    model, box = planted(), centre_box()
    result = compress(model, box, check=CheckOptions(samples=200))
    assert result.report.verified
    dense = result.network.layers[-1]
    assert isinstance(dense, Dense)
    gone = inactive_positions(2)
    kept = sorted(set(range(2 * SIDE * SIDE)) - set(gone))
    assert dense.columns == tuple(kept)
    assert not dense.weight[:, gone].any() and dense.weight[:, kept].all()
    actions = result.fixpoint.actions
    assert {a.rule for a in actions} == {"position"}
    assert sorted(n for a in actions for n in a.neurons) == gone
    assert result.report.by_rule["position"] == {"neurons": len(gone), "params": 3 * len(gone)}
    graph = result.model.graph
    assert [n.op_type for n in graph.node].count("Gather") == 1
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    assert weights[gemm.input[1]].shape == (3, len(kept))
    assert result.report.params_after == result.report.params_before - 3 * len(gone)
    assert result.report.macs_after == result.report.macs_before - 3 * len(gone)
    x = samples(box)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) < 1e-6


def test_no_gather_when_it_is_not_smaller():
    """One output: 20 dropped weights (80 bytes) against 16 kept indices (128 bytes)."""
    model, box = planted(n_out=1, channels=1), centre_box()
    result = compress(model, box, check=CheckOptions(samples=200))
    assert result.report.verified
    dense = result.network.layers[-1]
    assert dense.columns is None and dense.n_in == SIDE * SIDE
    assert not dense.weight[:, inactive_positions(1)].any()
    assert result.report.by_rule["position"] == {"neurons": 20, "params": 0}
    assert "Gather" not in [n.op_type for n in result.model.graph.node]


def test_leaky_positions_stay():
    """A stably inactive LeakyReLU position is alpha * g, not 0."""
    model, box = planted(act="LeakyRelu"), centre_box()
    result = compress(model, box, check=CheckOptions(samples=200))
    assert result.report.verified
    assert "position" not in result.report.by_rule
    assert result.network.layers[-1].columns is None


def random_net(seed: int):
    """A random conv -> [average or max pool, or conv] -> dense net on a random box with some pixels fixed
    at 0 (so some positions see only zeros and a bias)."""
    rng = np.random.default_rng(seed)
    ops = [("Conv", {"out": int(rng.integers(2, 4)), "k": 3, "pads": [1, 1, 1, 1]}), ("Relu", {})]
    extra = rng.integers(4)
    if extra == 1:
        ops += [("AveragePool", {"kernel_shape": [2, 2]})]
    elif extra == 3:
        ops += [("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]})]
    elif extra == 2:
        ops += [("Conv", {"out": 2, "k": 2}), ("Relu", {})]
    model = conv_chain(ops, in_shape=(1, SIDE, SIDE), n_out=int(rng.integers(2, 6)), seed=seed)
    inits = {t.name: t for t in model.graph.initializer}
    bias = numpy_helper.to_array(inits["B0"]) - 0.5
    inits["B0"].CopyFrom(numpy_helper.from_array(bias.astype(np.float32), "B0"))
    lo = rng.uniform(-1, 0, SIDE * SIDE)
    up = lo + rng.uniform(0, 1, SIDE * SIDE)
    fixed = rng.uniform(size=SIDE * SIDE) < 0.6
    lo[fixed], up[fixed] = 0.0, 0.0
    return model, Box(lo, up, f"random {seed}")


@pytest.mark.parametrize("seed", range(10))
def test_random_conv_dense_nets_keep_their_outputs(seed):
    model, box = random_net(seed)  # a short analysis: the undecided neurons stay (exact)
    result = compress(model, box, check=CheckOptions(samples=200), time_limit=3)
    assert result.report.verified
    x = np.random.default_rng(seed).uniform(box.lo, box.hi, size=(300, box.lo.size))
    x = x.reshape(300, 1, SIDE, SIDE).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) < 1e-5
    dense = result.network.layers[-1]
    if dense.columns is not None:
        assert dense.n_params == dense.n_out * (len(dense.columns) + 1)


def test_the_written_model_reads_back_and_compresses_to_the_same_size():
    model, box = planted(), centre_box()
    first = compress(model, box, check=CheckOptions(samples=100), prove=True)
    assert first.report.proof["equivalent"]  # the written model (a Gather in it) read back
    again = convert(first.model)
    x = samples(box)
    flat = x.reshape(len(x), -1).astype(np.float64)
    assert rel_dev(run_ort(model, x), again.network.forward(flat)) < 1e-6
    second = compress(first.model, box, check=CheckOptions(samples=100))
    assert second.report.verified
    assert second.network.layers[-1].columns == first.network.layers[-1].columns
    assert second.report.params_after == first.report.params_after

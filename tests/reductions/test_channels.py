"""Channel reductions: a conv model with planted dead channels loses exactly those channels
(and the next layers' inputs of them), nothing else, and verifies in onnxruntime."""

import numpy as np
import pytest
from builders import conv_chain, rel_dev, run_ort
from onnx import numpy_helper

from exactprune import compress
from exactprune.domain import Box
from exactprune.equivalence import CheckOptions
from exactprune.ir import Conv2d
from exactprune.onnx_io import convert

DEAD = {0: [1, 4], 3: [2]}  # node index in the chain -> planted dead channels


def planted(next_op: str):
    """Conv(6) Relu [next_op] Conv(5) Relu -> Gemm on [0, 1]^(2x7x7); channels DEAD get
    non-positive kernels and a bias of -1 (dead on the box); the others a bias of +5 and
    positive kernels (active)."""
    ops = [("Conv", {"out": 6, "k": 3}), ("Relu", {})]
    ops += [(next_op, {"kernel_shape": [2, 2]})] if next_op else [("Identity", {})]
    ops += [("Conv", {"out": 5, "k": 2}), ("Relu", {})]
    model = conv_chain(ops, seed=3)
    inits = {t.name: t for t in model.graph.initializer}
    for node, dead in DEAD.items():
        kernel = np.abs(numpy_helper.to_array(inits[f"K{node}"]))
        bias = np.full(kernel.shape[0], 5.0, np.float32)
        kernel[dead], bias[dead] = -kernel[dead], -1.0
        inits[f"K{node}"].CopyFrom(numpy_helper.from_array(kernel, f"K{node}"))
        inits[f"B{node}"].CopyFrom(numpy_helper.from_array(bias, f"B{node}"))
    return model


@pytest.mark.parametrize("next_op", ["", "AveragePool", "MaxPool"])
def test_planted_dead_channels_go_and_nothing_else(next_op):
    model = planted(next_op)
    box = Box(np.zeros(98), np.ones(98), "--box 0 1")
    result = compress(model, box, check=CheckOptions(samples=200))
    assert result.report.verified
    convs = [layer for layer in result.network.layers if isinstance(layer, Conv2d)
             and not layer.pool]
    before = [layer for layer in convert(model).network.layers if isinstance(layer, Conv2d)
              and not layer.pool]
    for old, new, dead in zip(before, convs, DEAD.values()):
        assert new.out_shape[0] == old.out_shape[0] - len(dead)
        kept = [c for c in range(old.out_shape[0]) if c not in dead]
        assert np.array_equal(new.channel_bias, old.channel_bias[kept])
    assert {a.rule for a in result.fixpoint.actions} == {"channel"}
    x = np.random.default_rng(0).uniform(size=(50, 2, 7, 7)).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) < 1e-5
    ops = [node.op_type for node in result.model.graph.node]
    assert ops.count("AveragePool") == (next_op == "AveragePool")
    assert ops.count("MaxPool") == (next_op == "MaxPool")  # one node, not its tournament
    assert ops.count("Conv") == 2

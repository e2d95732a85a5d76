"""MaxPool export: a tournament that is still whole is written back as one MaxPool node with the
original's attributes (no Conv stages), also after compress and with a dead channel before it;
one that an op after the pool edited is written as its Conv stages; both agree with
onnxruntime. The report counts a MaxPool's window values as its multiply-adds."""

import numpy as np
import pytest
from builders import conv_chain, rel_dev, run_ort
from onnx import numpy_helper

from exactprune import compress
from exactprune.domain import Box
from exactprune.equivalence import CheckOptions
from exactprune.ir import Conv2d
from exactprune.onnx_io import convert, to_onnx

CONV = ("Conv", {"out": 4, "k": 2})
POOLS = {
    "2x2": {"kernel_shape": [2, 2], "strides": [2, 2]},
    "3x3_pads": {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    "dilated": {"kernel_shape": [2, 3], "dilations": [2, 1]},
    "same_upper": {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    "ceil_mode": {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},  # 6x6: no window
}
AFTER = {"flatten": [], "relu": [("Relu", {})], "conv": [("Conv", {"out": 2, "k": 2}),
                                                           ("Relu", {})]}


def _ops(pool: str, after: str = "flatten", pad: bool = False):
    ops = [CONV, ("Relu", {})]
    ops += [("Pad", {"pads": [0, 0, 1, 0, 0, 0, 0, 1]})] if pad else []
    return ops + [("MaxPool", POOLS[pool])] + AFTER[after]


def _sample(model, n: int = 6) -> np.ndarray:
    shape = [int(d.dim_value) or n for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(1).normal(size=[n] + shape[1:]).astype(np.float32)


def _maxpools(model) -> list:
    return [node for node in model.graph.node if node.op_type == "MaxPool"]


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("after", sorted(AFTER))
def test_whole_tournament_is_written_as_the_maxpool(pool, after):
    model = conv_chain(_ops(pool, after), seed=len(pool) + len(after))
    loaded = convert(model)
    written = to_onnx(loaded.network, interface=loaded.interface)
    ops = [node.op_type for node in written.graph.node]
    assert ops.count("MaxPool") == 1
    assert ops.count("Conv") == 1 + (after == "conv")  # no tournament stages
    (node,) = _maxpools(written)
    defaults = {"strides": [1, 1], "dilations": [1, 1], "ceil_mode": 0}
    attrs, original = ({**defaults, **{a.name: list(a.ints) or a.i for a in n.attribute}}
                       for n in (node, _maxpools(model)[0]))
    for key in ("kernel_shape", "strides", "dilations", "ceil_mode"):
        assert attrs[key] == original[key]
    x = _sample(model)
    assert rel_dev(run_ort(model, x), run_ort(written, x)) < 1e-5


def test_a_zero_pad_before_the_pool_joins_its_pads():
    model = conv_chain(_ops("3x3_pads", pad=True), seed=2)
    loaded = convert(model)
    written = to_onnx(loaded.network, interface=loaded.interface)
    (node,) = _maxpools(written)
    assert [list(a.ints) for a in node.attribute if a.name == "pads"] == [[2, 1, 1, 2]]
    x = _sample(model)
    assert rel_dev(run_ort(model, x), run_ort(written, x)) < 1e-5


def test_an_edited_last_stage_is_written_as_conv_stages():
    """A BatchNormalization after the pool scales its last stage: no MaxPool can be written."""
    model = conv_chain(_ops("2x2") + [("BatchNormalization", {})], seed=4)
    loaded = convert(model)
    written = to_onnx(loaded.network, interface=loaded.interface)
    assert not _maxpools(written)
    assert [node.op_type for node in written.graph.node].count("Conv") == 4
    x = _sample(model)
    assert rel_dev(run_ort(model, x), run_ort(written, x)) < 1e-5


def _planted(pool: str, dead: int = 1):
    """Conv(4) Relu MaxPool -> Gemm; channel `dead` non-positive with bias -1 on [0, 1]^n."""
    model = conv_chain(_ops(pool), seed=5)
    k, b = (next(t for t in model.graph.initializer if t.name == n) for n in ("K0", "B0"))
    kernel = np.abs(numpy_helper.to_array(k))
    bias = np.full(kernel.shape[0], 0.5, np.float32)
    kernel[dead], bias[dead] = -kernel[dead], -1.0
    k.CopyFrom(numpy_helper.from_array(kernel, "K0"))
    b.CopyFrom(numpy_helper.from_array(bias, "B0"))
    return model


@pytest.mark.parametrize("pool", ["2x2", "3x3_pads", "dilated"])
def test_compress_keeps_one_maxpool_of_the_live_channels(pool):
    model = _planted(pool)
    n = int(np.prod([d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]))
    result = compress(model, Box(np.zeros(n), np.ones(n), "--box 0 1"),
                      check=CheckOptions(samples=200))
    assert result.report.verified
    assert {a.rule for a in result.fixpoint.actions} == {"channel"}
    ops = [node.op_type for node in result.model.graph.node]
    assert ops.count("MaxPool") == 1 and ops.count("Conv") == 1
    first = next(layer for layer in result.network.layers if isinstance(layer, Conv2d))
    assert first.out_shape[0] == 3
    x = np.random.default_rng(0).uniform(size=(50, 2, 7, 7)).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) < 1e-5
    stages = [layer for layer in result.network.layers
              if isinstance(layer, Conv2d) and layer.maxpool is not None]
    compared = 3 * stages[0].positions * int(np.prod(POOLS[pool]["kernel_shape"]))
    assert sum(layer.n_macs for layer in stages) == compared  # a window value per output
    assert result.report.macs_after == (first.n_macs + compared
                                        + result.network.layers[-1].n_macs)


@pytest.mark.parametrize("opset", [7, 9, 11])
def test_older_opsets_get_the_maxpool_they_had(opset):
    model = conv_chain(_ops("3x3_pads", "conv"), seed=3, opset=opset)
    loaded = convert(model)
    written = to_onnx(loaded.network, interface=loaded.interface)
    assert len(_maxpools(written)) == 1
    x = _sample(model)
    assert rel_dev(run_ort(model, x), run_ort(written, x)) < 1e-5

"""Constant channels: a conv channel with an all-zero kernel is folded into the bias of the layer
that reads it (through pools), exactly on all inputs, unless the reader's zero padding makes its
contribution position-dependent; the written model verifies in onnxruntime."""

import numpy as np
import pytest
from builders import conv_chain, rel_dev, run_ort
from onnx import numpy_helper

from exactprune import compress
from exactprune.domain import Box
from exactprune.equivalence import CheckOptions
from exactprune.ir import Conv2d
from exactprune.onnx_io import convert
from exactprune.reductions import reduce_data_free

CONSTANT = {2: 0.7, 4: -0.4}  # channel -> bias of a zero kernel: relu(0.7), relu(-0.4) = 0
READERS = {  # what follows Conv(6) Relu -> the channels of the first conv kept
    "dense": ([], 4),
    "conv": ([("Conv", {"out": 5, "k": 2}), ("Relu", {})], 4),
    "conv_pads": ([("Conv", {"out": 5, "k": 2, "pads": [1, 1, 1, 1]}), ("Relu", {})], 5),
    "avgpool_conv": ([("AveragePool", {"kernel_shape": [2, 2]}), ("Conv", {"out": 5, "k": 2}),
                      ("Relu", {})], 4),
    "maxpool_dense": ([("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]})], 4),
}


def planted(reader: str):
    """Conv(6) Relu [reader] -> Gemm on (2, 7, 7): channels CONSTANT have zero kernels, the
    others positive kernels and a bias of 5 (active on [0, 1])."""
    model = conv_chain([("Conv", {"out": 6, "k": 3}), ("Relu", {})] + READERS[reader][0], seed=7)
    k, b = (next(t for t in model.graph.initializer if t.name == n) for n in ("K0", "B0"))
    kernel = np.abs(numpy_helper.to_array(k))
    bias = np.full(kernel.shape[0], 5.0, np.float32)
    for channel, value in CONSTANT.items():
        kernel[channel], bias[channel] = 0.0, value
    k.CopyFrom(numpy_helper.from_array(kernel, "K0"))
    b.CopyFrom(numpy_helper.from_array(bias, "B0"))
    return model


@pytest.mark.parametrize("reader", sorted(READERS))
def test_constant_channels_fold_into_the_reader_exactly(reader):
    network = convert(planted(reader)).network
    reduced, actions = reduce_data_free(network)
    kept = READERS[reader][1]
    assert reduced.layers[0].out_shape[0] == kept
    constant = [a for a in actions if a.rule == "constant"]
    assert sum(len(a.neurons) for a in constant) == (6 - kept) * network.layers[0].positions
    x = np.random.default_rng(0).normal(size=(20, network.n_inputs)) * 3
    assert np.abs(network.forward(x) - reduced.forward(x)).max() < 1e-9


@pytest.mark.parametrize("reader", ["conv", "conv_pads", "maxpool_dense"])
def test_compress_writes_the_folded_model_and_verifies(reader):
    model = planted(reader)
    result = compress(model, Box(np.zeros(98), np.ones(98), "--box 0 1"),
                      check=CheckOptions(samples=200))
    assert result.report.verified
    first = next(layer for layer in result.network.layers if isinstance(layer, Conv2d))
    assert first.out_shape[0] == READERS[reader][1]
    x = np.random.default_rng(0).uniform(size=(50, 2, 7, 7)).astype(np.float32)
    assert rel_dev(run_ort(model, x), run_ort(result.model, x)) < 1e-5
    ops = [node.op_type for node in result.model.graph.node]
    assert ops.count("MaxPool") == (reader == "maxpool_dense")

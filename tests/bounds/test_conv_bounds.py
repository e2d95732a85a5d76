"""Soundness on conv networks: interval and symbolic bounds contain the pre-activations of
sampled inputs, and every phase the stability analysis proves (each method that runs on conv
models) holds on them. Fixed-seed random chains and boxes."""

import numpy as np
import pytest
from builders import conv_chain

from exactprune.bounds import interval_bounds, symbolic_bounds
from exactprune.domain import Box
from exactprune.ir import ACTIVE, INACTIVE
from exactprune.onnx_io import convert
from exactprune.stability import analyse_stability

CHAINS = [
    [("Conv", {"out": 4, "k": 3, "strides": [2, 2], "pads": [1, 1, 1, 1]}), ("Relu", {}),
     ("MaxPool", {"kernel_shape": [2, 2]}), ("Conv", {"out": 3, "k": 2}), ("Relu", {})],
    [("Conv", {"out": 4, "k": 2, "group": 2}), ("Relu", {}),
     ("AveragePool", {"kernel_shape": [2, 2]}), ("Conv", {"out": 3, "k": 2, "dilations": [2, 1]}),
     ("Relu", {})],
]


@pytest.mark.parametrize("chain", range(len(CHAINS)))
@pytest.mark.parametrize("method, seed", [("bounds", 0), ("bounds", 1), ("milp", 0),
                                          ("per-neuron", 1), ("auto", 2)])
def test_bounds_and_proven_phases_hold_on_samples(seed, chain, method):
    network = convert(conv_chain(CHAINS[chain], seed=seed)).network
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-1, 1, network.n_inputs)
    width = rng.uniform(0.01, 0.3)
    box = Box(centre - width, centre + width)
    x = np.vstack([rng.uniform(box.lo, box.hi, (400, box.size)),
                   np.where(rng.uniform(size=(100, box.size)) < 0.5, box.lo, box.hi)])
    g = network.preactivations(x)
    for bounds in (interval_bounds(network, box), symbolic_bounds(network, box)):
        for (lo, up), gk in zip(bounds, g):
            assert (gk >= lo).all() and (gk <= up).all()
    result = analyse_stability(network, box, method=method, time_limit=5)
    for k, status in result.status_by_layer().items():
        assert (g[k][:, status == ACTIVE] >= 0).all()
        assert (g[k][:, status == INACTIVE] <= 0).all()
    assert sum(s.size for s in result.status_by_layer().values()) > 0

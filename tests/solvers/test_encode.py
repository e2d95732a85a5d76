"""encode_network: a network added to a model the caller owns, over input variables the caller
passes; two networks can share one input (what a formal equivalence check needs)."""

from __future__ import annotations

import numpy as np
import pytest
from builders import planted

from exactprune.bounds import symbolic_bounds
from exactprune.ir import Dense, Network
from exactprune.solvers.encode import encode_network
from exactprune.solvers.scip import Status, new_model, solve


def phases_of(network: Network) -> list:
    return [np.full(layer.n_out, 2, np.int8) if layer.activation.two_phase else None
            for layer in network.layers]


def max_difference(a: Network, b: Network, box, output: int = 0) -> float:
    """max over the box of a(x)[output] - b(x)[output], both encoded over one x."""
    model = new_model("difference")
    x = [model.addVar(f"x[{i}]", lb=box.lo[i], ub=box.hi[i]) for i in range(box.size)]
    last = len(a.layers) - 1
    ea = encode_network(model, x, a, symbolic_bounds(a, box), phases_of(a), last, prefix="a.")
    eb = encode_network(model, x, b, symbolic_bounds(b, box), phases_of(b), last, prefix="b.")
    model.setObjective(ea.h[output] - eb.h[output], "maximize")
    assert solve(model) is Status.OPTIMAL
    names = {v.name for v in model.getVars()}
    assert f"a.g[l={last},j={output}]" in names and f"b.g[l={last},j={output}]" in names
    return model.getObjVal()


def test_a_network_against_itself_differs_by_nothing():
    net, box, _ = planted(4, seed=3)
    assert max_difference(net, net, box) == pytest.approx(0.0, abs=1e-6)


def test_the_difference_of_two_networks_is_found():
    net, box, _ = planted(4, seed=3)
    out = net.layers[-1]
    shifted = net.replace(layers=net.layers[:-1] + (Dense(out.weight, out.bias - 0.25,
                                                          out.activation),))
    assert max_difference(net, shifted, box) == pytest.approx(0.25, abs=1e-6)
    x = np.random.default_rng(0).uniform(box.lo, box.hi, size=(2000, box.size))
    sampled = (net.forward(x) - shifted.forward(x))[:, 0].max()
    assert sampled <= max_difference(net, shifted, box) + 1e-6

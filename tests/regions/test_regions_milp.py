"""SCIP's region count (exactprune.regions.count_milp) against the exact enumeration."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from exactprune.bounds import symbolic_bounds
from exactprune.domain import Box
from exactprune.ir import Activation, Dense, InputMap, Network
from exactprune.regions import count_milp, count_regions, count_regions_milp, flat_states, sample_regions

BOXES = [(0.0, 1.0), (-1.0, 1.0), (-5.0, 5.0), (1.0, 3.0)]
FACTORS = [2.0, 0.5, 3.0, 1.0, -1.0, -2.0, -0.5]  # planted rows: positive and negative multiples


def degenerate_net(seed: int) -> tuple[Network, Box]:
    """A small random network with what makes arrangements degenerate: small integer weights
    (many hyperplanes through one point, neurons that are identically zero on a region), rows
    planted as multiples of other rows, zero rows, leaky layers, deeper and narrower nets."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 5))
    depth = int(rng.integers(1, 5))
    widths = [int(rng.integers(2, 9 if depth <= 3 else 4)) for _ in range(depth)]
    integer, planted = rng.random() < 0.5, rng.random() < 0.6
    activation = "leaky_relu" if rng.random() < 0.1 else "relu"
    layers, n_in = [], d
    for n in widths:
        if integer:
            w = rng.integers(-2, 3, size=(n, n_in)).astype(float)
            b = rng.integers(-2, 3, size=n).astype(float)
        else:
            w, b = rng.normal(size=(n, n_in)), rng.normal(size=n) * 0.5
        for _ in range(int(rng.integers(1, 3)) if planted and n >= 2 else 0):
            src, dst = rng.choice(n, 2, replace=False)
            factor = float(rng.choice(FACTORS))
            w[dst], b[dst] = factor * w[src], factor * b[src]
        if rng.random() < 0.2:
            j = int(rng.integers(n))
            w[j] = 0.0
            if rng.random() < 0.5:
                b[j] = 0.0
        if not layers and not w.any():
            w[0, 0] = 1.0  # the first layer reads at least one input
        layers.append(Dense(w, b, Activation(activation, 0.1 if activation == "leaky_relu" else 0.0)))
        n_in = n
    layers.append(Dense(rng.normal(size=(1, n_in)), np.zeros(1), activation="identity"))
    if rng.random() < 0.6:
        lo, hi = BOXES[int(rng.integers(len(BOXES)))]
        box = Box(np.full(d, lo), np.full(d, hi))
    else:  # asymmetric: every input its own interval
        lo = rng.uniform(-4.0, 2.0, size=d)
        box = Box(lo, lo + rng.uniform(0.3, 4.0, size=d))
    return Network(tuple(layers), InputMap.identity(d)), box


def test_scip_count_equals_the_enumeration_on_degenerate_random_networks():
    both_exact, mismatches = 0, []
    for seed in range(200):
        net, box = degenerate_net(seed)
        exact, milp = count_regions(net, box), count_regions_milp(net, box)
        seen = sample_regions(net, box, samples=2000).regions  # patterns seen: a lower bound
        assert milp.verified, (seed, milp.note)
        assert milp.exact == (milp.note == "every neuron is stable on the box: one region")
        assert milp.regions >= seen, (seed, milp.regions, seen)
        if exact.exact:
            both_exact += 1
            if milp.regions != exact.regions:
                mismatches.append((seed, exact.regions, milp.regions))
    assert not mismatches, mismatches
    assert both_exact >= 190


def test_all_stable_network_is_one_region_without_scip_count():
    # every neuron active on [1, 3]^2 (positive weights and biases); run in a subprocess so a
    # crash of SCIP's count (it used to segfault here) fails the test instead of the session
    code = textwrap.dedent("""
        import numpy as np
        from exactprune.domain import Box
        from exactprune.ir import Dense, InputMap, Network
        from exactprune.regions import count_regions_milp
        net = Network((Dense(np.array([[1.0, 2.0], [0.5, 1.0]]), np.array([1.0, 0.0])),
                       Dense(np.array([[1.0, 1.0]]), np.array([0.5])),
                       Dense(np.array([[1.0]]), np.zeros(1), activation="identity")), InputMap.identity(2))
        r = count_regions_milp(net, Box(np.ones(2), 3 * np.ones(2)))
        print(r.regions, r.exact, r.note)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    regions, exact, note = out.stdout.split(maxsplit=2)
    assert (regions, exact) == ("1", "True") and "stable" in note


def test_zero_neuron_left_undecided_by_rounded_bounds_is_flat():
    # g0 = x0 - x1 with x0 = x1 = 2 fixed: identically 0, but its bounds are rounded out
    # (+-4e-9), so it gets a binary; SCIP's presolving used to remove that last binary and crash,
    # and the strict margin made it count 0 (an all-zero row has bounds exactly 0 instead)
    net = Network((Dense(np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]), np.array([0.0, 0.0])),
                   Dense(np.array([[1.0, 1.0]]), np.zeros(1), activation="identity")), InputMap.identity(3))
    box = Box(np.array([2.0, 2.0, 1.0]), np.array([2.0, 2.0, 3.0]))
    lo, up = symbolic_bounds(net, box)[0]
    assert lo[0] < 0.0 < up[0]
    result = count_regions_milp(net, box)
    assert result.verified and result.regions == 1 == count_regions(net, box).regions


def flat_net() -> Network:
    """On [-1, 1]: g = -relu(x) + 3 relu(x - 0.5) is identically 0 for x < 0, negative up to 0.75,
    positive after: 4 regions, one of them with the layer-1 neuron flat (inactive)."""
    return Network((Dense(np.array([[1.0], [1.0]]), np.array([0.0, -0.5])),
                    Dense(np.array([[-1.0, 3.0]]), np.zeros(1)),
                    Dense(np.array([[1.0]]), np.zeros(1), activation="identity")), InputMap.identity(1))


def test_neuron_identically_zero_on_a_region():
    net, box = flat_net(), Box(-np.ones(1), np.ones(1))
    exact, milp = count_regions(net, box), count_regions_milp(net, box)
    assert exact.exact and milp.verified and milp.regions == exact.regions == 4


def test_time_limit_gives_a_lower_bound_with_a_note():
    rng = np.random.default_rng(3)
    layers = (Dense(rng.normal(size=(16, 2)), rng.normal(size=16) * 0.5),
              Dense(rng.normal(size=(16, 16)), rng.normal(size=16) * 0.5),
              Dense(rng.normal(size=(1, 16)), np.zeros(1), activation="identity"))
    net, box = Network(layers, InputMap.identity(2)), Box(-np.ones(2), np.ones(2))
    cut = count_regions_milp(net, box, time_limit=0.0)
    assert not cut.exact and "lower bound" in cut.note
    assert cut.regions <= count_regions(net, box).regions


@pytest.mark.parametrize("name", ["margin_on[l=0,j=1]", "margin_off[l=1,j=0]", "flat_g_up[l=1,j=0]",
                                  "flat_grad_lo[l=1,j=0,t=0]"])
def test_constraint_names_are_readable(name):
    net, box = flat_net(), Box(-np.ones(1), np.ones(1))
    bounds = symbolic_bounds(net, box)
    phases = count_milp.bound_phases(net, bounds)
    milp, _ = count_milp.pattern_model(net, box, bounds, phases, 1, count_milp.COUNT_EPS,
                                       flat_states.can_be_flat(net, box, phases, 1))
    assert name in {c.name for c in milp.model.getConss()}

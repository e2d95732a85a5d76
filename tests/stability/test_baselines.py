"""The per-neuron-parts baseline: the check that completes on ACAS Xu prop_1/2 must classify
planted networks exactly, also when it bisects cells."""

from __future__ import annotations

import numpy as np
from builders import planted

from exactprune.ir import ACTIVE, INACTIVE
from exactprune.stability.baselines import per_neuron_on_parts


def test_parts_baseline_finds_planted_answers():
    net, box, want = planted(3, seed=4)
    result = per_neuron_on_parts(net, box, 2, 60.0, time_limit=60.0)
    assert result.complete
    for layer, expected in zip(result.layers, want):
        np.testing.assert_array_equal(layer.status, expected)


def test_parts_baseline_out_of_time_calls_nothing_stable():
    """0 s per cell: no MILP answers, cells bisect until the deadline; cells left unanalysed
    mean that no neuron may be called stable."""
    net, box, _ = planted(3, seed=4)
    result = per_neuron_on_parts(net, box, 1, 0.0, time_limit=1.0)
    assert not result.complete
    for layer in result.layers:
        assert not np.isin(layer.status, (ACTIVE, INACTIVE)).any()

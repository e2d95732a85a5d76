"""The per-neuron-parts baseline of bench/stability.py: the check that completes on ACAS Xu
prop_1/2 must classify planted networks exactly, also when it bisects cells."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from exactprune.stability_result import ACTIVE, INACTIVE
from builders import planted

BENCH = Path(__file__).resolve().parents[1] / "bench" / "stability.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_stability", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parts_baseline_finds_planted_answers(bench):
    net, box, want = planted(3, seed=4)
    result = bench.per_neuron_on_parts(net, box, 2, 60.0, time_limit=60.0, threads=1)
    assert result.complete
    for layer, expected in zip(result.layers, want):
        np.testing.assert_array_equal(layer.status, expected)


def test_parts_baseline_out_of_time_calls_nothing_stable(bench):
    """0 s per cell: no MILP answers, cells bisect until the deadline; cells left unanalysed
    mean that no neuron may be called stable."""
    net, box, _ = planted(3, seed=4)
    result = bench.per_neuron_on_parts(net, box, 1, 0.0, time_limit=1.0, threads=1)
    assert not result.complete
    for layer in result.layers:
        assert not np.isin(layer.status, (ACTIVE, INACTIVE)).any()

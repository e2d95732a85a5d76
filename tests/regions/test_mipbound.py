"""regions --method mipbound (exactprune.regions.mipbound) against exact counts."""

from __future__ import annotations

import numpy as np
import pytest

from exactprune.domain import Box
from exactprune.ir import Dense, InputMap, Network
from exactprune.regions import count_regions, mip_bound


def random_net(seed: int) -> tuple[Network, Box]:
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    widths = [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 3)))]
    layers, n_in = [], d
    for n in widths:
        layers.append(Dense(rng.normal(size=(n, n_in)), rng.normal(size=n) * 0.5))
        n_in = n
    layers.append(Dense(rng.normal(size=(2, n_in)), np.zeros(2), "identity"))
    return Network(tuple(layers), InputMap.identity(d)), Box(-np.ones(d), np.ones(d), "box")


@pytest.mark.parametrize("seed", range(20))
def test_the_bound_is_never_above_the_exact_count(seed):
    network, box = random_net(seed)
    exact = count_regions(network, box)
    assert exact.exact
    bound = mip_bound(network, box, trials=6, confidence=0.999, seed=seed)
    assert 1 <= bound.regions <= exact.regions
    assert not bound.exact and "with probability >= 0.999" in bound.note


def test_the_bound_grows_with_the_count():
    network, box = random_net(3)
    wide = Network((Dense(np.random.default_rng(0).normal(size=(12, 2)), np.zeros(12)),
                    Dense(np.ones((1, 12)), np.zeros(1), "identity")), InputMap.identity(2))
    assert mip_bound(wide, Box(-np.ones(2), np.ones(2), "box"), trials=4).regions > 8


def test_regions_cli_method_mipbound(tiny_model):
    import json

    from click.testing import CliRunner

    from exactprune.cli import main

    result = CliRunner().invoke(main, ["regions", str(tiny_model), "--method", "mipbound",
                                       "--trials", "4", "--confidence", "0.99", "--json", "-"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["method"] == "mipbound" and not document["exact"]
    assert 1 <= document["regions"] <= 114  # the count of tiny_2d by enumeration (README)
    assert "with probability >= 0.99" in document["note"]

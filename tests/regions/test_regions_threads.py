"""count_regions(..., workers=N): the cells after the first layer counted in worker processes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from builders import wide_net
from click.testing import CliRunner

from exactprune.cli import main
from exactprune.domain import Box
from exactprune.onnx_io import save
from exactprune.regions import count_regions
from exactprune.regions.enumerate import LPEnumerator


@pytest.mark.parametrize("seed,widths", [(11, (4, 5)), (12, (3, 4, 3))])
def test_workers_give_the_same_exact_count(seed, widths):
    net = wide_net(12, widths, np.random.default_rng(seed))
    box = Box(np.zeros(12), np.ones(12))
    one = count_regions(net, box, path="lp")
    two = count_regions(net, box, path="lp", workers=2)
    assert one.exact and two.exact and two.verified
    assert two.regions == one.regions > len(widths)
    assert two.cells_per_layer == one.cells_per_layer
    assert two.lps > 0


def test_a_dead_worker_makes_a_lower_bound(monkeypatch, tmp_path):
    net = wide_net(12, (4, 5), np.random.default_rng(11))
    box = Box(np.zeros(12), np.ones(12))
    exact = count_regions(net, box, path="lp")
    original, parent, marker = LPEnumerator.count_cells, os.getpid(), str(tmp_path / "died")

    def dying(self, cells):
        if os.getpid() != parent:
            try:  # the first chunk a worker takes ends its process
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                os._exit(3)
            except FileExistsError:
                pass
        return original(self, cells)

    monkeypatch.setattr(LPEnumerator, "count_cells", dying)
    cut = count_regions(net, box, path="lp", workers=2)
    assert os.path.exists(marker)
    assert not cut.exact
    assert "worker process" in cut.note
    assert 1 <= cut.regions < exact.regions


def test_cli_workers_option(tmp_path):
    net = wide_net(12, (4, 5), np.random.default_rng(11))
    model = tmp_path / "wide.onnx"
    save(net, str(model))
    runner = CliRunner()
    args = ["regions", str(model), "--box", "0", "1", "--json"]
    one = runner.invoke(main, [*args, str(tmp_path / "one.json")])
    two = runner.invoke(main, [*args, str(tmp_path / "two.json"), "--workers", "2"])
    old = runner.invoke(main, [*args, str(tmp_path / "old.json"), "--threads", "2"])
    assert one.exit_code == 0 and two.exit_code == 0 and old.exit_code == 0, two.output

    a, b, c = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two", "old"))
    assert a["regions"] == b["regions"] == c["regions"] and a["exact"] and b["exact"]
    bad = runner.invoke(main, [*args, str(tmp_path / "x.json"), "--workers", "0"])
    assert bad.exit_code == 2

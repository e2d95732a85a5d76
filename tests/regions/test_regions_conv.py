"""`regions` on a convolutional model: bounds and sample run (the bounds as base-2 logarithms),
exact, milp and slices are refused in one line naming the methods that apply."""

import json

import pytest
from builders import conv_chain, save_model
from click.testing import CliRunner

from exactprune.cli import main

OPS = [("Conv", {"out": 3, "k": 3}), ("Relu", {})]


@pytest.fixture
def conv_path(tmp_path):
    return save_model(conv_chain(OPS), tmp_path / "c.onnx")


@pytest.mark.parametrize("method", ["bounds", "sample"])
def test_bounds_and_sample_run(conv_path, method):
    result = CliRunner().invoke(main, ["regions", str(conv_path), "--box", "0", "1", "--method",
                                       method, "--samples", "50", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["bounds"] == {"log2 product": data["bounds"]["log2 product"], "log2 2^N": 75.0}
    assert (data["regions"] >= 1) == (method == "sample")


@pytest.mark.parametrize("flags", [["--method", "exact"], ["--method", "milp"],
                                   ["--plane", "0", "0.5", "1"]])
def test_enumerating_methods_are_refused(conv_path, flags):
    result = CliRunner().invoke(main, ["regions", str(conv_path), "--box", "0", "1", *flags])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "use --method bounds or --method sample" in line

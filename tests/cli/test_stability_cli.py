"""`exactprune stability`: domains, the table, --json, methods, exit codes."""

from __future__ import annotations

import json

import numpy as np
import onnx
from builders import dense_model
from click.testing import CliRunner

from exactprune.cli import main


def write_model(tmp_path, seed: int = 0):
    """4 inputs on [0, 1]: neuron 0 unstable (x0 - 0.5), 1 active (+40), 2 inactive (-40)."""
    w0 = np.zeros((3, 4))
    w0[0, 0] = 1.0
    w0[1:, 1] = 0.5
    path = tmp_path / "tiny.onnx"
    onnx.save(dense_model([w0, np.ones((2, 3))], [np.array([-0.5, 40.0, -40.0]), np.zeros(2)]),
              path)
    return path


def test_table_and_json(tmp_path):
    path = write_model(tmp_path)
    out = tmp_path / "s.json"
    res = CliRunner().invoke(main, ["stability", str(path), "--box", "0", "1", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "Relu_0" in res.output and "1 stably active, 1 stably inactive, 1 unstable" in res.output
    data = json.loads(out.read_text())
    assert data["complete"] is True and data["model"] == str(path)
    layer = data["layers"][0]
    assert (layer["stably_active"], layer["stably_inactive"], layer["unstable"], layer["unknown"]) \
        == ([1], [2], [0], [])
    assert data["tolerances"]["flip_margin"] > 0
    assert len(data["witnesses"]) >= 1 and len(data["witnesses"][0]) == 4


def test_per_neuron_method_and_vnnlib(tmp_path):
    path = write_model(tmp_path)
    spec = tmp_path / "spec.vnnlib"
    spec.write_text("".join(f"(declare-const X_{i} Real)\n(assert (>= X_{i} 0.6))\n"
                            f"(assert (<= X_{i} 0.9))\n" for i in range(4)))
    res = CliRunner().invoke(main, ["stability", str(path), "--vnnlib", str(spec),
                                    "--method", "per-neuron"])
    assert res.exit_code == 0, res.output
    assert "2 stably active, 1 stably inactive, 0 unstable, 0 unknown" in res.output


def test_threads_spread_the_per_neuron_milps_over_workers(tmp_path):
    w0 = np.eye(4)[:3]  # three unstable neurons x_i - 0.5, one MILP pair each
    path = tmp_path / "three.onnx"
    onnx.save(dense_model([w0, np.ones((2, 3))], [np.full(3, -0.5), np.zeros(2)]), path)
    res = CliRunner().invoke(main, ["stability", str(path), "--box", "0", "1",
                                    "--method", "per-neuron-plain", "--threads", "2"])
    assert res.exit_code == 0, res.output
    assert "0 stably active, 0 stably inactive, 3 unstable, 0 unknown" in res.output
    assert "--threads" in CliRunner().invoke(main, ["compress", "--help"]).output


def test_no_domain_is_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["stability", str(write_model(tmp_path))])
    assert res.exit_code == 2
    assert "stability needs an input domain: give --box LO HI" in res.output


def test_time_limit_zero_reports_unknown_with_exit_0(tmp_path):
    path = tmp_path / "twin.onnx"
    w0 = np.zeros((2, 20))
    w0[:, 0] = 1.0  # two identical neurons relu(x0 - 0.5); their difference - 0.01 needs the MILP
    onnx.save(dense_model([w0, np.array([[1.0, -1.0]]), np.ones((1, 1))],
                          [np.array([-0.5, -0.5]), np.array([-0.01]), np.zeros(1)]), path)
    res = CliRunner().invoke(main, ["stability", str(path), "--box", "0", "1", "--time-limit", "0",
                                    "--method", "milp", "--json", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    assert "incomplete" in res.output
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["complete"] is False and data["layers"][1]["unknown"] == [0]


def test_bad_method_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["stability", str(write_model(tmp_path)), "--box", "0", "1",
                                    "--method", "fast"])
    assert res.exit_code == 2 and "Invalid value for '--method'" in res.output

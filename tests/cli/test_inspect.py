"""`exactprune inspect`: the table and the JSON summary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import conv_chain, random_mlp, save_model, shared_model
from click.testing import CliRunner

from exactprune import load, save
from exactprune.cli import main
from exactprune.domain import Box


@pytest.fixture
def model_path(tmp_path):
    return save_model(random_mlp([3, 5, 4, 2], tail=["Softmax"]), tmp_path / "m.onnx")


def test_table_lists_layers_totals_and_io(model_path):
    result = CliRunner().invoke(main, ["inspect", str(model_path)])
    assert result.exit_code == 0, result.output
    for text in ["Gemm_0", "3 -> 5", "Relu_1", "4 -> 2", "input ['N', 3]", "Softmax",
                 "domain  none", "opset 13, ir_version 8",
                 "54 parameters, 9 hidden neurons, 43 multiply-adds"]:
        assert text in result.output


def test_json_summary(model_path):
    result = CliRunner().invoke(main, ["inspect", str(model_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    net = load(model_path)
    assert [layer["n_out"] for layer in info["layers"]] == [5, 4, 2]
    assert info["totals"] == {"params": net.n_params, "hidden_neurons": 9, "macs": net.n_macs}
    assert info["input"] == {"name": "input", "shape": ["N", 3], "type": "float32"}
    assert info["outputs"] == [{"name": "output", "shape": ["N", 2], "type": "float32"}]
    assert info["tail"] == ["Softmax", "Identity"] and info["domain"] is None


def test_stored_domain_is_shown(model_path, tmp_path):
    out = save(load(model_path), tmp_path / "d.onnx", domain=Box([0, 0, 0], [1, 2, 3], "spec"))
    result = CliRunner().invoke(main, ["inspect", str(out)])
    assert "box over 3 inputs" in result.output and "(spec)" in result.output
    info = json.loads(CliRunner().invoke(main, ["inspect", str(out), "--json"]).stdout)
    assert info["domain"]["hi"] == [1.0, 2.0, 3.0]


def test_shared_mnist_unnamed_nodes():
    path = shared_model("mnistfc_256x2.onnx")
    info = json.loads(CliRunner().invoke(main, ["inspect", str(path), "--json"]).stdout)
    assert [(layer["n_in"], layer["n_out"]) for layer in info["layers"]] == [(784, 256), (256, 256),
                                                                  (256, 10)]
    assert info["layers"][0]["act_node"] == "9" and info["input"]["shape"] == [1, 784, 1]
    assert info["totals"]["hidden_neurons"] == 512 and np.isclose(info["totals"]["params"],
                                                                  269322)


def test_conv_layers_show_kernel_stride_channels_and_macs(tmp_path):
    ops = [("Conv", {"out": 4, "k": 3, "strides": [2, 2], "pads": [1, 1, 1, 1]}), ("Relu", {}),
           ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]})]
    path = save_model(conv_chain(ops), tmp_path / "c.onnx")
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "conv 3x3/2x2 2x7x7 -> 4x4x4" in result.output
    assert "avgpool 2x2/2x2 4x4x4 -> 4x2x2" in result.output
    info = json.loads(CliRunner().invoke(main, ["inspect", str(path), "--json"]).stdout)
    conv = info["layers"][0]
    assert (conv["kind"], conv["channels"], conv["params"], conv["macs"]) == (
        "conv", [2, 4], 4 * 2 * 9 + 4, 16 * 4 * 2 * 9)
    assert info["totals"]["macs"] == sum(layer["macs"] for layer in info["layers"])

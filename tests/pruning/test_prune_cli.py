"""`exactprune prune` and `exactprune report`: files, JSON, exit codes, --then-compress."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from builders import dense_model, run_ort, save_model
from click.testing import CliRunner

from exactprune.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def planted(tmp_path):
    """A 4-6-5-3 model whose hidden neuron 2 has tiny inputs and neuron 3 of the next layer tiny
    outputs (magnitude pruning empties both), and .npz data labelled by the model itself."""
    rng = np.random.default_rng(0)
    w0, w1, w2 = rng.normal(size=(6, 4)), rng.normal(size=(5, 6)), rng.normal(size=(3, 5))
    w0[2] *= 1e-3
    w2[:, 3] *= 1e-3
    b0, b1 = rng.normal(size=6) * 0.1, rng.normal(size=5) * 0.1
    x = rng.normal(size=(300, 4)).astype(np.float32)
    hidden = np.maximum(np.maximum(x @ w0.T + b0, 0) @ w1.T + b1, 0)
    b2 = -np.median(hidden @ w2.T, axis=0)  # about as many rows of each class
    model = save_model(dense_model([w0, w1, w2], [b0, b1, b2]), tmp_path / "m.onnx")
    y = run_ort(onnx.load(str(model)), x).argmax(axis=1)
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y)
    return model, data


def test_prune_writes_a_checked_model_and_its_report(tmp_path):
    model, data = planted(tmp_path)
    out = tmp_path / "out.onnx"
    result = run("prune", model, out, "--data", data, "--sparsity", 0.5, "--per-class",
                 "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["check"]["passed"] and report["accuracy_before"] == 1.0
    assert report["output"] == str(out) and report["held_back_rows"] == 60
    assert report["cbs"]["stages"] == 8 and report["method"] == "cbs"
    written = onnx.load(str(out))
    zeros = sum(int((onnx.numpy_helper.to_array(t) == 0).sum()) for t in written.graph.initializer
                if len(t.dims) == 2)
    assert zeros == sum(layer["zeros_after"] for layer in report["layers"])
    assert abs(report["sparsity"] - 0.5) < 0.02 and "recall per class" in result.output


def test_max_recall_drop_fails_the_run_but_writes_the_model(tmp_path):
    model, data = planted(tmp_path)
    out = tmp_path / "out.onnx"
    result = run("prune", model, out, "--data", data, "--sparsity", 0.9, "--method",
                 "magnitude", "--max-recall-drop", 0.01, "--json", tmp_path / "r.json")
    drop = json.loads((tmp_path / "r.json").read_text())["recall"]["max_recall_drop"]
    assert drop > 0.01
    assert result.exit_code == 1 and "more than --max-recall-drop 0.01" in result.stderr
    assert out.exists()


def test_then_compress_removes_the_neurons_pruning_cut_off(tmp_path):
    model, data = planted(tmp_path)
    out = tmp_path / "out.onnx"
    result = run("prune", model, out, "--data", data, "--sparsity", 0.3, "--method", "magnitude",
                 "--then-compress", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    compressed = report["compress"]
    assert compressed["verified"]
    assert compressed["neurons_after"] <= compressed["neurons_before"] - 2


def test_bad_inputs_are_one_line_and_exit_2(tmp_path):
    model, data = planted(tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=np.zeros((3, 4)))
    result = run("prune", model, tmp_path / "o.onnx", "--data", bad, "--sparsity", 0.5)
    assert result.exit_code == 2 and "name the input rows x and the labels y" in result.stderr
    assert "Traceback" not in result.output
    result = run("prune", model, model, "--data", data, "--sparsity", 0.5)
    assert result.exit_code == 2 and not (tmp_path / "o.onnx").exists()


def test_report_compares_two_files(tmp_path):
    model, data = planted(tmp_path)
    out = tmp_path / "out.onnx"
    assert run("prune", model, out, "--data", data, "--sparsity", 0.9, "--method",
               "magnitude").exit_code == 0
    copy = save_model(onnx.load(str(model)), tmp_path / "copy.onnx")
    same = run("report", model, copy, "--data", data, "--max-recall-drop", 0)
    assert same.exit_code == 0
    result = run("report", model, out, "--data", data, "--json", "-", "--max-recall-drop", 0.01)
    document = json.loads(result.stdout)
    assert document["n_rows"] == 60 and document["accuracy_before"] == 1.0
    assert result.exit_code == (1 if document["max_recall_drop"] > 0.01 else 0)


def test_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    model, data = planted(tmp_path)
    result = run("prune", model, tmp_path / "out.onnx", "--data", data, "--sparsity", 0.5,
                 "--plot", tmp_path / "r.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_few_rows_is_bad_input(tmp_path):
    model, _ = planted(tmp_path)
    data = tmp_path / "one.csv"
    data.write_text("0.1,0.2,0.3,0.4,0\n0.5,0.6,0.7,0.8,1\n")
    result = run("prune", model, tmp_path / "o.onnx", "--data", data, "--sparsity", 0.5)
    assert result.exit_code == 2 and "leave none to prune with" in result.stderr


def test_a_model_with_a_tail_is_pruned_and_said_unchecked(tmp_path):
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(6, 4)), rng.normal(size=(3, 6))]
    model = save_model(dense_model(weights, [np.zeros(6), np.zeros(3)], tail=["Softmax"]),
                       tmp_path / "soft.onnx")
    x = rng.normal(size=(100, 4)).astype(np.float32)
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=run_ort(onnx.load(str(model)), x).argmax(axis=1))
    out = tmp_path / "out.onnx"
    result = run("prune", model, out, "--data", data, "--sparsity", 0.5, "--json", "-")
    assert result.exit_code == 0, result.output
    assert "not compared with the pruned layers" in result.stderr
    assert json.loads(result.stdout)["check"]["skipped"]
    assert np.allclose(run_ort(onnx.load(str(out)), x).sum(axis=1), 1.0, atol=1e-5)  # the tail

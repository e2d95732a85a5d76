"""Models written by real exporters (tests/fixtures/exporters, made by make_fixtures.py): each
supported one compresses on its box and keeps every output on 10,000 points of it (labels
exactly, floats within the tolerance of its float type); each unsupported one is refused with
one line naming its nodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from exactprune import compress
from exactprune.cli import main
from exactprune.domain import Box
from exactprune.equivalence import TOLERANCES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exporters"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
POINTS = 10_000


def entries(expect: str) -> list:
    return [pytest.param(e, id=e["file"]) for e in MANIFEST if e["expect"] == expect]


def outputs(model_bytes: bytes, x: np.ndarray) -> list[np.ndarray]:
    """Every output of a model on flat float64 inputs x, one row per point (ZipMap's maps as
    their values in key order)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    dtype = {"tensor(float16)": np.float16, "tensor(double)": np.float64}.get(first.type,
                                                                               np.float32)
    dims = first.shape
    if len(dims) == 1 or isinstance(dims[0], int):  # no batch, or a fixed one: row by row
        sample = dims if len(dims) == 1 else [1, *dims[1:]]
        runs = [session.run(None, {first.name: row.reshape(sample).astype(dtype)}) for row in x]
        runs = [[np.asarray(o).reshape(1, -1) for o in run] for run in runs]
        return [np.concatenate([run[k] for run in runs]) for k in range(len(runs[0]))]
    out = session.run(None, {first.name: x.reshape(-1, *dims[1:]).astype(dtype)})
    rows = []
    for o in out:
        if isinstance(o, list):
            o = [[m[key] for key in sorted(m)] for m in o]
        rows.append(np.asarray(o).reshape(len(x), -1))
    return rows


def points(box: Box, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    corners = np.where(rng.random((n // 10, box.size)) < 0.5, box.lo, box.hi)
    return np.vstack([rng.uniform(box.lo, box.hi, size=(n - len(corners), box.size)), corners])


def assert_same_outputs(original: list, compressed: list, dtype: str) -> None:
    atol, rtol = TOLERANCES[dtype]
    assert len(original) == len(compressed)
    for a, b in zip(original, compressed):
        assert a.shape == b.shape and a.dtype.kind == b.dtype.kind
        if a.dtype.kind == "f":
            scale = max(1.0, float(np.abs(a).max()))
            assert float(np.abs(a.astype(np.float64) - b).max()) <= atol + rtol * scale
        else:
            assert np.array_equal(a, b)  # labels: exactly


@pytest.mark.parametrize("entry", entries("supported"))
def test_supported_fixture_compresses_and_keeps_every_output(entry):
    path = FIXTURES / entry["file"]
    box = Box(np.asarray(entry["box"]["lo"], float), np.asarray(entry["box"]["hi"], float),
              "manifest box")
    result = compress(path, box, time_limit=30)
    assert result.report.verified, result.report.notes
    assert result.report.neurons_after <= result.report.neurons_before
    written = result.model
    original = {o.name for o in written.graph.output}
    assert original == {o["name"] for o in entry["outputs"]}
    assert written.ir_version == entry["observed"]["ir_version"]
    opsets = {o.domain or "ai.onnx": o.version for o in written.opset_import}
    assert opsets["ai.onnx"] == entry["observed"]["opset_import"]["ai.onnx"]  # kept
    x = points(box, POINTS)
    assert_same_outputs(outputs(path.read_bytes(), x), outputs(written.SerializeToString(), x),
                        entry["dtype"])


@pytest.mark.parametrize("entry", [e for e in entries("supported")
                                   if e.values[0].get("train_data")
                                   and len(e.values[0]["outputs"]) == 2])
def test_classifier_keeps_its_labels_on_the_training_set(entry):
    data = np.load(FIXTURES / entry["train_data"])
    x = data["X"].astype(np.float64)
    box = Box(x.min(axis=0), x.max(axis=0), "training data")
    path = FIXTURES / entry["file"]
    result = compress(path, box, time_limit=30)
    before = outputs(path.read_bytes(), x)[0]
    after = outputs(result.model.SerializeToString(), x)[0]
    assert before.dtype.kind == "i" and np.array_equal(before, after)
    assert (before.reshape(-1) == data["y"]).mean() > 0.9  # the labels are the classifier's


@pytest.mark.parametrize("entry", entries("unsupported"))
def test_unsupported_fixture_is_one_line_naming_its_nodes(entry):
    result = CliRunner().invoke(main, ["inspect", str(FIXTURES / entry["file"])])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "node " in lines[0]

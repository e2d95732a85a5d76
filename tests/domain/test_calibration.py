"""--calibration FILE [--margin X]: the bounding box of data rows, read strictly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import random_mlp, save_model
from click.testing import CliRunner

from exactprune.cli import main
from exactprune.domain import load_calibration, resolve_domain
from exactprune.errors import DomainError
from exactprune.onnx_io import load_model

ROWS = np.array([[0.0, 1.0, 5.0], [2.0, -1.0, 5.0], [1.0, 0.5, 5.0]])


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".csv-header"])
def test_the_box_of_the_rows_in_every_format(tmp_path, suffix):
    path = tmp_path / ("rows" + suffix.split("-")[0])
    if suffix == ".npy":
        np.save(path, ROWS.reshape(3, 1, 3))  # rows in the model's input layout
    elif suffix == ".npz":
        np.savez(path, X=ROWS, y=np.arange(3))
    else:
        np.savetxt(path, ROWS, delimiter=",", header="a,b,c" if "header" in suffix else "",
                   comments="")
    box = load_calibration(path, 3, margin=0.25)
    assert box.lo.tolist() == [-0.5, -1.5, 5.0] and box.hi.tolist() == [2.5, 1.5, 5.0]
    assert "3 rows, margin 0.25" in box.source


@pytest.mark.parametrize("write, match", [
    (lambda p: np.save(p / "r.npy", np.zeros((4, 5))), r"shape \(4, 5\) is not rows of 3"),
    (lambda p: np.save(p / "r.npy", np.array([[1.0, np.nan, 0.0]])), r"rows \[0\] hold NaN"),
    (lambda p: np.save(p / "r.npy", np.array(["a", "b", "c"])), "must be numbers"),
    (lambda p: np.savez(p / "r.npz", a=ROWS, b=ROWS), "name the input rows X"),
    (lambda p: (p / "r.csv").write_text("1,2,3\n4,five,6\n"), "not readable calibration data"),
    (lambda p: (p / "r.txt").write_text("1,2,3\n"), "unknown calibration file type"),
])
def test_bad_calibration_files_name_the_problem(tmp_path, write, match):
    write(tmp_path)
    path = next(p for p in tmp_path.iterdir() if p.name.startswith("r."))
    with pytest.raises(DomainError, match=match):
        load_calibration(path, 3)


def test_margin_needs_calibration_and_one_domain_only(tmp_path):
    np.save(tmp_path / "r.npy", ROWS)
    with pytest.raises(DomainError, match="--margin widens a --calibration box"):
        resolve_domain(3, box=(0, 1), margin=0.1)
    with pytest.raises(DomainError, match="not --box and --calibration"):
        resolve_domain(3, box=(0, 1), calibration=tmp_path / "r.npy")


def test_compress_on_calibration_data_stores_where_the_domain_came_from(tmp_path):
    model = save_model(random_mlp([3, 6, 2]), tmp_path / "m.onnx")
    np.save(tmp_path / "r.npy", ROWS)
    report = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["compress", str(model), str(tmp_path / "o.onnx"),
                                       "--calibration", str(tmp_path / "r.npy"), "--margin",
                                       "0.1", "--json", str(report)])
    assert result.exit_code == 0, result.output
    stored = load_model(tmp_path / "o.onnx").stored_domain
    assert np.allclose(stored.lo, [-0.2, -1.2, 5.0]) and np.allclose(stored.hi, [2.2, 1.2, 5.0])
    assert "calibration data" in stored.source and json.loads(report.read_text())["verified"]

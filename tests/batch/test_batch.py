"""`exactprune batch`: the same results as single runs, resume, error rows, a bad CSV, Ctrl-C
and a rerun, and --workers 2 against 1, on planted networks with vnnlib and bounds specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import dense_model, planted_model, save_model
from click.testing import CliRunner
from onnx import numpy_helper

import exactprune.batch.runner as runner
from exactprune.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def vnnlib(path: Path, lo, hi) -> Path:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lo))]
    for i, (a, b) in enumerate(zip(lo, hi)):
        lines += [f"(assert (>= X_{i} {a}))", f"(assert (<= X_{i} {b}))"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def suite(tmp_path):
    """tmp_path/suite with two planted models, a vnnlib spec, a bounds file and a CSV naming
    them relative to itself: rows (a, vnnlib), (b, bounds .json), (a, bounds .npy)."""
    home = tmp_path / "suite"
    (home / "nets").mkdir(parents=True)
    planted_model(home / "nets" / "a.onnx", 3, seed=0)
    planted_model(home / "nets" / "b.onnx", 4, seed=1)
    vnnlib(home / "a_box.vnnlib", [0.0] * 3, [1.0] * 3)
    (home / "b_box.json").write_text(json.dumps({"lo": 0.0, "hi": [1.0, 1.0, 0.5, 1.0]}))
    np.save(home / "a_half.npy", np.array([[0.0] * 3, [0.5] * 3]))
    csv = home / "instances.csv"
    csv.write_text("nets/a.onnx,a_box.vnnlib,30\n# a comment\n\nnets/b.onnx,b_box.json\n"
                   "nets/a.onnx,a_half.npy,20\n")
    return csv


def log(out: Path, skip: int = 0) -> list[dict]:
    """The log's lines after the first `skip` (one run's), in row order."""
    lines = (out / "batch.jsonl").read_text().splitlines()[skip:]
    return sorted((json.loads(line) for line in lines), key=lambda r: r["row"])


def statuses(out: Path, skip: int = 0) -> list[str]:
    return [r["status"] for r in log(out, skip)]


def params(path: Path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


SINGLE = {"a_box.vnnlib": "--vnnlib", "b_box.json": "--bounds", "a_half.npy": "--bounds"}


def test_batch_equals_single_compress_runs(suite, tmp_path):
    out = tmp_path / "out"
    result = run("batch", suite, "--out", out)
    assert result.exit_code == 0, result.output
    rows = log(out)
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert [r["line"] for r in rows] == [1, 4, 5]
    for row in rows:
        single = tmp_path / f"single_{row['row']}.onnx"
        report = tmp_path / f"single_{row['row']}.json"
        model, spec = suite.parent / row["model"], suite.parent / row["spec"]
        done = run("compress", model, single, SINGLE[row["spec"]], spec, "--json", report)
        assert done.exit_code == 0, done.output
        want = json.loads(report.read_text())
        got = json.loads(Path(row["report"]).read_text())
        for key in ("params_before", "params_after", "neurons_after", "unknown_by_reason"):
            assert got[key] == want[key], key
        assert row["unknown"] == sum(want["unknown_by_reason"].values())
        assert row["params_after"] == want["params_after"] < want["params_before"]
        assert row["max_abs"] is not None and got["verification"]["passed"]
        mine, theirs = params(Path(row["output"])), params(single)
        assert mine.keys() == theirs.keys()
        assert all(np.array_equal(mine[k], theirs[k]) for k in mine)
        assert got["batch"]["command"] == "compress" and len(got["batch"]["model_sha256"]) == 64


def test_rerun_skips_every_row_and_touches_nothing(suite, tmp_path):
    out = tmp_path / "out"
    assert run("batch", suite, "--out", out).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix != ".jsonl"}
    again = run("batch", suite, "--out", out)
    assert again.exit_code == 0, again.output
    assert statuses(out, 3) == ["skipped"] * 3
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix != ".jsonl"} == before
    assert "3 skipped" in again.output


def test_changed_model_or_spec_reruns_only_its_rows(suite, tmp_path):
    out = tmp_path / "out"
    assert run("batch", suite, "--out", out).exit_code == 0
    planted_model(suite.parent / "nets" / "b.onnx", 4, seed=2)
    vnnlib(suite.parent / "a_box.vnnlib", [0.0] * 3, [0.9] * 3)
    assert run("batch", suite, "--out", out).exit_code == 0
    assert statuses(out, 3) == ["ok", "ok", "skipped"]


def test_lost_output_reruns_its_row(suite, tmp_path):
    out = tmp_path / "out"
    assert run("batch", suite, "--out", out).exit_code == 0
    Path(log(out)[1]["output"]).write_bytes(b"not the model the report names")
    assert run("batch", suite, "--out", out).exit_code == 0
    assert statuses(out, 3) == ["skipped", "ok", "skipped"]


def test_bad_rows_are_error_rows_and_the_others_finish(suite, tmp_path):
    home = suite.parent
    rng = np.random.default_rng(0)
    save_model(dense_model([rng.normal(size=(4, 3)), rng.normal(size=(2, 4))],
                           [np.zeros(4), np.zeros(2)], activation="Sigmoid"),
               home / "sigmoid.onnx")
    vnnlib(home / "two.vnnlib", [0.0] * 2, [1.0] * 2)
    csv = home / "bad.csv"
    csv.write_text("nets/missing.onnx,a_box.vnnlib\nsigmoid.onnx,a_box.vnnlib\n"
                   "nets/a.onnx,two.vnnlib\nnets/a.onnx,missing.json\nnets/b.onnx,b_box.json\n")
    out = tmp_path / "out"
    result = run("batch", csv, "--out", out)
    assert result.exit_code == 1
    rows = log(out)
    assert [r["status"] for r in rows] == ["error"] * 4 + ["ok"]
    assert all(r["error"] and "\n" not in r["error"] for r in rows[:4])
    assert "missing.onnx: no such file" in rows[0]["error"]
    assert "missing.json: no such file" in rows[3]["error"]
    assert "4 of 5 rows failed" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["b__b_box.json", "b__b_box.onnx",
                                                    "batch.jsonl"]


@pytest.mark.parametrize("text, where", [
    ("a.onnx,a.vnnlib,30,extra\n", " line 1: 4 cells"),
    ("a.onnx,a.vnnlib\na.onnx,a.vnnlib,soon\n", " line 2: timeout 'soon'"),
    ("a.onnx,a.vnnlib,-1\n", " line 1: timeout '-1'"),
    ("a.onnx,a.txt\n", " line 1: spec 'a.txt' is neither"),
    (",a.vnnlib\n", " line 1: empty model path"),
    ("# nothing\n\n", ": no rows"),
])
def test_a_bad_csv_is_one_line_and_exit_2(tmp_path, text, where):
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    result = run("batch", csv, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {csv}{where}"), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["KeyboardInterrupt", "analysis interrupted"])
def test_interrupted_then_rerun_finishes_only_the_rest(suite, tmp_path, monkeypatch, how):
    out = tmp_path / "out"
    real = runner.run_row
    started = []

    def ctrl_c_in_the_second_row(job):
        started.append(job.instance.row)
        if len(started) == 1:
            return real(job)
        if how == "KeyboardInterrupt":
            raise KeyboardInterrupt
        return job.record("interrupted", error="interrupted during the analysis")

    monkeypatch.setattr(runner, "run_row", ctrl_c_in_the_second_row)
    first = run("batch", suite, "--out", out)
    assert first.exit_code == 130
    done = started[0]
    assert statuses(out) == ["ok" if row == done else "interrupted" for row in (1, 2, 3)]
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".jsonl", ".onnx"]
    monkeypatch.setattr(runner, "run_row", real)
    rerun = run("batch", suite, "--out", out)
    assert rerun.exit_code == 0, rerun.output
    assert statuses(out, 3) == ["skipped" if row == done else "ok" for row in (1, 2, 3)]


def test_rows_given_more_time_start_first(suite, tmp_path, monkeypatch):
    started = []
    real = runner.run_row
    monkeypatch.setattr(runner, "run_row", lambda job: started.append(job.instance.row) or
                        real(job))
    assert run("batch", suite, "--out", tmp_path / "out").exit_code == 0
    assert started == [2, 1, 3]  # time limits 600 (the default), 30, 20


def test_two_workers_give_the_same_results_as_one(suite, tmp_path):
    for n in (1, 2):
        assert run("batch", suite, "--out", tmp_path / f"w{n}", "--workers", n).exit_code == 0
    one, two = log(tmp_path / "w1"), log(tmp_path / "w2")
    keys = ("row", "name", "status", "unknown", "params_before", "params_after", "max_abs")
    assert [{k: r[k] for k in keys} for r in one] == [{k: r[k] for k in keys} for r in two]
    for a, b in zip(sorted((tmp_path / "w1").glob("*.onnx")),
                    sorted((tmp_path / "w2").glob("*.onnx"))):
        pa, pb = params(a), params(b)
        assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_stability_rows_equal_single_stability_runs(suite, tmp_path):
    out = tmp_path / "out"
    result = run("batch", suite, "--out", out, "--command", "stability", "--json",
                 tmp_path / "summary.json")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["ok"] == 3 and not list(out.glob("*.onnx"))
    for row in summary["rows"]:
        single = tmp_path / f"stability_{row['row']}.json"
        spec = suite.parent / row["spec"]
        assert run("stability", suite.parent / row["model"], SINGLE[row["spec"]], spec,
                   "--json", single).exit_code == 0
        want, got = json.loads(single.read_text()), json.loads(Path(row["report"]).read_text())
        assert got["layers"] == want["layers"] and got["unknown_by_reason"] == \
            want["unknown_by_reason"]
    assert run("batch", suite, "--out", out).exit_code == 0  # compress: not the stability rows
    assert statuses(out, 3) == ["ok"] * 3

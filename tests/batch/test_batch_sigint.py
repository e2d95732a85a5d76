"""A real Ctrl-C (SIGINT to the command) while rows run in two worker processes: exit 130, the
rows done stay done, and a rerun does only the rest. Also how rows are named and found."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from builders import SAMPLE_MODELS

from exactprune.batch import read_instances

ROWS = 6


def test_sigint_mid_run_then_rerun_finishes_the_rest(tmp_path):
    model = SAMPLE_MODELS / "mnist_784_100_100_10.onnx"
    spec = SAMPLE_MODELS / "mnist_digit0_eps0.05.vnnlib"
    csv = tmp_path / "instances.csv"
    csv.write_text(f"{model},{spec},20\n" * ROWS)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "exactprune", "batch", str(csv), "--out", str(out),
               "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "batch.jsonl"
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err
    first = [json.loads(line) for line in log.read_text().splitlines()]
    done = {r["row"] for r in first if r["status"] == "ok"}
    assert 1 <= len(done) < ROWS
    assert {r["status"] for r in first if r["row"] not in done} == {"interrupted"}
    assert not list(out.glob(".*.tmp"))
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    second = [json.loads(line) for line in log.read_text().splitlines()][len(first):]
    assert {r["row"] for r in second if r["status"] == "skipped"} == done
    assert {r["row"] for r in second if r["status"] == "ok"} == set(range(1, ROWS + 1)) - done


def test_rows_resolve_against_the_csv_and_get_unique_names(tmp_path):
    (tmp_path / "sub").mkdir()
    csv = tmp_path / "sub" / "i.csv"
    csv.write_text("m.onnx,p 1.vnnlib\n../m.onnx,p 1.vnnlib, 5\nM.onnx,p_1.vnnlib,\n")
    rows = read_instances(csv)
    assert [r.name for r in rows] == ["m__p_1", "m__p_1-2", "M__p_1-3"]
    assert rows[1].model == tmp_path / "sub" / ".." / "m.onnx"
    assert [r.timeout for r in rows] == [None, 5.0, None]
    assert rows[0].spec_kind == "vnnlib"

"""A reader that stops early (`exactprune ... | head -1`) costs neither the output nor the exit code."""

import subprocess
import sys

from builders import SAMPLE_MODELS

SAMPLE = SAMPLE_MODELS / "tiny_2d.onnx"


def test_compress_piped_into_head_still_writes_and_exits_0(tmp_path):
    out = tmp_path / "small.onnx"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from exactprune.cli import main; main()", "compress", str(SAMPLE),
         str(out), "--json", str(tmp_path / "report.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"COLUMNS": "100", "PATH": ""})
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after one line
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert out.is_file() and (tmp_path / "report.json").is_file()

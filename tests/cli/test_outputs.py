"""No output of any command may replace the input model or another output of the same command."""

import errno
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from builders import SAMPLE_MODELS
from click.testing import CliRunner

from exactprune import compress
from exactprune.atomic import write_atomic
from exactprune.cli import main
from exactprune.errors import VerificationError

SAMPLE = SAMPLE_MODELS / "tiny_2d.onnx"


@pytest.fixture
def model(tiny_model) -> Path:
    return tiny_model


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_compress_json_cannot_replace_the_input_or_the_output(model, tmp_path):
    before = model.read_bytes()
    result = run("compress", model, tmp_path / "out.onnx", "--json", model)
    assert result.exit_code == 2 and "same file" in result.stderr
    assert model.read_bytes() == before and not (tmp_path / "out.onnx").exists()
    result = run("compress", model, tmp_path / "out.onnx", "--json", tmp_path / "out.onnx")
    assert result.exit_code == 2 and "same file" in result.stderr


def test_regions_json_and_plot_cannot_replace_the_model(model, tmp_path):
    before = model.read_bytes()
    for flag in ("--json", "--plot"):
        result = run("regions", model, flag, model)
        assert result.exit_code == 2 and "same file" in result.stderr, result.output
        assert model.read_bytes() == before
    result = run("regions", model, "--json", tmp_path / "r.json", "--plot", tmp_path / "r.json")
    assert result.exit_code == 2 and "same file" in result.stderr


def test_a_corrupt_plane_file_is_bad_input(model, tmp_path):
    bad = tmp_path / "p.npy"
    bad.write_text("not an array")
    result = run("regions", model, "--plane", bad, bad, bad)
    assert result.exit_code == 2 and "not a numeric .npy" in result.stderr


def test_an_unverified_result_is_not_saved_unless_asked(tmp_path):
    result = compress(SAMPLE, verify=False)
    with pytest.raises(VerificationError, match="did not pass verification"):
        result.save(tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
    result.save(tmp_path / "out.onnx", allow_unverified=True)
    assert (tmp_path / "out.onnx").is_file()


# Only regular files are written (issue: /dev/null replaced by a regular file) -------------------
def special_file(path: Path, kind: str) -> Path:
    """A non-regular file at `path`: a device node (as root), a FIFO, a socket or a directory."""
    if kind == "device":
        if os.geteuid() != 0:
            pytest.skip("creating a device node needs root (the FIFO case covers the rest)")
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:
        path.mkdir()
    return path


WRITERS = {
    "compress OUT": lambda m, t, p: ["compress", m, p, "--box", "0", "1", "--force"],
    "compress --json": lambda m, t, p: ["compress", m, t / "o.onnx", "--json", p],
    "stability --json": lambda m, t, p: ["stability", m, "--box", "0", "1", "--json", p],
    "regions --json": lambda m, t, p: ["regions", m, "--json", p],
    "regions --plot": lambda m, t, p: ["regions", m, "--plot", p],
}


@pytest.mark.parametrize("kind", ["device", "fifo", "socket", "directory"])
@pytest.mark.parametrize("writer", WRITERS)
def test_writers_refuse_paths_that_are_not_regular_files(model, tmp_path, writer, kind):
    target = special_file(tmp_path / "target", kind)
    mode = target.lstat().st_mode
    result = run(*WRITERS[writer](model, tmp_path, target))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "error:" in result.stderr
    assert target.lstat().st_mode == mode  # still the same kind of file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "target"]


def test_a_symlink_to_a_regular_file_is_followed(model, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    (tmp_path / "link.json").symlink_to(real)
    assert run("stability", model, "--box", "0", "1", "--json", tmp_path / "link.json").exit_code == 0
    assert (tmp_path / "link.json").is_symlink() and json.loads(real.read_text())["layers"]


# Outputs are checked before the work, and a late failure writes nothing ---------------------------
def test_a_missing_json_directory_is_noticed_before_the_analysis(model, tmp_path, monkeypatch):
    from exactprune.cli import compress_cmd

    monkeypatch.setattr(compress_cmd, "compress", lambda *a, **k: pytest.fail("analysis ran"))
    result = run("compress", model, tmp_path / "o.onnx", "--json", tmp_path / "no" / "r.json")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_a_report_that_cannot_be_written_leaves_no_model(model, tmp_path, monkeypatch):
    calls = []
    real_fsync = os.fsync

    def disk_full_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_on_second)
    result = run("compress", model, tmp_path / "o.onnx", "--json", tmp_path / "r.json")
    assert result.exit_code == 2 and "No space left" in result.stderr
    assert "nothing was written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


# Races and leftovers --------------------------------------------------------------------------------
def test_an_out_that_appears_during_the_work_is_not_replaced(model, tmp_path, monkeypatch):
    from exactprune.cli import compress_cmd

    out = tmp_path / "o.onnx"
    real = compress_cmd.compress

    def and_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        out.write_bytes(b"another run's model")
        return result

    monkeypatch.setattr(compress_cmd, "compress", and_meanwhile)
    result = run("compress", model, out)
    assert result.exit_code == 2 and "appeared while exactprune was working" in result.stderr
    assert out.read_bytes() == b"another run's model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "o.onnx"]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_files_of_killed_runs_are_removed_by_the_next(model, tmp_path):
    stale = tmp_path / f".o.onnx.exactprune-{dead_pid()}-abc123.tmp"
    stale.write_bytes(b"half a model")
    alive = tmp_path / f".o.onnx.exactprune-{os.getpid()}-def456.tmp"  # a live writer's: kept
    alive.write_bytes(b"in progress")
    assert run("compress", model, tmp_path / "o.onnx").exit_code == 0
    assert not stale.exists() and alive.exists() and (tmp_path / "o.onnx").is_file()


def test_a_killed_write_leaves_a_recognisable_temporary_file(tmp_path):
    script = ("import os, sys\n"
              "from exactprune.atomic import write_atomic\n"
              "os.fsync = lambda fd: os.kill(os.getpid(), 9)\n"
              f"write_atomic({str(tmp_path / 'o.onnx')!r}, b'data')\n")
    subprocess.run([sys.executable, "-c", script], check=False)
    (left,) = tmp_path.iterdir()
    assert re.fullmatch(r"\.o\.onnx\.exactprune-\d+-\w+\.tmp", left.name)
    write_atomic(tmp_path / "o.onnx", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.onnx"]

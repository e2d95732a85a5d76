"""Atomic writes: whole files, usual permissions, the input protected."""

import os
import stat

import pytest

from exactprune.atomic import write_atomic
from exactprune.errors import OutputFileError


def test_new_file_gets_the_umask_permissions_and_no_temp_files_remain(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "model.onnx", b"abc")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_replacing_keeps_the_old_permissions(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o640)
    write_atomic(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_refuses_the_protected_input_and_missing_directories(tmp_path):
    src = tmp_path / "in.onnx"
    src.write_bytes(b"original")
    with pytest.raises(OutputFileError, match="is the input model"):
        write_atomic(src, b"x", protect=src)
    assert src.read_bytes() == b"original"
    with pytest.raises(OutputFileError, match="does not exist"):
        write_atomic(tmp_path / "no" / "out.onnx", b"x")


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupt(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out.onnx", b"data")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_publishing_waits_until_every_file_is_in_place(tmp_path, monkeypatch):
    import signal

    from exactprune import atomic
    from exactprune.errors import Interrupted

    real = atomic._Staged.publish

    def publish_then_ctrl_c(self):
        real(self)
        os.kill(os.getpid(), signal.SIGINT)  # held until both files are renamed

    monkeypatch.setattr(atomic._Staged, "publish", publish_then_ctrl_c)
    a, b = tmp_path / "a.onnx", tmp_path / "b.json"
    with atomic.Outputs() as out:
        out.stage(atomic.check_target(a), b"model")
        out.stage(atomic.check_target(b), "report")
        with pytest.raises(Interrupted, match=f"written: {a}, {b}"):
            out.publish()
    assert a.read_bytes() == b"model" and b.read_text() == "report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.json"]

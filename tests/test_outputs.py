"""No output of any command may replace the input model or another output of the same command."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from exactprune import compress
from exactprune.cli import main
from exactprune.errors import VerificationError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_models" / "tiny_2d.onnx"


@pytest.fixture
def model(tmp_path) -> Path:
    return Path(shutil.copy(SAMPLE, tmp_path / "m.onnx"))


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

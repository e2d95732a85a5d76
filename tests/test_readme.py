"""The README's worked example prints what the README shows, and its prose counts what the report
says. Only times and the last digits of the deviations may differ, as the README says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
EXAMPLE = README[README.index("## A worked example"):README.index("## Commands")]
_TIME = re.compile(r"time \d+\.\d s \(stability \d+\.\d s\)")
_DEVIATION = re.compile(r"(max deviation|max \|a - b\||relative|own float32 error|\() *"
                        r"([0-9][0-9.e+-]*)")
_WORST = re.compile(r"worst: point \d+, \w+")


def commands_and_outputs() -> list[tuple[str, list[str]]]:
    block = EXAMPLE[EXAMPLE.index("```\n") + 4:]
    block = block[:block.index("```")].replace("\\\n    ", "")
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def normalised(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = _DEVIATION.sub(r"\1 <x>", _WORST.sub("worst: <point>", _TIME.sub("time <t>", line)))
        out.append(line.rstrip())
    return out


def deviations(lines: list[str]) -> list[float]:
    return [float(m.group(2)) for line in lines for m in _DEVIATION.finditer(line)]


def close(printed: float, shown: float) -> bool:
    """Only the last digits may differ: within a factor of 2 (float32 rounding noise)."""
    return printed == shown or (printed > 0 and shown > 0 and 0.5 <= printed / shown <= 2.0)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[list, Path]:
    work = tmp_path_factory.mktemp("readme")
    (work / "sample_models").symlink_to(REPO / "sample_models")
    env = {**os.environ, "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}
    results = []
    for command, shown in commands_and_outputs():
        args = command.split()
        assert args[0] == "exactprune"
        proc = subprocess.run([sys.executable, "-m", "exactprune", *args[1:]], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=300)
        results.append((command, shown, proc))
    return results, work


def test_the_worked_example_prints_what_the_readme_shows(ran):
    results, _ = ran
    assert [c.split()[1] for c, _, _ in results] == ["compress", "verify", "inspect"]
    for command, shown, proc in results:
        assert proc.returncode == 0, proc.stdout
        assert normalised(proc.stdout.splitlines()) == normalised(shown), command
        printed = deviations(proc.stdout.splitlines())
        assert len(printed) == len(deviations(shown))
        assert all(map(close, printed, deviations(shown))), (command, printed)


def test_the_prose_counts_what_the_report_says(ran):
    _, work = ran
    report = json.loads((work / "report.json").read_text())
    stab = report["stability"]["layers"]
    count = {key: sum(len(layer[key]) for layer in stab)
             for key in ("stably_active", "stably_inactive", "unstable", "unknown")}
    rules = {rule: v["neurons"] for rule, v in report["by_rule"].items()}
    prose = " ".join(EXAMPLE[EXAMPLE.index("```\n\n"):].split())
    expect = {
        r"the (\d+) neurons whose incoming weights": rules["constant"],
        r"and the (\d+) neurons whose outgoing weights": rules["dead"],
        r"Of the (\d+) neurons left": sum(layer["neurons"] for layer in stab),
        r"(\d+) were proven never to fire": count["stably_inactive"],
        r"(\d+) were proven always active": count["stably_active"],
        r"(\d+) of them are affine combinations": rules["rank-merge"],
        r"the other (\d+) were shown to switch": count["unstable"],
        r"(\d+) hidden neurons are left": report["neurons_after"],
        r"on (\d+) inputs": report["verification"]["n_points"],
        r"and the (\d+) stability witnesses": report["verification"]["points"]["extra"],
    }
    assert count["unknown"] == 0 and rules["inactive"] == count["stably_inactive"]
    for pattern, value in expect.items():
        match = re.search(pattern, prose)
        assert match and int(match.group(1)) == value, (pattern, value)


def test_the_python_api_example_runs(tmp_path, monkeypatch):
    start = README.index("```python\n") + len("```python\n")
    code = README[start:README.index("```", start)]
    model = tmp_path / "model.onnx"
    model.write_bytes((REPO / "sample_models" / "tiny_2d.onnx").read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "model.small.onnx").stat().st_size > 0

"""Ctrl-C: one rule everywhere. The exit code is 130 and there is never a traceback; Ctrl-C during
an analysis ends it, the sound partial result is finished and written first; a Ctrl-C while
finishing (verifying, writing) stops at once and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from builders import SAMPLE_MODELS
from click.testing import CliRunner

from exactprune.cli import main

TINY = SAMPLE_MODELS / "tiny_2d.onnx"


@pytest.fixture
def model(tiny_model) -> Path:
    return tiny_model


def run_with_ctrl_c_on_import(module: str, then: str, argv: list[str]):
    """The installed `exactprune` script run with `argv`, with SIGINT sent to itself when it
    imports `module`, after which the import does `then` (a Python statement)."""
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from importlib.metadata import entry_points

        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == {module!r}:
                    os.kill(os.getpid(), signal.SIGINT)
                    {then}
                return None

        sys.meta_path.insert(0, CtrlC())
        sys.argv = ["exactprune", *{argv!r}]
        (command,) = entry_points(group="console_scripts", name="exactprune")
        sys.exit(command.load()())
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("module, then, argv", [
    ("onnx", "time.sleep(5)", ["inspect", "--supported"]),
    # onnxruntime (imported when first used) answers a Ctrl-C during its initialisation with
    # ImportError("initialization failed"): the interrupt must still end the command as one
    ("onnxruntime", "raise ImportError('initialization failed')",
     ["verify", str(TINY), str(TINY)]),
])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(module, then, argv):
    proc = run_with_ctrl_c_on_import(module, then, argv)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "error: interrupted" and "Traceback" not in proc.stderr


def test_ctrl_c_in_a_scip_callback_is_an_interrupt_not_solver_trouble():
    import os
    import signal

    from pyscipopt import SCIP_EVENTTYPE, Eventhdlr

    from exactprune.solvers.scip import Status, new_model, scip_calls, solve

    class CtrlCOnExit(Eventhdlr):  # a Ctrl-C that lands while SCIP frees the transformed problem
        def eventinit(self):
            self.model.catchEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

        def eventexit(self):
            self.model.dropEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)
            if not self.sent:  # once: not again when the model is freed
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)

        def eventexec(self, event):
            pass

    model = new_model("ctrl_c")
    x = model.addVar("x", lb=0.0, ub=1.0)
    model.setObjective(x, "maximize")
    handler = CtrlCOnExit()
    handler.sent = False
    model.includeEventhdlr(handler, "ctrl_c_on_exit", "sends SIGINT in eventexit")
    assert solve(model) is Status.OPTIMAL
    with pytest.raises(KeyboardInterrupt):
        with scip_calls():
            model.freeTransform()


def test_ctrl_c_while_the_report_prints_names_the_files_written(model, tmp_path, monkeypatch):
    from exactprune.cli import compress_cmd

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compress_cmd, "render", ctrl_c)
    out, report = tmp_path / "o.onnx", tmp_path / "r.json"
    result = CliRunner().invoke(main, ["compress", str(model), str(out), "--json", str(report)])
    assert result.exit_code == 130
    assert result.stderr == f"error: interrupted; already written: {out}, {report}\n"
    assert out.is_file() and report.is_file()


def interrupt_witnesses(monkeypatch):
    """Ctrl-C in the middle of the stability analysis (during the witness search)."""
    from exactprune.stability import witnesses

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(witnesses, "find_witnesses", ctrl_c)


def test_ctrl_c_during_compress_writes_the_partial_result_and_exits_130(model, tmp_path,
                                                                        monkeypatch):
    interrupt_witnesses(monkeypatch)
    out, report = tmp_path / "o.onnx", tmp_path / "r.json"
    result = CliRunner().invoke(main, ["compress", str(model), str(out), "--json", str(report)])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr and "Traceback" not in result.output
    data = json.loads(report.read_text())
    assert data["interrupted"] and data["verified"] and data["output"] == str(out)
    assert out.is_file()


def test_a_second_ctrl_c_while_finishing_writes_nothing(model, tmp_path, monkeypatch):
    from exactprune import pipeline

    interrupt_witnesses(monkeypatch)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "compare", ctrl_c)
    result = CliRunner().invoke(main, ["compress", str(model), str(tmp_path / "o.onnx"),
                                       "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 130 and result.stderr == "error: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_ctrl_c_during_stability_prints_and_writes_then_exits_130(model, tmp_path, monkeypatch):
    interrupt_witnesses(monkeypatch)
    report = tmp_path / "s.json"
    result = CliRunner().invoke(main, ["stability", str(model), "--box", "0", "1", "--json",
                                       str(report)])
    assert result.exit_code == 130 and "unknown" in result.stdout
    assert json.loads(report.read_text())["interrupted"] is True


@pytest.mark.parametrize("command", ["compress", "stability", "regions"])
def test_help_states_the_rule(command):
    text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
    assert "130" in text and "Ctrl-C" in text


def test_ctrl_c_before_the_region_count_writes_nothing(model, tmp_path, monkeypatch):
    interrupt_witnesses(monkeypatch)
    result = CliRunner().invoke(main, ["regions", str(model), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 130 and "nothing written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_ctrl_c_and_a_failed_verification_is_still_130(model, tmp_path, monkeypatch):
    from builders import lying_analyser

    from exactprune import pipeline

    def lying_and_interrupted(network, box, **kwargs):
        result = lying_analyser(network, box)
        result.complete, result.interrupted = False, True
        return result

    monkeypatch.setattr(pipeline, "analyse_stability", lying_and_interrupted)
    out = tmp_path / "o.onnx"
    result = CliRunner().invoke(main, ["compress", str(model), str(out), "--box", "-3", "3"])
    assert result.exit_code == 130 and "verification failed" in result.stderr
    assert not out.exists()

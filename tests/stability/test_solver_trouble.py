"""Solver trouble (SCIP raising an error) leaves neurons unknown under their own reason, exit 0."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import SAMPLE_MODELS, planted
from click.testing import CliRunner
from pyscipopt import Model

from exactprune.cli import main
from exactprune.ir import UNKNOWN
from exactprune.onnx_io import to_onnx
from exactprune.solvers import scip as milp
from exactprune.stability import Reason, analyse_stability, branching

LP_ERROR = "SCIP: error in LP solver!"
SPEC = SAMPLE_MODELS / "mnist_digit0_eps0.05.vnnlib"


def failing_scip(monkeypatch, names=None):
    """Every SCIP model (or those whose name is in `names`) fails in optimize() the way
    pyscipopt reports SCIP's LP errors; no branch and bound, so that SCIP gets the open neurons."""
    monkeypatch.setattr(branching, "ROUNDS", ())

    class Failing(Model):
        def optimize(self):
            if names is None or self.getProbName() in names:
                raise Exception(LP_ERROR)
            return super().optimize()

    monkeypatch.setattr(milp, "Model", Failing)


def test_scip_errors_leave_neurons_unknown_not_an_error(monkeypatch):
    net, box, want = planted(20, seed=1)
    failing_scip(monkeypatch)
    result = analyse_stability(net, box, time_limit=20)
    assert not result.complete and not result.interrupted
    assert result.unknown_by_reason() == {Reason.SOLVER_TROUBLE: result.counts()["unknown"]}
    assert result.counts()["unknown"] >= 1 and any(LP_ERROR in t for t in result.trouble)
    for layer, expected in zip(result.layers, want):  # what was decided is still right
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()


@pytest.mark.parametrize("names", [{"obbt"}, {"stability"}, {"per_neuron"}])
def test_each_stage_survives_its_solver_failing(monkeypatch, names):
    net, box, want = planted(20, seed=2)
    failing_scip(monkeypatch, names)
    result = analyse_stability(net, box, time_limit=20)
    for layer, expected in zip(result.layers, want):
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()
    assert set(result.unknown_by_reason()) <= {Reason.SOLVER_TROUBLE}


def test_cli_reports_solver_trouble_and_exits_0(monkeypatch, tmp_path):
    net, box, _ = planted(20, seed=1)
    model = tmp_path / "m.onnx"
    model.write_bytes(to_onnx(net).SerializeToString())
    failing_scip(monkeypatch)
    report = tmp_path / "s.json"
    run = CliRunner().invoke(main, ["stability", str(model), "--box", "0", "1", "--json",
                                    str(report)])
    assert run.exit_code == 0, run.output
    data = json.loads(report.read_text())
    assert data["unknown_by_reason"].get(str(Reason.SOLVER_TROUBLE), 0) >= 1 and data["solver_trouble"]
    assert "unknown (solver trouble" in run.stderr



def test_compress_names_solver_trouble_not_the_time_limit(monkeypatch, tmp_path):
    failing_scip(monkeypatch)
    out, report = tmp_path / "small.onnx", tmp_path / "r.json"
    run = CliRunner().invoke(main, ["compress", str(SAMPLE_MODELS / "mnist_784_100_100_100_10.onnx"),
                                    str(out), "--vnnlib", str(SPEC), "--time-limit", "60",
                                    "--samples", "100", "--json", str(report)])
    assert run.exit_code == 0, run.output
    assert "solver trouble" in run.stderr and "time limit" not in run.stderr
    data = json.loads(report.read_text())
    assert data["unknown_by_reason"].get(str(Reason.SOLVER_TROUBLE), 0) >= 1 and data["verified"]
    assert out.is_file()


def test_bounds_beyond_scips_infinity_are_solver_trouble_not_an_error(tmp_path):
    from exactprune.domain import Box
    from exactprune.regions import count_regions_milp

    net, _, _ = planted(20, seed=0)
    big = Box(np.full(20, -1e30), np.full(20, 1e30))
    result = count_regions_milp(net, big)
    assert not result.exact and result.regions == 0 and "SCIP's infinity" in result.note
    stab = analyse_stability(net, big, time_limit=10)
    assert stab.unknown_by_reason() == {Reason.SOLVER_TROUBLE: 1}
    assert all("beyond SCIP's infinity" in t for t in stab.trouble)


def test_what_scip_prints_on_an_error_goes_into_the_message_not_stderr(capfd):
    from exactprune.solvers.scip import SolverTrouble, new_model, scip_calls

    model = new_model("bad_parameter")
    with pytest.raises(SolverTrouble, match=r"Invalid value <-5> for real parameter"):
        with scip_calls():
            model.setParam("numerics/feastol", -5.0)
    assert capfd.readouterr().err == ""

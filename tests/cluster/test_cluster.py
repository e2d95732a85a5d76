"""The Dask backend (exactprune.cluster): on one real LocalCluster of 2 worker processes, the
same tasks give the same results as the local executor (stability, compress, region counts, the
CLI); a worker killed mid-task is retried once, then its task is lost and its neurons unknown,
never dropped; deadlines read the caller's clock on the worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import SAMPLE_MODELS, dense_model, planted, planted_model, wide_net
from click.testing import CliRunner
from cluster_tasks import deaths, dying, seconds_left, square
from onnx import numpy_helper

import exactprune
from exactprune import cluster, compress
from exactprune.cli import main
from exactprune.cluster import ClusterSpec
from exactprune.domain import Box
from exactprune.ir import UNKNOWN
from exactprune.parallel import Workers, clock, rebased
from exactprune.regions import count_regions
from exactprune.stability import StabilityOptions, analyse_stability, neuron_milps

MILPS = "exactprune.stability.neuron_milps:_work"


@pytest.fixture(scope="module")
def local2():
    """`local:2`, started once for the module; closed at its end (its processes gone)."""
    pytest.importorskip("distributed")
    spec = ClusterSpec(local=2)
    with spec.held() as session:
        pids = list(session.client.run(os.getpid).values())
        yield spec
    assert spec not in cluster._OPEN
    time.sleep(1.0)
    assert not [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _collect(workers: Workers, fn, tasks, deadline=None):
    got = {}
    lost = workers.run(fn, tasks, got.__setitem__, deadline)
    return got, lost


def _tasks_run(spec: ClusterSpec) -> int:
    """How many tasks the cluster's scheduler has seen end (all exactprune tasks are `rebased`)."""
    counts = cluster._OPEN[spec][0].client.run_on_scheduler(
        lambda dask_scheduler: dict(getattr(dask_scheduler.task_prefixes.get("rebased"),
                                            "state_counts", {})))
    return sum(counts.get(state, 0) for state in ("memory", "forgotten", "erred"))


def _statuses(result) -> list[list[int]]:
    return [layer.status.tolist() for layer in result.layers]


def test_specs_parse_and_refuse():
    assert exactprune.ClusterSpec is ClusterSpec  # in the public API
    assert ClusterSpec.parse("local:2") == ClusterSpec(local=2)
    assert ClusterSpec.parse("tcp://10.0.0.1:8786") == ClusterSpec(address="tcp://10.0.0.1:8786")
    assert str(ClusterSpec.parse("local:3")) == "local:3"
    for bad in ("local:0", "local:x", "local", ""):
        with pytest.raises(ValueError):
            ClusterSpec.parse(bad)


def test_a_task_reads_the_callers_clock_on_another_clock():
    """A caller whose monotonic clock is 1e6 s ahead, and which submitted 2 s ago: the task sees
    the deadline it was given minus those 2 s."""
    caller_now = time.monotonic() + 1e6
    left = rebased(seconds_left, caller_now, time.time() - 2.0, caller_now + 10.0)
    assert 7.9 < left <= 8.0
    assert abs(clock() - time.monotonic()) < 1e-3  # back to this process's own clock after it


def test_tasks_give_what_this_process_gives_and_see_the_deadline(local2):
    tasks = list(range(20))
    with Workers(local2) as workers:
        assert workers.n == 2
        got, lost = _collect(workers, square, tasks)
        assert got == {i: i * i for i in tasks} and lost == []
        deadline = clock() + 30.0
        left, lost = _collect(workers, seconds_left, [deadline] * 4)
    assert lost == [] and all(20.0 < v <= 30.0 for v in left.values())


def test_an_existing_cluster_is_reached_by_its_address(local2):
    address = cluster._OPEN[local2][0].local.scheduler_address
    spec = ClusterSpec.parse(address)
    with Workers(spec) as workers:
        got, lost = _collect(workers, square, [3, 4])
    assert got == {0: 9, 1: 16} and lost == [] and spec not in cluster._OPEN


def test_a_worker_killed_once_is_retried(local2, tmp_path):
    marker = tmp_path / "marker"
    with Workers(local2) as workers:
        got, lost = _collect(workers, partial(dying, str(marker), 1, "cluster_tasks:square"),
                             list(range(6)))
    assert deaths(marker) == 1 and lost == [] and got == {i: i * i for i in range(6)}


def test_a_worker_killed_twice_loses_its_task_and_nothing_is_dropped(local2, tmp_path):
    """A task held by the worker at both deaths (waiting there) may be lost with it."""
    marker = tmp_path / "marker"
    with Workers(local2) as workers:
        got, lost = _collect(workers, partial(dying, str(marker), 5, "cluster_tasks:square"),
                             list(range(6)))
    assert deaths(marker) == 2  # the first attempt and one retry, no third
    assert lost and set(got).isdisjoint(lost) and set(got) | set(lost) == set(range(6))
    assert all(got[i] == i * i for i in got)


@pytest.mark.parametrize("method", ["auto", "per-neuron"])
def test_stability_on_the_cluster_is_the_local_one(local2, method):
    net, box, want = planted(20, seed=3)
    here = analyse_stability(net, box, time_limit=60, method=method, workers=2)
    before = _tasks_run(local2)
    there = analyse_stability(net, box, time_limit=60, method=method, workers=local2)
    assert _tasks_run(local2) > before
    assert there.complete and _statuses(there) == _statuses(here) == want
    assert [list(layer.evidence) for layer in there.layers] == \
        [list(layer.evidence) for layer in here.layers]


def test_compress_on_the_cluster_is_the_local_one(local2):
    """compress with the per-neuron analysis (its MILPs are tasks) in workers and on the cluster."""
    net, box, _ = planted(20, seed=3)

    def per_neuron(workers):
        options = StabilityOptions(time_limit=60, method="per-neuron", workers=workers)
        return partial(analyse_stability, options=options)

    here = compress(net, box, analyse=per_neuron(2))
    before = _tasks_run(local2)
    there = compress(net, box, analyse=per_neuron(local2))
    assert _tasks_run(local2) > before
    assert there.report.verified and there.report.complete
    assert (there.report.neurons_after, there.report.params_after) == \
        (here.report.neurons_after, here.report.params_after) != \
        (there.report.neurons_before, there.report.params_before)
    x = np.random.default_rng(0).uniform(box.lo, box.hi, (200, box.size))
    assert np.array_equal(there.network.forward(x), here.network.forward(x))


def test_region_cells_on_the_cluster_give_the_same_count(local2):
    net = wide_net(12, (3, 4, 3), np.random.default_rng(12))
    box = Box(np.zeros(12), np.ones(12))
    here = count_regions(net, box, path="lp")
    before = _tasks_run(local2)
    there = count_regions(net, box, path="lp", workers=local2)
    assert _tasks_run(local2) > before
    assert there.exact and there.verified and here.exact
    assert (there.regions, there.cells_per_layer) == (here.regions, here.cells_per_layer)


@pytest.mark.parametrize("times", [1, 2])
def test_a_worker_killed_mid_milp_loses_no_neuron(local2, tmp_path, monkeypatch, times):
    """Killed once: retried, the same answers. Killed twice: its neurons are lost (the trouble
    says so) and stay unknown or are decided later, never wrongly; the output still verifies."""
    marker = tmp_path / "marker"
    monkeypatch.setattr(neuron_milps, "_work", partial(dying, str(marker), times, MILPS))
    net, box, want = planted(20, seed=3)
    options = StabilityOptions(time_limit=60, method="per-neuron", workers=local2)
    result = analyse_stability(net, box, options=options)
    assert deaths(marker) == times
    for layer, expected in zip(result.layers, want):
        decided = layer.status != UNKNOWN
        assert (layer.status[decided] == np.array(expected)[decided]).all()
    lost = [t for t in result.trouble if "worker process ended without answering" in t]
    if times == 1:
        assert result.complete and _statuses(result) == want and not lost
        return
    assert len(lost) == 1
    marker.unlink()
    out = compress(net, box, analyse=partial(analyse_stability, options=options))
    assert deaths(marker) == 2 and out.report.verified


def _stability_json(path, *flags) -> dict:
    res = CliRunner().invoke(main, ["stability", str(path), "--box", "0", "1", "--method",
                                    "per-neuron-plain", "--json", "-", *flags])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    return {k: data[k] for k in ("complete", "layers")}


def test_cli_cluster_gives_the_json_of_workers(local2, tmp_path):
    path = tmp_path / "three.onnx"
    onnx.save(dense_model([np.eye(4)[:3], np.ones((2, 3))], [np.full(3, -0.5), np.zeros(2)]),
              path)
    with_workers = _stability_json(path, "--workers", "2")
    before = _tasks_run(local2)
    assert _stability_json(path, "--cluster", "local:2") == with_workers
    assert _tasks_run(local2) > before
    assert with_workers["complete"]
    address = cluster._OPEN[local2][0].local.scheduler_address
    assert _stability_json(path, "--cluster", address) == with_workers


def test_cli_batch_on_the_cluster_is_the_local_batch(local2, tmp_path):
    """Rows of planted models, run as batch tasks on the cluster: the same log records and the
    same written parameters as with one local process."""
    planted_model(tmp_path / "a.onnx", 3, seed=0)
    planted_model(tmp_path / "b.onnx", 4, seed=1)
    (tmp_path / "a.json").write_text(json.dumps({"lo": 0.0, "hi": 1.0}))
    (tmp_path / "b.json").write_text(json.dumps({"lo": 0.0, "hi": [1.0, 1.0, 0.5, 1.0]}))
    csv = tmp_path / "instances.csv"
    csv.write_text("a.onnx,a.json,20\nb.onnx,b.json,20\n")
    keys = ("row", "name", "status", "unknown", "params_before", "params_after")
    logs = {}
    for flag, value in (("--workers", "1"), ("--cluster", "local:2")):
        out = tmp_path / flag.strip("-")
        before = _tasks_run(local2)
        res = CliRunner().invoke(main, ["batch", str(csv), "--out", str(out), flag, value])
        assert res.exit_code == 0, res.output
        assert (_tasks_run(local2) > before) == (flag == "--cluster")
        lines = [json.loads(line) for line in (out / "batch.jsonl").read_text().splitlines()]
        logs[flag] = sorted(({k: r[k] for k in keys} for r in lines), key=lambda r: r["row"])
        logs[flag, "params"] = [[numpy_helper.to_array(t).tolist()
                                 for t in onnx.load(str(path)).graph.initializer]
                                for path in sorted(out.glob("*.onnx"))]
    assert logs["--workers"] == logs["--cluster"]
    assert [r["status"] for r in logs["--cluster"]] == ["ok", "ok"]
    assert logs["--workers", "params"] == logs["--cluster", "params"]


def _one_line_error(args) -> str:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    return lines[0]


def test_cli_cluster_with_workers_is_one_line_exit_2(tiny_model):
    line = _one_line_error(["stability", str(tiny_model), "--cluster", "local:2",
                            "--workers", "3"])
    assert "--cluster and --workers 3 exclude each other" in line
    assert "local:N" in _one_line_error(["stability", str(tiny_model), "--cluster", "local:0"])


def test_cli_cluster_without_dask_says_what_to_install(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises
    line = _one_line_error(["compress", str(tiny_model), str(tmp_path / "out.onnx"),
                            "--cluster", "local:3"])
    assert "pip install 'exactprune[cluster]'" in line
    assert ClusterSpec(local=3) not in cluster._OPEN


def test_cli_unreachable_cluster_is_one_line_exit_2(tiny_model, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cluster, "CONNECT_S", 1.0)
    line = _one_line_error(["stability", str(tiny_model), "--cluster", "tcp://127.0.0.1:9"])
    assert "cannot start or reach the Dask cluster tcp://127.0.0.1:9" in line


def test_ctrl_c_stops_the_run_and_its_cluster():
    """SIGINT to the whole process group (a terminal's Ctrl-C) while the cluster counts cells:
    one error line, exit 130, no traceback from the worker processes, no process left."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("distributed")
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "exactprune"), "regions",
         str(SAMPLE_MODELS / "mnist_784_10_10.onnx"), "--box", "0", "1", "--cluster", "local:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: list = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = [p for p in psutil.Process(run.pid).children(recursive=True)
                   if "spawn_main" in " ".join(p.cmdline())]
    time.sleep(2.0)  # the count is under way
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "error: interrupted" in err and "Traceback" not in err, err
    assert len(workers) == 2 and not [p for p in workers if p.is_running()]

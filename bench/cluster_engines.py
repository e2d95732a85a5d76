"""Dask distributed against Ray as exactprune's cluster engine, on this machine.

BENCH-ONLY. Each engine lives in its own side virtualenv with pyscipopt and numpy; the bare
environment holds only pyscipopt and numpy (the engine's size is the difference):

    python3 -m venv /tmp/env-bare && /tmp/env-bare/bin/pip install pyscipopt numpy
    python3 -m venv /tmp/env-dask && /tmp/env-dask/bin/pip install 'dask[distributed]' pyscipopt numpy
    python3 -m venv /tmp/env-ray && /tmp/env-ray/bin/pip install ray pyscipopt numpy
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 bench/cluster_engines.py \
        --bare /tmp/env-bare dask=/tmp/env-dask ray=/tmp/env-ray

The driver runs this file once per environment (`--engine NAME`, in that environment's python)
and prints a markdown table. Per engine, with 2 single-threaded local workers:
  size       du of the environment minus du of the bare one (MB);
  start      a local cluster started and 2 trivial tasks returned (s);
  overhead   per SCIP task of about 5 ms (100 tasks) and 500 ms (10 tasks): (wall x 2 workers
             - sum of the solve times measured in the tasks) / tasks, in ms, the median of 3
             runs after a warm-up task per worker; concurrent.futures' forked
             ProcessPoolExecutor in the same run for reference;
  kill       a task whose worker is SIGKILLed 0.3 s into every attempt: attempts made, what the
             future raised, seconds until it did; with the engine's defaults and with "retry
             once" (Dask: distributed.scheduler.allowed-failures = 1; Ray: max_retries=1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

WORKERS = 2
SHORT, LONG = (0.005, 100), (0.5, 10)  # (seconds a solve takes, tasks)
ITEMS = {0.005: 60, 0.5: 300}  # knapsack items: the 500 ms model always reaches its limit


def scip_task(seconds: float, seed: int) -> float:
    """A random multi-knapsack solved by SCIP with a time limit of `seconds` (met roughly at 5 ms;
    the 500 ms model is too large to finish earlier); returns the solve's own wall time."""
    import numpy as np
    from pyscipopt import Model, quicksum

    rng = np.random.default_rng(seed)
    model = Model()
    model.hideOutput()
    n = ITEMS[seconds]
    x = [model.addVar(vtype="B") for _ in range(n)]
    for _ in range(5):
        w = rng.integers(20, 100, n)
        model.addCons(quicksum(int(w[i]) * x[i] for i in range(n)) <= int(w.sum() // 2))
    value = rng.integers(20, 100, n)
    model.setObjective(quicksum(int(value[i]) * x[i] for i in range(n)), "maximize")
    model.setParam("limits/time", seconds)
    start = time.perf_counter()
    model.optimize()
    return time.perf_counter() - start


def ping(i: int) -> int:
    """A trivial task (the start-up time ends when every worker answered one)."""
    return i


def killable(path: str, seconds: float) -> int:
    """Append this process's pid to `path`, then sleep (the driver kills the process)."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return os.getpid()


def _overhead(submit, gather, repeats: int = 3) -> dict:
    """Median over `repeats` runs, after one 5 ms task per worker (imports pyscipopt)."""
    gather([submit(scip_task, SHORT[0], seed) for seed in range(WORKERS)])
    out = {}
    for seconds, n in (SHORT, LONG):
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            solved = gather([submit(scip_task, seconds, seed) for seed in range(n)])
            wall = time.perf_counter() - start
            runs.append(((wall * WORKERS - sum(solved)) / n, sum(solved) / n))
        overhead, solve = sorted(runs)[repeats // 2]
        out[f"{seconds * 1000:g}"] = {"overhead_ms": 1000 * overhead, "solve_ms": 1000 * solve}
    return out


def _kill_each_attempt(submit, result, timeout: float = 60.0) -> dict:
    """Submit killable; SIGKILL every attempt 0.3 s after it starts; what the future gave."""
    with tempfile.NamedTemporaryFile("r", suffix=".pids", delete=False) as f:
        path = f.name
    start = time.perf_counter()
    future = submit(killable, path, 30.0)
    killed: set[int] = set()
    outcome = "no answer in 60 s"
    while time.perf_counter() - start < timeout:
        pids = [int(p) for p in Path(path).read_text().split()]
        for pid in pids:
            if pid not in killed:
                time.sleep(0.3)
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        try:
            outcome = f"result {result(future, 0.2)}"
            break
        except TimeoutError:
            continue
        except Exception as exc:  # what the engine raises is the measurement
            outcome = type(exc).__name__
            break
    os.unlink(path)
    return {"attempts": len(killed), "raised": outcome, "s": time.perf_counter() - start}


def _pool() -> dict:
    pool = ProcessPoolExecutor(WORKERS, get_context("fork"))
    out = {"overhead": _overhead(pool.submit, lambda fs: [f.result() for f in fs])}
    out["kill"] = {"default": _kill_each_attempt(pool.submit, lambda f, t: f.result(t))}
    pool.shutdown(wait=False, cancel_futures=True)
    return out


def _dask() -> dict:
    import dask
    from dask.distributed import Client, LocalCluster
    from dask.distributed import TimeoutError as DaskTimeout

    def result(future, t):
        try:
            return future.result(timeout=t)
        except DaskTimeout as exc:
            raise TimeoutError from exc

    out = {}
    for name, failures in (("default", None), ("retry once", 1)):
        config = {} if failures is None else {"distributed.scheduler.allowed-failures": failures}
        with dask.config.set(config):
            start = time.perf_counter()
            cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
            client.gather([client.submit(ping, i, pure=False) for i in range(WORKERS)])
            if failures is None:
                out["start_s"] = time.perf_counter() - start
                out["overhead"] = _overhead(lambda *a: client.submit(*a, pure=False),
                                            client.gather)
            out.setdefault("kill", {})[name] = _kill_each_attempt(
                lambda *a: client.submit(*a, pure=False), result)
            client.close()
            cluster.close()
    return out


def _ray() -> dict:
    import ray
    from ray.exceptions import GetTimeoutError

    def result(ref, t):
        try:
            return ray.get(ref, timeout=t)
        except GetTimeoutError as exc:
            raise TimeoutError from exc

    start = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    solve = ray.remote(num_cpus=1)(scip_task)
    ray.get([ray.remote(ping).remote(i) for i in range(WORKERS)])
    out = {"start_s": time.perf_counter() - start,
           "overhead": _overhead(lambda fn, *a: solve.remote(*a), ray.get)}
    out["kill"] = {}
    for name, retries in (("default", None), ("retry once", 1)):
        task = ray.remote(num_cpus=1)(killable)
        if retries is not None:
            task = task.options(max_retries=retries)
        out["kill"][name] = _kill_each_attempt(lambda fn, *a: task.remote(*a), result)
    ray.shutdown()
    return out


def _du_mb(path: str) -> float:
    return int(subprocess.run(["du", "-sk", path], capture_output=True, text=True,
                              check=True).stdout.split()[0]) / 1024


def _row(name: str, m: dict, size: float | None) -> str:
    o = m["overhead"]
    kills = "; ".join(f"{k}: {v['attempts']} attempt(s), {v['raised']} after {v['s']:.1f} s"
                      for k, v in m["kill"].items())
    start = f"{m['start_s']:.1f}" if "start_s" in m else "-"
    return (f"| {name} | {'-' if size is None else f'{size:.0f}'} | {start} | "
            f"{o['5']['overhead_ms']:.1f} (solve {o['5']['solve_ms']:.1f}) | "
            f"{o['500']['overhead_ms']:.1f} (solve {o['500']['solve_ms']:.0f}) | {kills} |")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--engine"]:
        engines = {"dask": _dask, "ray": _ray}
        print(json.dumps({"pool": _pool(), argv[1]: engines[argv[1]]()}))
        return
    bare = argv[argv.index("--bare") + 1]
    envs = dict(a.split("=", 1) for a in argv if "=" in a)
    rows = ["| engine | install MB | start s | overhead ms, 5 ms task | overhead ms, 500 ms task "
            "| worker killed mid-task |", "|---|---|---|---|---|---|"]
    for name, env in envs.items():
        run = subprocess.run([f"{env}/bin/python", __file__, "--engine", name],
                             capture_output=True, text=True, check=True)
        measured = json.loads(run.stdout.strip().splitlines()[-1])
        rows.append(_row(f"{name}", measured[name], _du_mb(env) - _du_mb(bare)))
        rows.append(_row(f"ProcessPoolExecutor (in {name}'s run)", measured["pool"], None))
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1:])

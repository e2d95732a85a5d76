"""Worker tasks of the stability analysis: their sizes and counts per row, the speed-up of 2
workers against 1, and a projection to more workers (docs/scaling.md ("Scaling on paper")).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/scaling.py tasks \\
        [--workers 2] [--limit 60] [--only TEXT] [--json FILE]
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/scaling.py speedup \\
        --only TEXT [--limit 120] [--reps 3]

Rows: bench/instances/shared.csv, then every model x spec of build/deep/ (bench/deep_models.py
makes them). `tasks` runs analyse_stability (method auto) once per row with exactprune.parallel's
run_tasks replaced by a probe: every task runs in its worker through `_timed`, which calls the
task's fn once per job (a job: one neuron and its sides; the same code path as the whole chunk)
and returns the result with the job seconds and the task's pickled size. Serial = wall - time
inside run_tasks + time in the caller's on_result (the float64 checks of what came back). The
projection replays every batch's job times through run_tasks' chunking (min(jobs, 4 n) chunks,
in order, each to the first free worker) for n workers, with and without a per-task overhead.
`speedup` runs the rows matching --only with 1 and 2 workers alternately, --reps times each;
each run's job times also give the model's time for the other worker count (2 for 1, 1 for 2).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import pickle
import statistics
import time
from pathlib import Path

import numpy as np

import exactprune as ep
import exactprune.parallel
from exactprune.batch.instances import read_instances
from exactprune.domain import resolve_domain
from exactprune.stability import branching, neuron_milps

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "bench" / "instances" / "shared.csv"
DEEP = ROOT / "build" / "deep"
JOBS_AT = {branching._search: 4, neuron_milps._work: 1}  # where a task keeps its list of jobs
TASK_MS = 5.0  # assumed per-task overhead of a distributed engine (Dask: a few ms)
LINK_MB_S = 100.0  # assumed client link (1 Gbit/s) that every task's payload crosses
WORKERS = (1, 2, 16, 128)

_real_run_tasks = exactprune.parallel.run_tasks
_batches: list[dict] = []


def _timed(packed):
    """In a worker: fn(task) job by job; (result, job seconds, the task's pickled bytes, pid)."""
    fn, task = packed
    at = JOBS_AT.get(fn)
    if at is None:
        start = time.perf_counter()
        return fn(task), [time.perf_counter() - start], len(pickle.dumps(task)), os.getpid()
    result, seconds = [], []
    for job in task[at]:
        start = time.perf_counter()
        result += fn(task[:at] + ([job],) + task[at + 1:])
        seconds.append(time.perf_counter() - start)
    return result, seconds, len(pickle.dumps(task)), os.getpid()


def _probed_run_tasks(executor, fn, tasks, on_result, deadline=None, tick=None):
    batch = {"fn": fn.__name__, "tasks": [], "on_result_s": 0.0}

    def take(index, packed):
        result, seconds, size, pid = packed
        batch["tasks"].append({"jobs_s": seconds, "bytes": size, "pid": pid})
        start = time.perf_counter()
        on_result(index, result)
        batch["on_result_s"] += time.perf_counter() - start

    start = time.perf_counter()
    lost = _real_run_tasks(executor, _timed, [(fn, t) for t in tasks], take, deadline, tick)
    batch.update(wall_s=time.perf_counter() - start, submitted=len(tasks), lost=len(lost))
    _batches.append(batch)
    return lost


exactprune.parallel.run_tasks = _probed_run_tasks  # Workers.run looks it up at each call


def rows(only: str):
    """(label, network, box) of every row whose label contains `only`."""
    pairs = [(r.model, r.spec) for r in read_instances(CSV)]
    pairs += [(m, s) for m in sorted(DEEP.glob("*.onnx")) for s in sorted(DEEP.glob("*.vnnlib"))]
    for model, spec in pairs:
        label = f"{model.stem} / {spec.stem}"
        if only in label:
            net = ep.load(model)
            yield label, net, resolve_domain(net.n_inputs, vnnlib=spec)


def analyse(net, box, limit: float, workers: int) -> dict:
    _batches.clear()
    start = time.perf_counter()
    result = ep.analyse_stability(net, box, ep.StabilityOptions(time_limit=limit, workers=workers))
    wall = time.perf_counter() - start
    batches = [dict(b) for b in _batches]
    inside = sum(b["wall_s"] for b in batches)
    return {"wall_s": wall, "inside_s": inside,
            "serial_s": wall - inside + sum(b["on_result_s"] for b in batches),
            "unknown": result.counts()["unknown"], "complete": result.complete,
            "in_workers": all(t["pid"] != os.getpid() for b in batches for t in b["tasks"]),
            "batches": batches}


def makespan(jobs_s: list[float], sizes: list[int], n: int, task_s: float, link_s_per_b: float
             ) -> float:
    """One batch's time with n workers: run_tasks' chunks (min(jobs, 4 n), in order) each to the
    first free worker, each chunk sent after the ones before it (task_s + its payload's time)."""
    chunks = np.array_split(np.arange(len(jobs_s)), min(len(jobs_s), 4 * n))
    task_bytes = statistics.median(sizes) if sizes else 0
    free = [0.0] * n
    sent = end = 0.0
    for chunk in chunks:
        if n > 1:
            sent += task_s + task_bytes * link_s_per_b
        begin = max(heapq.heappop(free), sent)
        finish = begin + sum(jobs_s[t] for t in chunk)
        heapq.heappush(free, finish)
        end = max(end, finish)
    return end


def projection(run: dict, task_s: float, link_b_s: float) -> dict[int, float]:
    """Modelled wall time for each n of WORKERS: serial + every batch's makespan, one after
    another (each layer's batch ends before the next starts)."""
    out = {}
    for n in WORKERS:
        total = run["serial_s"]
        for b in run["batches"]:
            jobs = [s for t in b["tasks"] for s in t["jobs_s"]]
            sizes = [t["bytes"] for t in b["tasks"]]
            total += makespan(jobs, sizes, n, task_s, 1.0 / link_b_s if link_b_s else 0.0)
        out[n] = total
    return out


def summary(label: str, run: dict) -> list[str]:
    tasks = [t for b in run["batches"] for t in b["tasks"]]
    jobs = sorted(s for t in tasks for s in t["jobs_s"])
    task_s = sorted(sum(t["jobs_s"]) for t in tasks)
    q = (lambda v, p: v[min(len(v) - 1, int(p * len(v)))]) if tasks else (lambda v, p: 0.0)
    fns = sorted({b["fn"] for b in run["batches"]})
    return [label, f"{run['wall_s']:.1f}", f"{run['inside_s']:.1f}", f"{run['serial_s']:.1f}",
            str(len(run["batches"])), ", ".join(fns) or "-", str(len(tasks)), str(len(jobs)),
            str(max((len(b["tasks"]) for b in run["batches"]), default=0)),
            str(max((sum(len(t["jobs_s"]) for t in b["tasks"]) for b in run["batches"]),
                    default=0)),
            f"{q(task_s, .5):.2f} / {q(task_s, .9):.2f} / {q(task_s, 1):.2f} / {sum(task_s):.1f}",
            f"{q(jobs, .5):.3f} / {q(jobs, 1):.2f}",
            f"{statistics.median(t['bytes'] for t in tasks) / 1e6:.2f}" if tasks else "-",
            str(run["unknown"])]


def table(head: list[str], lines: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                     ["| " + " | ".join(line) + " |" for line in lines])


def tasks_command(args) -> None:
    runs, measured, projected = {}, [], []
    for label, net, box in rows(args.only):
        ep.analyse_stability(net, box, ep.StabilityOptions(time_limit=5, method="bounds"))
        run = analyse(net, box, args.limit, args.workers)
        runs[label] = run
        measured.append(summary(label, run))
        print(measured[-1], os.getloadavg(), flush=True)
        local = projection(run, 0.0, 0.0)
        remote = projection(run, TASK_MS / 1e3, LINK_MB_S * 1e6)
        work = sum(s for b in run["batches"] for t in b["tasks"] for s in t["jobs_s"])
        if run["complete"]:
            cells = [f"{local[n]:.1f} ({local[1] / local[n]:.1f}x)" for n in WORKERS[1:]] + \
                [f"{remote[n]:.1f} ({local[1] / remote[n]:.1f}x)" for n in WORKERS[2:]]
        else:
            cells = ["budget-bound"] * (len(WORKERS) + 1)
        projected.append([label, f"{run['serial_s']:.1f}", f"{work:.1f}",
                          f"{local[1]:.1f}"] + cells)
    print(f"\nworkers {args.workers}, limit {args.limit:g} s, load {os.getloadavg()}\n")
    print(table(["row", "wall s", "in run_tasks s", "serial s", "batches", "producers",
                 "tasks", "jobs", "max tasks/batch", "max jobs/batch",
                 "task s median / p90 / max / total", "job s median / max", "task MB median",
                 "unknown"], measured))
    print()
    print(table(["row", "serial s", "work s", "model n=1 s"] +
                [f"n={n} s" for n in WORKERS[1:]] +
                [f"n={n} +{TASK_MS:g} ms, {LINK_MB_S:g} MB/s" for n in WORKERS[2:]], projected))
    if args.json:
        Path(args.json).write_text(json.dumps(runs))


def speedup_command(args) -> None:
    for label, net, box in rows(args.only):
        ep.analyse_stability(net, box, ep.StabilityOptions(time_limit=5, method="bounds"))
        lines, walls = [], {1: [], 2: []}
        for rep in range(args.reps):
            for workers in (1, 2) if rep % 2 == 0 else (2, 1):
                load = os.getloadavg()[0]
                run = analyse(net, box, args.limit, workers)
                walls[workers].append(run["wall_s"])
                other = projection(run, 0.0, 0.0)[3 - workers]
                lines.append([str(rep + 1), str(workers), f"{run['wall_s']:.1f}",
                              f"{run['serial_s']:.1f}", f"{other:.1f}", str(run["unknown"]),
                              f"{load:.2f}", str(run["in_workers"])])
                print(lines[-1], flush=True)
        print(f"\n{label}, limit {args.limit:g} s\n")
        print(table(["rep", "workers", "wall s", "serial s", "model of the other count s",
                     "unknown", "load (1 min) before", "tasks ran in workers"], lines))
        ratios = [a / b for a, b in zip(walls[1], walls[2])]
        print(f"\nwall 1 / 2 workers per rep: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.2f}x\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = sub.add_parser("tasks")
    tasks.add_argument("--workers", type=int, default=2)
    tasks.add_argument("--limit", type=float, default=60.0)
    tasks.add_argument("--only", default="")
    tasks.add_argument("--json", default="")
    speed = sub.add_parser("speedup")
    speed.add_argument("--only", required=True)
    speed.add_argument("--limit", type=float, default=120.0)
    speed.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    (tasks_command if args.command == "tasks" else speedup_command)(args)


if __name__ == "__main__":
    main()

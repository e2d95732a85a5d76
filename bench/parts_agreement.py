"""Agreement of the pipeline with the per-neuron-parts baseline run to completion, the box cut
into halves that run in parallel processes (one per core).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/parts_agreement.py MODEL.onnx SPEC.vnnlib
        [--halves N] [--processes P] [--cell-limit S] [--time-limit S]

The box is cut into N slabs along its widest input; each slab runs bench/stability.py's
per_neuron_on_parts (2 slices per input, cells bisected while undecided), P slabs at a time in
worker processes. As each slab ends, a line on stderr checks the pipeline's stable neurons on it
(they must be proven with the same phase there).
Merged by exactprune.stability.baselines.PhaseTally. Prints one markdown row: neurons, pipeline
stable / unstable, baseline stable / unstable / unknown, wall time, agreement.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from exactprune.domain import Box, load_vnnlib  # noqa: E402
from exactprune.ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE  # noqa: E402
from exactprune.onnx_io import load  # noqa: E402
from exactprune.stability import analyse_stability  # noqa: E402
from exactprune.stability.baselines import PhaseTally, per_neuron_on_parts  # noqa: E402


def _slab(job):
    i, (model, lo, hi, cell_limit, time_limit) = job
    result = per_neuron_on_parts(load(model), Box(lo, hi, "slab"), 2, cell_limit, time_limit)
    return i, result.status_by_layer(), result.complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("spec")
    parser.add_argument("--halves", type=int, default=2, help="slabs along the widest input")
    parser.add_argument("--processes", type=int, default=2, help="slabs analysed at once")
    parser.add_argument("--cell-limit", type=float, default=5.0)
    parser.add_argument("--time-limit", type=float, default=7200.0)
    args = parser.parse_args()
    net = load(args.model)
    box = load_vnnlib(args.spec, net.n_inputs)
    fast = analyse_stability(net, box)
    d = int(np.argmax(box.hi - box.lo))
    edges = np.linspace(box.lo[d], box.hi[d], args.halves + 1)
    jobs = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo, hi = box.lo.copy(), box.hi.copy()
        lo[d], hi[d] = a, b
        jobs.append((args.model, lo, hi, args.cell_limit, args.time_limit))
    t = time.monotonic()
    mine = np.concatenate([layer.status for layer in fast.layers])
    proven = np.isin(mine, (ACTIVE, INACTIVE))
    tally = PhaseTally(net)
    everything = {i: np.ones_like(u) for i, u in tally.unstable.items()}
    complete = True
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        for i, statuses, done in pool.imap_unordered(_slab, enumerate(jobs)):
            tally.add(statuses, everything)
            complete &= done
            got = np.concatenate(list(statuses.values()))
            print(f"slab {i + 1}/{len(jobs)} ({'complete' if done else 'incomplete'}, "
                  f"{time.monotonic() - t:.0f} s): of the pipeline's {int(proven.sum())} stable "
                  f"neurons {int(np.sum(proven & (got == mine)))} proven with the same phase, "
                  f"{int(np.sum(proven & (got == UNSTABLE)))} seen unstable, "
                  f"{int(np.sum(proven & (got == UNKNOWN)))} unknown", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - t
    merged = tally.result(box, complete, elapsed, "per-neuron-parts")
    base = np.concatenate([layer.status for layer in merged.layers])
    decided = (base != UNKNOWN) & (mine != UNKNOWN)
    bad = int(np.sum(decided & (base != mine)))
    print("| model / domain | neurons | pipeline stable / unstable | baseline stable / unstable / "
          "unknown | baseline s (complete) | disagreements |")
    print("|---|---|---|---|---|---|")
    print(f"| {Path(args.model).stem} / {Path(args.spec).stem} | {mine.size} | "
          f"{int(proven.sum())} / {int((mine == UNSTABLE).sum())} | "
          f"{int(np.isin(base, (ACTIVE, INACTIVE)).sum())} / {int((base == UNSTABLE).sum())} / "
          f"{int((base == UNKNOWN).sum())} | {elapsed:.0f} ({'yes' if complete else 'no'}) | "
          f"{bad} |", flush=True)


if __name__ == "__main__":
    main()

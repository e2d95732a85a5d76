"""Benchmark: exact region enumeration vs SCIP's solution counting, measured in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/regions.py [--milp-limit S] [--exact-limit S]
        [--only TEXT] [--workers N]
    OMP_NUM_THREADS=1 .venv/bin/python bench/regions.py --crossover
    OMP_NUM_THREADS=1 .venv/bin/python bench/regions.py --agreement N


Prints a markdown table: network, regions, the enumeration's path (vertices for input dimension
<= VERTEX_MAX_DIM, else LPs) and time, the LP enumeration's time on the same network (low
dimension only), SCIP's count and time, the ratio SCIP / enumeration, bounds. "LPs" are the
cell LPs over all inputs, "(outer)" the small LPs in frame coordinates (outer.py).
Networks: random 2-input and 5-input ReLU networks of growing size on [-1, 1]^d, and MNIST
784-input networks from sample_models/ on [0, 1]^784 when they exist. A count stopped by its
time limit is marked ">=" (a lower bound) and its time "> limit" (SCIP's count is always a lower
bound: "> limit" only when its search stopped).
--workers N (N > 1) also times the LP-path enumeration with N worker processes, printed in a
second table; the headline ratio is the single-process one (SCIP's count is single-threaded).
--crossover instead times the vertex and the LP enumeration on random networks with 5 to 8
inputs (where VERTEX_MAX_DIM should lie). --agreement N counts N random networks (1-7 inputs,
1-3 layers of 2-8 neurons, asymmetric boxes) on both paths and lists the ones that differ, with
the Chebyshev radius (an LP on the region's rows) of every region only one path finds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from exactprune.domain import Box
from exactprune.ir import Dense, InputMap, Network
from exactprune.regions import count_regions, count_regions_milp, region_bounds
from exactprune.regions.count import count_problem
from exactprune.regions.lp import CellLP
from exactprune.regions.problem import box_problem
from exactprune.regions.vertex import VERTEX_MAX_DIM

ROOT = Path(__file__).resolve().parents[1]


def random_net(sizes, seed) -> Network:
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(size=(sizes[i + 1], sizes[i])), rng.normal(size=sizes[i + 1]) * 0.5)
              for i in range(len(sizes) - 1)]
    layers.append(Dense(rng.normal(size=(1, sizes[-1])), np.zeros(1), activation="identity"))
    return Network(tuple(layers), InputMap.identity(sizes[0]))


def cases():
    for sizes in ([2, 8, 8], [2, 16, 16], [2, 24, 24, 24], [5, 8, 8], [5, 10, 10], [5, 12, 12]):
        box = Box(-np.ones(sizes[0]), np.ones(sizes[0]))
        yield "-".join(map(str, sizes)) + " random", random_net(sizes, 0), box
    for name in ("mnist_784_10_10.onnx",):
        path = ROOT / "sample_models" / name
        if path.is_file():
            from exactprune.onnx_io import load

            net = load(str(path))
            yield name + " on [0,1]", net, Box(np.zeros(net.n_inputs), np.ones(net.n_inputs))


def fmt(count) -> str:
    return f"{count.regions:,}" if count.exact else f">= {count.regions:,}"


def crossover(limit: float) -> None:
    print("| network | regions | vertex enumeration s | LP enumeration s | LP / vertex |")
    print("|---|---|---|---|---|")
    for sizes in ([5, 12, 12], [6, 8, 8], [6, 10, 10], [7, 8, 8], [8, 8, 8]):
        net, box = random_net(sizes, 0), Box(-np.ones(sizes[0]), np.ones(sizes[0]))
        fast = count_regions(net, box, time_limit=limit, path="vertex")
        lp = count_regions(net, box, time_limit=limit, path="lp")
        counts = fmt(fast) if fast.regions == lp.regions else f"{fmt(fast)} (LP: {fmt(lp)})"
        print(f"| {'-'.join(map(str, sizes))} random | {counts} | {fast.time_s:.2f} | {lp.time_s:.2f} "
              f"| {lp.time_s / fast.time_s:.1f}x |")
        sys.stdout.flush()


def radius(problem, cell) -> float:
    """The largest ball inside a region (an LP on its rows and the box)."""
    lp = CellLP(problem.lo, problem.hi, cap=float(np.max(problem.hi - problem.lo)))
    for row, rhs in zip(cell.rows, cell.rhs):
        lp.push(row, rhs)
    return lp.trial()[0]


def agreement(n: int) -> None:
    rng = np.random.default_rng(99)
    print("| trial | network | regions (vertices) | regions (LPs) "
          "| radii of the regions only one path finds |")
    print("|---|---|---|---|---|")
    for trial in range(n):
        d = int(rng.integers(1, 8))
        sizes = [d] + [int(rng.integers(2, 9)) for _ in range(rng.integers(1, 4))]
        net = random_net(sizes, int(rng.integers(1 << 30)))
        box = Box(-np.ones(d) * rng.uniform(0.5, 3), np.ones(d) * rng.uniform(0.5, 3))
        problem = box_problem(net, box)
        fast = count_problem(problem, net, keep_cells=True, path="vertex")
        lp = count_problem(problem, net, keep_cells=True, path="lp")
        if fast.regions == lp.regions and fast.exact and lp.exact:
            continue
        a = {c.pattern.tobytes(): c for c in fast.cells}
        b = {c.pattern.tobytes(): c for c in lp.cells}
        radii = [f"{radius(problem, a[k]):.2g}" for k in set(a) - set(b)]
        radii += [f"LP only {radius(problem, b[k]):.2g}" for k in set(b) - set(a)]
        print(f"| {trial} | {'-'.join(map(str, sizes))} | {fmt(fast)} | {fmt(lp)} | {', '.join(radii)} |")
        sys.stdout.flush()
    print(f"\n{n} networks; the rows above are all that differ.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exact-limit", type=float, default=600.0)
    parser.add_argument("--milp-limit", type=float, default=300.0)
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument("--agreement", type=int, default=0, metavar="N")
    parser.add_argument("--workers", "--threads", type=int, default=1, metavar="N",
                        help="also time the LP-path enumeration with N worker processes")
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="only the networks whose name contains TEXT")
    args = parser.parse_args()
    if args.agreement:
        agreement(args.agreement)
        return
    if args.crossover:
        crossover(args.exact_limit)
        return
    print("| network | regions (enumeration) | path | enumeration s | LPs (outer) | LP path s "
          "| regions (SCIP count) | SCIP count s | SCIP / enumeration | Theorem 1 | Th. 1 rank | product "
          "| 2^N |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    threaded = []
    for name, net, box in cases():
        if args.only not in name:
            continue
        vertex = net.n_inputs <= VERTEX_MAX_DIM
        exact = count_regions(net, box, time_limit=args.exact_limit)
        lp_s = "-"
        if vertex:
            lp = count_regions(net, box, time_limit=args.exact_limit, path="lp")
            lp_s = f"{lp.time_s:.2f}" if lp.exact else f"> {args.exact_limit:g}"
            if lp.exact and exact.exact and lp.regions != exact.regions:
                lp_s += f" ({lp.regions:,} regions)"
        milp = count_regions_milp(net, box, time_limit=args.milp_limit)
        if args.workers > 1 and not vertex:
            par = count_regions(net, box, time_limit=args.exact_limit, workers=args.workers)
            threaded.append((name, exact, par, milp))
        b = region_bounds(net)
        ratio = milp.time_s / exact.time_s
        milp_stopped = "search stopped" in milp.note
        ratio_text = (">= " if milp_stopped and exact.exact else "") + f"{ratio:.1f}x"
        mt = f"> {args.milp_limit:g}" if milp_stopped else f"{milp.time_s:.2f}"
        et = f"{exact.time_s:.2f}" if exact.exact else f"> {args.exact_limit:g}"
        lps = f"{exact.lps:,}" + (f" ({exact.outer_lps:,})" if exact.outer_lps else "")
        print(f"| {name} | {fmt(exact)} | {'vertices' if vertex else 'LP'} | {et} | {lps} | {lp_s} "
              f"| {fmt(milp)} | {mt} | {ratio_text} "
              f"| {b['theorem1']:,} | {b['theorem1_rank']:,} | {b['product']:,} | {b['2^N']:,} |")
        sys.stdout.flush()
    if threaded:
        print(f"\nLP-path enumeration with {args.workers} worker processes (same run; SCIP's count "
              "is single-threaded):\n")
        print("| network | regions (1 process) | 1 process s | regions (workers) | workers s "
              "| speed-up | SCIP count s | SCIP / workers |")
        print("|---|---|---|---|---|---|---|---|")
        for name, exact, par, milp in threaded:
            print(f"| {name} | {fmt(exact)} | {exact.time_s:.2f} | {fmt(par)} | {par.time_s:.2f} "
                  f"| {exact.time_s / par.time_s:.2f}x | {milp.time_s:.2f} "
                  f"| {milp.time_s / par.time_s:.1f}x |")


if __name__ == "__main__":
    main()

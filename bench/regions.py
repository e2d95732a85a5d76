"""Benchmark: exact region enumeration vs SCIP's solution counting, measured in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/regions.py [--milp-limit S] [--exact-limit S]

Prints a markdown table: network, regions, enumeration time, SCIP-count time, ratio, bounds.
Networks: random 2-input and 5-input ReLU networks of growing size on [-1, 1]^d, and MNIST
784-input networks from sample_models/ on [0, 1]^784 when they exist. A count stopped by its
time limit is marked ">=" (a lower bound) and its time "> limit".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from exactprune.domain import Box
from exactprune.ir import Dense, InputMap, Network
from exactprune.regions import count_regions, count_regions_milp, region_bounds

ROOT = Path(__file__).resolve().parents[1]


def random_net(sizes, seed) -> Network:
    rng = np.random.default_rng(seed)
    layers = [Dense(rng.normal(size=(sizes[i + 1], sizes[i])), rng.normal(size=sizes[i + 1]) * 0.5)
              for i in range(len(sizes) - 1)]
    layers.append(Dense(rng.normal(size=(1, sizes[-1])), np.zeros(1), activation="identity"))
    return Network(tuple(layers), InputMap.identity(sizes[0]))


def cases():
    for sizes in ([2, 8, 8], [2, 16, 16], [2, 24, 24, 24], [5, 8, 8], [5, 10, 10], [5, 12, 12]):
        yield "-".join(map(str, sizes)) + " random", random_net(sizes, 0), Box(-np.ones(sizes[0]), np.ones(sizes[0]))
    for name in ("mnist_784_10_10.onnx",):
        path = ROOT / "sample_models" / name
        if path.is_file():
            from exactprune.onnx_io import load

            net = load(str(path))
            yield name + " on [0,1]", net, Box(np.zeros(net.n_inputs), np.ones(net.n_inputs))


def fmt(count) -> str:
    return f"{count.regions:,}" if count.exact else f">= {count.regions:,}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exact-limit", type=float, default=600.0)
    parser.add_argument("--milp-limit", type=float, default=300.0)
    args = parser.parse_args()
    print("| network | regions (enumeration) | enumeration s | LPs | regions (SCIP count) | SCIP count s "
          "| SCIP / enumeration | Theorem 1 | Th. 1 rank | product | 2^N |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, net, box in cases():
        exact = count_regions(net, box, time_limit=args.exact_limit)
        milp = count_regions_milp(net, box, time_limit=args.milp_limit)
        b = region_bounds(net)
        ratio = milp.time_s / exact.time_s
        ratio_text = (">= " if not milp.exact and exact.exact else "") + f"{ratio:.1f}x"
        mt = f"{milp.time_s:.2f}" if milp.exact else f"> {args.milp_limit:g}"
        et = f"{exact.time_s:.2f}" if exact.exact else f"> {args.exact_limit:g}"
        print(f"| {name} | {fmt(exact)} | {et} | {exact.lps:,} | {fmt(milp)} | {mt} | {ratio_text} "
              f"| {b['theorem1']:,} | {b['theorem1_rank']:,} | {b['product']:,} | {b['2^N']:,} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

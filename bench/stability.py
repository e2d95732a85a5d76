"""Benchmark of the stability pipeline against per-neuron MILP baselines, in the same run.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/stability.py [--baselines B,..]
        [--baseline-limit S] [--only NAME] [--threads N] [--parts K] [--cell-limit S]

Prints one markdown row per model/spec: neurons, decided by bounds / witnesses / MILP (single MILP
and per-neuron fallback), unknown, wall time of the pipeline (method auto, default time limit),
then per baseline its wall time (with its unknown count if incomplete), the ratio baseline /
pipeline and whether it agrees with the pipeline on every neuron it decided. Baselines (methods
of analyse_stability): per-neuron-plain (the published per-neuron method from interval bounds,
early termination; the ratio target), per-neuron (two MILPs per neuron after our symbolic
bounds), per-neuron-tight (the published method solved to a gap, its bounds tightening later
layers), and per-neuron-parts (per-neuron on a grid of K^d input cells, cells bisected while
undecided, merged; only for d <= 8 inputs: the check that completes on ACAS Xu prop_1/2).
Models: the FC networks of ../shared/models with their VNN-LIB specs and sample_models/*.onnx on their stored domain.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads only fight on a shared box

import argparse  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from exactprune.domain import Box, load_vnnlib  # noqa: E402
from exactprune.onnx_io import load  # noqa: E402
from exactprune.neuron_milps import NeuronMILPs  # noqa: E402
from exactprune.stability import (  # noqa: E402
    DEFAULT_TIME_LIMIT, _Analysis, _per_neuron, analyse_stability)
from exactprune.stability_result import (  # noqa: E402
    ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, LayerStability, StabilityResult)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
PAIRS = [("mnistfc_256x2", "mnistfc_prop_0_0.03"), ("mnistfc_256x2", "mnistfc_prop_0_0.05")] + \
    [("acasxu_1_1", f"acasxu_prop_{i}") for i in range(1, 5)] + \
    [("cartpole", "cartpole_case_safe_14")]


def cases():
    """(label, network, box) for every benchmark case that is present."""
    for model, spec in PAIRS:
        if (SHARED / f"{model}.onnx").exists():
            net = load(SHARED / f"{model}.onnx")
            yield f"{model} / {spec}", net, load_vnnlib(SHARED / f"{spec}.vnnlib", net.n_inputs)
    for path in sorted((ROOT / "sample_models").glob("*.onnx")):
        net = load(path)
        if net.metadata.get("domain") is not None:
            yield f"{path.name} / stored", net, net.metadata["domain"]


class PhaseTally:
    """Answers about one network's neurons gathered over parts of a box and merged: unstable if
    seen unstable on a part, or proven active on one part and inactive on another; stable if
    proven with one phase; with parts left unanalysed (complete=False) nothing is stable."""

    def __init__(self, net):
        self.net = net
        self.piecewise = [i for i, layer in enumerate(net.layers) if layer.is_piecewise]
        sizes = [net.layers[i].n_out for i in self.piecewise]
        self.phases = [np.zeros((n, 2), bool) for n in sizes]  # proven INACTIVE / ACTIVE
        self.unstable = [np.zeros(n, bool) for n in sizes]

    def add(self, statuses, asked) -> list[np.ndarray]:
        """Record the `asked` neurons' statuses on one part; return those it left UNKNOWN."""
        left = []
        for k, status in enumerate(statuses):
            self.unstable[k] |= asked[k] & (status == UNSTABLE)
            self.phases[k][:, 0] |= asked[k] & (status == INACTIVE)
            self.phases[k][:, 1] |= asked[k] & (status == ACTIVE)
            self.unstable[k] |= self.phases[k].all(1)
            left.append(asked[k] & (status == UNKNOWN))
        return left

    def result(self, box, complete: bool, time_s: float, method: str) -> StabilityResult:
        layers = []
        for k, i in enumerate(self.piecewise):
            unstable, phases = self.unstable[k], self.phases[k]
            status = np.where(unstable, UNSTABLE, np.where(phases[:, 1], ACTIVE, INACTIVE))
            status[~unstable & (~phases.any(1) | (not complete))] = UNKNOWN
            layer = self.net.layers[i]
            layers.append(LayerStability(i, layer.act_node, status.astype(np.int8),
                                         [method] * status.size, np.full(status.size, -np.inf),
                                         np.full(status.size, np.inf), layer.origin))
        return StabilityResult(layers, box, time_s, complete, method=method)


def per_neuron_on_parts(net, box, parts: int, cell_limit: float, time_limit: float,
                        threads: int) -> StabilityResult:
    """Baseline "per-neuron-parts": the per-neuron method (our symbolic bounds, then two MILPs per
    open neuron; the float64 forward pass of every MILP solution answers every neuron it shows
    on both sides, as in the pipeline's fallback) on the cells of a grid of `parts`
    slices per input dimension. Smaller cells mean smaller big-M constants, so it completes where
    the per-neuron method on the whole box does not (ACAS Xu prop_1/2); it shares only the
    symbolic bounds with the pipeline.

    Knowledge moves between cells, so that each question is asked where it is needed: a neuron
    seen unstable in one cell (or active in one and inactive in another) is not asked again; a
    cell that leaves neurons open after `cell_limit` s is bisected along its widest dimension and
    only those neurons are asked on the halves, the parent's stable phases fixed. Merged by
    PhaseTally.
    """
    tally = PhaseTally(net)
    edges = [np.linspace(lo, hi, parts + 1) for lo, hi in zip(box.lo, box.hi)]
    everything = [np.ones_like(u) for u in tally.unstable]
    queue = [(np.array([edges[d][c] for d, c in enumerate(cell)]),
              np.array([edges[d][c + 1] for d, c in enumerate(cell)]), everything, None)
             for cell in itertools.product(range(parts), repeat=box.size)]
    span = np.where(box.hi > box.lo, box.hi - box.lo, np.inf)  # fixed inputs are never split
    start = time.monotonic()
    deadline = start + time_limit
    done = 0
    with NeuronMILPs(threads) as pool:
        while queue and time.monotonic() < deadline:
            lo, hi, ask, fixed = queue.pop()
            ask = [a & ~u for a, u in zip(ask, tally.unstable)]
            done += 1
            if not any(a.any() for a in ask):
                continue
            state = _Analysis(net, Box(lo, hi, "cell"),
                              min(cell_limit, deadline - time.monotonic()), None)
            if fixed is not None:
                for k, status in enumerate(fixed):
                    for j in np.flatnonzero((status == ACTIVE) | (status == INACTIVE)):
                        state.set(k, j, status[j], "parent")
                state.tighten_bounds()
            state.apply_bounds()
            _per_neuron(state, pool, [(k, j) for k, j in state.undecided() if ask[k][j]],
                        share=True)
            left = tally.add(state.status, ask)
            n_left = sum(int(a.sum()) for a in left)
            print(f"per-neuron-parts: cell {done} (width {np.max((hi - lo) / span):.4f}), "
                  f"{sum(int(a.sum()) for a in ask)} asked, {n_left} open, "
                  f"{len(queue)} queued, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
            if n_left:
                d = int(np.argmax((hi - lo) / span))
                mid = 0.5 * (lo[d] + hi[d])
                split = np.arange(lo.size) == d
                queue += [(lo, np.where(split, mid, hi), left, state.status),
                          (np.where(split, mid, lo), hi, left, state.status)]
    return tally.result(box, not queue, time.monotonic() - start, "per-neuron-parts")


def decided_by(result) -> dict[str, int]:
    counts = {"bounds": 0, "witness": 0, "milp": 0, "per-neuron": 0, "": 0}
    for layer in result.layers:
        for how in layer.evidence:
            counts[how] += 1
    return counts


def agreement(fast, base) -> str:
    """'yes' if no neuron decided by both is unstable in one and stable in the other.

    Proofs of both stable phases (active in one, inactive in the other) are consistent: together
    they say |g| <= FLIP_MARGIN on the whole domain (e.g. a neuron with zero weights and bias);
    they are counted separately.
    """
    bad = both = 0
    for a, b in zip(fast.layers, base.layers):
        decided = (a.status != UNKNOWN) & (b.status != UNKNOWN) & (a.status != b.status)
        flat = decided & (a.status != UNSTABLE) & (b.status != UNSTABLE)
        both += int(flat.sum())
        bad += int((decided & ~flat).sum())
    note = f" ({both} with g = 0 both ways)" if both else ""
    return f"yes{note}" if bad == 0 else f"NO ({bad}){note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", default="per-neuron-plain,per-neuron",
                        help="comma-separated baseline methods")
    parser.add_argument("--baseline-limit", type=float, default=3600.0,
                        help="time limit of each baseline run (s)")
    parser.add_argument("--only", default="", help="run only cases whose label contains this")
    parser.add_argument("--parts", type=int, default=2,
                        help="slices per input dimension of the per-neuron-parts baseline")
    parser.add_argument("--cell-limit", type=float, default=60.0,
                        help="seconds per cell of per-neuron-parts before the cell is bisected")
    parser.add_argument("--threads", type=int, default=1,
                        help="worker processes for the per-neuron MILPs, pipeline and baselines")
    args = parser.parse_args()
    baselines = [b for b in args.baselines.split(",") if b]
    head = ["model / domain", "neurons", "bounds", "witness", "MILP (single + fallback)",
            "unknown", "pipeline s"]
    for b in baselines:
        head += [f"{b} s", "ratio", "agree"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, net, box in cases():
        if args.only not in label:
            continue
        analyse_stability(net, box, threads=args.threads)  # warm-up: imports, first SCIP model
        t = time.monotonic()
        fast = analyse_stability(net, box, time_limit=DEFAULT_TIME_LIMIT, threads=args.threads)
        t_fast = time.monotonic() - t
        by = decided_by(fast)
        row = [label, str(sum(layer.status.size for layer in fast.layers)), str(by["bounds"]),
               str(by["witness"]), str(by["milp"] + by["per-neuron"]),
               str(fast.counts()["unknown"]), f"{t_fast:.2f}"]
        for method in baselines:
            t = time.monotonic()
            if method == "per-neuron-parts":
                if box.size > 8:
                    row += ["-", "", ""]
                    continue
                base = per_neuron_on_parts(net, box, args.parts, args.cell_limit,
                                           args.baseline_limit, args.threads)
            else:
                base = analyse_stability(net, box, time_limit=args.baseline_limit, method=method,
                                         threads=args.threads)
            t_base = time.monotonic() - t
            note = "" if base.complete else f" (incomplete, {base.counts()['unknown']} unknown)"
            row += [f"{t_base:.2f}{note}", f"{'>' if note else ''}{t_base / max(t_fast, 1e-9):.1f}x",
                    agreement(fast, base)]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()

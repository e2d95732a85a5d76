"""Benchmark of the stability pipeline against per-neuron MILP baselines, in the same run.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/stability.py [--baselines B,..]
        [--baseline-limit S] [--only NAME] [--workers N] [--parts K] [--cell-limit S]

Prints one markdown row per model/spec: neurons, decided by bounds / witnesses / MILP (single MILP
and per-neuron fallback), unknown, wall time of the pipeline (method auto, default time limit),
then per baseline its wall time (with its unknown count if incomplete), the ratio baseline /
pipeline and whether it agrees with the pipeline on every neuron it decided. Baselines (methods
of analyse_stability): per-neuron-plain (the published per-neuron method from interval bounds,
early termination; the ratio target), per-neuron (two MILPs per neuron after our symbolic
bounds), per-neuron-tight (the published method solved to a gap, its bounds tightening later
layers), and per-neuron-parts (per-neuron on a grid of K^d input cells, cells bisected while
undecided, merged; only for d <= 8 inputs: the check that completes on ACAS Xu prop_1/2).
Models: the FC networks of ../shared/models with their VNN-LIB specs and sample_models/*.onnx on
their stored domain.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads only fight on a shared box

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from exactprune.domain import load_vnnlib  # noqa: E402
from exactprune.ir import UNKNOWN, UNSTABLE  # noqa: E402
from exactprune.onnx_io import load_model  # noqa: E402
from exactprune.stability import DEFAULT_TIME_LIMIT, analyse_stability  # noqa: E402
from exactprune.stability.baselines import per_neuron_on_parts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
PAIRS = [("mnistfc_256x2", "mnistfc_prop_0_0.03"), ("mnistfc_256x2", "mnistfc_prop_0_0.05")] + \
    [("acasxu_1_1", f"acasxu_prop_{i}") for i in range(1, 5)] + \
    [("cartpole", "cartpole_case_safe_14")]


def cases():
    """(label, network, box) for every benchmark case that is present."""
    for model, spec in PAIRS:
        if (SHARED / f"{model}.onnx").exists():
            net = load_model(SHARED / f"{model}.onnx").network
            yield f"{model} / {spec}", net, load_vnnlib(SHARED / f"{spec}.vnnlib", net.n_inputs)
    for path in sorted((ROOT / "sample_models").glob("*.onnx")):
        source = load_model(path)
        if source.stored_domain is not None:
            yield f"{path.name} / stored", source.network, source.stored_domain


def decided_by(result) -> dict[str, int]:
    counts: dict[str, int] = {}
    for layer in result.layers:
        for how in layer.evidence:
            counts[str(how)] = counts.get(str(how), 0) + 1
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
    parser.add_argument("--workers", "--threads", type=int, default=1,
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
        analyse_stability(net, box, workers=args.workers)  # warm-up: imports, first SCIP model
        t = time.monotonic()
        fast = analyse_stability(net, box, time_limit=DEFAULT_TIME_LIMIT, workers=args.workers)
        t_fast = time.monotonic() - t
        by = decided_by(fast)
        row = [label, str(sum(layer.status.size for layer in fast.layers)),
               str(by.get("bounds", 0)), str(by.get("witness", 0)),
               str(by.get("milp", 0) + by.get("per-neuron", 0)),
               str(fast.counts()["unknown"]), f"{t_fast:.2f}"]
        for method in baselines:
            t = time.monotonic()
            if method == "per-neuron-parts":
                if box.size > 8:
                    row += ["-", "", ""]
                    continue
                base = per_neuron_on_parts(net, box, args.parts, args.cell_limit,
                                           args.baseline_limit, args.workers)
            else:
                base = analyse_stability(net, box, time_limit=args.baseline_limit, method=method,
                                         workers=args.workers)
            t_base = time.monotonic() - t
            note = "" if base.complete else f" (incomplete, {base.counts()['unknown']} unknown)"
            row += [f"{t_base:.2f}{note}", f"{'>' if note else ''}{t_base / max(t_fast, 1e-9):.1f}x",
                    agreement(fast, base)]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()

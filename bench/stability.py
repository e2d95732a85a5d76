"""Benchmark of the stability pipeline against the per-neuron MILP baseline, in the same run.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/stability.py [--baseline-limit S] [--only NAME]

Prints one markdown row per model/spec: neurons, decided by bounds / witnesses / MILP (single MILP
and per-neuron fallback), unknown, wall time of the pipeline (method auto, default time limit) and
of the per-neuron baseline (method per-neuron), their ratio, and whether the two agree on every
neuron the baseline decided. Models: the FC networks of ../shared/models with their VNN-LIB specs and
sample_models/*.onnx on their stored domain.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads only fight on a shared box

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from exactprune.domain import load_vnnlib  # noqa: E402
from exactprune.onnx_io import load  # noqa: E402
from exactprune.stability import DEFAULT_TIME_LIMIT, analyse_stability  # noqa: E402
from exactprune.stability_result import UNKNOWN  # noqa: E402

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


def decided_by(result) -> dict[str, int]:
    counts = {"bounds": 0, "witness": 0, "milp": 0, "per-neuron": 0, "": 0}
    for layer in result.layers:
        for how in layer.evidence:
            counts[how] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-limit", type=float, default=3600.0,
                        help="time limit of each per-neuron baseline run (s)")
    parser.add_argument("--only", default="", help="run only cases whose label contains this")
    args = parser.parse_args()
    print("| model / domain | neurons | bounds | witness | MILP (single + fallback) | unknown "
          "| pipeline s | per-neuron s | ratio | agree |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, net, box in cases():
        if args.only not in label:
            continue
        t = time.monotonic()
        fast = analyse_stability(net, box, time_limit=DEFAULT_TIME_LIMIT)
        t_fast = time.monotonic() - t
        t = time.monotonic()
        base = analyse_stability(net, box, time_limit=args.baseline_limit, method="per-neuron")
        t_base = time.monotonic() - t
        by = decided_by(fast)
        agree = all(np.array_equal(a.status[b.status != UNKNOWN], b.status[b.status != UNKNOWN])
                    for a, b in zip(fast.layers, base.layers))
        base_note = "" if base.complete else f" (incomplete, {base.counts()['unknown']} unknown)"
        print(f"| {label} | {sum(layer.status.size for layer in fast.layers)} | {by['bounds']} "
              f"| {by['witness']} | {by['milp'] + by['per-neuron']} | {fast.counts()['unknown']} "
              f"| {t_fast:.2f} | {t_base:.2f}{base_note} | {t_base / max(t_fast, 1e-9):.1f}x "
              f"| {'yes' if agree else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()

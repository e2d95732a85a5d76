"""Benchmark: exact compression of the sample models and the shared FC models.

    OMP_NUM_THREADS=1 .venv/bin/python bench/compress.py [--time-limit S] [--only NAME ...]
        [--sample-dir DIR]

For every model/domain pair: hidden neurons and connections (dense weight entries, and nonzero
weights) before and after, % removed, time, max deviation in onnxruntime, and what each reduction
contributed (connections it removed): stability (stably inactive neurons), rank merge (stably
active neurons folded into a basis), layer folding, lumping, cleanup (constant and dead neurons).
Baseline, measured in the same run: the same pipeline with the stability analysis limited to
bounds + witnesses (method "bounds", no MILP); the last columns give its % removed and the
time ratio full / baseline. Sample models use the domain stored in them ([0, 1]^784); the
shared ones their VNN-LIB specs.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np

from exactprune.domain import load_vnnlib
from exactprune.onnx_io import load
from exactprune.pipeline import CompressResult, compress
from exactprune.stability import analyse_stability

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
SHARED = [("mnistfc_256x2", "mnistfc_prop_0_0.03"), ("mnistfc_256x2", "mnistfc_prop_0_0.05"),
          ("acasxu_1_1", "acasxu_prop_1"), ("acasxu_1_1", "acasxu_prop_2"),
          ("acasxu_1_1", "acasxu_prop_3"), ("acasxu_1_1", "acasxu_prop_4"),
          ("cartpole", "cartpole_case_safe_14")]
GROUPS = {"stability": ("inactive", "output-zero"), "rank merge": ("rank-merge",),
          "layer fold": ("layer-fold",), "lumping": ("lump",), "cleanup": ("constant", "dead")}
TARGET = ("mnist_784_100_100_10_l1_5e-4.onnx", 30.8)  # % connections removed in the literature


def cases(sample_dir: Path):
    for path in sorted(sample_dir.glob("*.onnx")):
        yield path.name, path, None
    for model, spec in SHARED:
        path = MODELS / f"{model}.onnx"
        if path.is_file():
            net = load(path)
            yield f"{model} + {spec}", path, load_vnnlib(MODELS / f"{spec}.vnnlib", net.n_inputs)


def connections_saved(result: CompressResult) -> dict[str, int]:
    """Dense weight entries each group of rules removed: parameters saved minus the biases of
    the neurons that went ("output-zero" keeps the shape and removes no entry)."""
    saved = {group: 0 for group in GROUPS}
    for action in result.report.actions:
        for group, rules in GROUPS.items():
            if action.rule in rules and action.rule != "output-zero":
                saved[group] += action.params_saved - len(action.neurons)
    return saved


def nonzero(network) -> int:
    return sum(int(np.count_nonzero(layer.weight)) for layer in network.layers)


def pct(before: int, after: int) -> float:
    return 100.0 * (before - after) / before if before else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per model")
    parser.add_argument("--only", nargs="*", default=None, help="substrings of case names")
    parser.add_argument("--sample-dir", type=Path, default=ROOT / "sample_models",
                        help="where the sample models are")
    args = parser.parse_args()
    header = ("| model | neurons | connections | removed | nonzero connections | removed | "
              "time s | max dev | "
              + " | ".join(GROUPS) + " | baseline removed | time / baseline |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, path, box in cases(args.sample_dir):
        if args.only and not any(s in name for s in args.only):
            continue
        full = compress(path, box, time_limit=args.time_limit)
        base = compress(path, box, verify=False,
                        analyse=partial(analyse_stability, method="bounds"))
        r, b = full.report, base.report
        saved = connections_saved(full)
        nz_before, nz_after = nonzero(load(path)), nonzero(full.network)
        flag = "" if r.verified else " FAILED"
        partial_run = "" if r.complete else " (limit)"
        print(f"| {name} | {r.neurons_before} -> {r.neurons_after} | {r.macs_before} -> "
              f"{r.macs_after} | {pct(r.macs_before, r.macs_after):.1f}% | "
              f"{nz_before} -> {nz_after} | {pct(nz_before, nz_after):.1f}% | "
              f"{r.time_s:.2f}{partial_run} | {r.max_abs:.2g}{flag} | "
              + " | ".join(f"{saved[g]}" for g in GROUPS)
              + f" | {pct(b.macs_before, b.macs_after):.1f}% | {r.time_s / max(b.time_s, 1e-9):.1f} |",
              flush=True)
    name, target = TARGET
    print(f"\nTarget: {target}% connections removed for {name} (Serra et al., 'Lossless Compression "
          "of Deep Neural Networks').")


if __name__ == "__main__":
    main()

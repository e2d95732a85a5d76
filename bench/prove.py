"""Benchmark: compress --prove on the shared fully connected models and the sample models.

    OMP_NUM_THREADS=1 .venv/bin/python bench/prove.py [--time-limit S] [--prove-limit S]
        [--only NAME ...]

For every model/domain pair: compress (default options, 1 worker) with the formal check of the
written model against the original (CompressOptions(prove=True)); prints a markdown table with
hidden neurons before / after, compress time (without the proof), proof time, the proven bound
on max |a - b|, the tolerance T, the MILP sides solved and the outcome. Baseline, measured in
the same run: compress itself; "prove / compress" is the proof's time over compress's. Sample models use the
domain stored in them ([0, 1]^784, the data range for tiny_2d); the shared ones their VNN-LIB
specs (cora_mnist_set is the deep 784-250x7-10 network).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from exactprune.domain import load_vnnlib
from exactprune.equivalence import FormalOptions
from exactprune.onnx_io import load_model
from exactprune.pipeline import CompressOptions, compress

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
SHARED = [("mnistfc_256x2", "mnistfc_prop_0_0.03"), ("mnistfc_256x2", "mnistfc_prop_0_0.05"),
          ("acasxu_1_1", "acasxu_prop_1"), ("acasxu_1_1", "acasxu_prop_2"),
          ("acasxu_1_1", "acasxu_prop_3"), ("acasxu_1_1", "acasxu_prop_4"),
          ("cartpole", "cartpole_case_safe_14"), ("cora_mnist_set", "cora_mnist_img1")]


def cases():
    for path in sorted((ROOT / "sample_models").glob("*.onnx")):
        yield path.name, path, None
    for model, spec in SHARED:
        path = MODELS / f"{model}.onnx"
        if path.is_file():
            source = load_model(path)
            yield f"{model} + {spec}", source, load_vnnlib(MODELS / f"{spec}.vnnlib",
                                                           source.network.n_inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="compress's stability time limit")
    parser.add_argument("--prove-limit", type=float, default=300.0,
                        help="the formal check's time limit")
    parser.add_argument("--only", nargs="*", help="substrings of the case names to run")
    args = parser.parse_args()
    print("| pair | neurons | after | compress s | prove s | proven max \\|a-b\\| | T | MILP sides "
          "| outcome | prove / compress |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, model, box in cases():
        if args.only and not any(s in name for s in args.only):
            continue
        options = CompressOptions(time_limit=args.time_limit, prove=True,
                                  proof=FormalOptions(time_limit=args.prove_limit))
        start = time.monotonic()
        result = compress(model, box, options)
        total = time.monotonic() - start
        proof = result.proof
        outcome = {True: "equivalent", False: "DIFFERENT"}.get(proof.equivalent,
                                                               f"undecided ({proof.reason})")
        bound = "-" if proof.max_abs_bound is None else f"{proof.max_abs_bound:.2g}"
        report = result.report
        print(f"| {name} | {report.neurons_before} | {report.neurons_after} | "
              f"{total - proof.time_s:.1f} | {proof.time_s:.1f} | {bound} | "
              f"{proof.tolerance:.2g} | {proof.milp_sides} | {outcome} | "
              f"{proof.time_s / max(total - proof.time_s, 1e-3):.1f} |", flush=True)


if __name__ == "__main__":
    main()

"""Held-back accuracy of post-training pruning on the shared MNIST digits: cbs, magnitude and cbs
with --allocate regions at sparsities 0.5 .. 0.98, plus the recall distortion of each run.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/prune.py [--out build/prune]

cbs runs one shot (1 stage) and gradually (8 stages, the default). Trains (once, cached in
build/prune/) plain 784-100-100-10 and 784-300-100-10 networks with the
sample_models recipe (no L1, 200 epochs, the first 400 digits of each class), prunes each with
the rows `exactprune prune --data mnist_5k.csv.gz` uses (held_back_split 0.2: the training rows)
and measures on the held-back 100 digits per class. Prints two markdown tables: accuracy, and
per run the largest per-class recall drop and the intensification ratio.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a shared 2-core machine

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sample_models"))
import train  # noqa: E402

from exactprune.domain import held_back_split, load_labelled  # noqa: E402
from exactprune.onnx_io import load_model  # noqa: E402
from exactprune.pruning import PruneOptions, RecallReport, predictions, prune_network  # noqa: E402

ARCHS = ((784, 100, 100, 10), (784, 300, 100, 10))
SPARSITIES = (0.5, 0.7, 0.9, 0.95, 0.98)
VARIANTS = (("magnitude", "uniform", 1), ("cbs", "uniform", 1), ("cbs", "uniform", 8),
            ("cbs", "regions", 8))  # (method, allocation, cbs stages)


def model_path(out: Path, sizes) -> Path:
    """The plain network of `sizes`, trained with the sample_models recipe once."""
    name = f"mnist_{'_'.join(map(str, sizes))}_plain.onnx"
    path = out / name
    if not path.exists():
        x, y = train.read_mnist()
        rows, _ = train.split_per_class(y)
        params = train.train(train.Spec(name, sizes, 0.0, 200), x[rows], y[rows])
        out.mkdir(parents=True, exist_ok=True)
        onnx.save(train.to_onnx(params, np.zeros(784), np.ones(784), train.MNIST_SOURCE, name),
                  path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "prune")
    args = parser.parse_args()
    data = load_labelled(train.mnist_path(), 784)
    use, held = held_back_split(data.y, 0.2)
    acc_rows, recall_rows = [], []
    for sizes in ARCHS:
        network = load_model(model_path(args.out, sizes)).network
        base = predictions(network, data.x[held])
        arch = "-".join(map(str, sizes))
        for s in SPARSITIES:
            accs, recalls = [], []
            for method, allocate, stages in VARIANTS:
                start = time.monotonic()
                pruned = prune_network(network, data.rows(use),
                                       PruneOptions(sparsity=s, method=method, allocate=allocate,
                                                    stages=stages))
                report = RecallReport.of(data.y[held], base,
                                         predictions(pruned.network, data.x[held]), 10)
                accs.append(f"{report.accuracy_after:.3f}")
                ratio = report.intensification_ratio
                recalls.append(f"{np.nanmax(report.drops):.2f} / "
                               f"{'-' if ratio is None else f'{ratio:.2f}'}")
                print(f"{arch} {s} {method} {allocate} {stages}: {report.accuracy_after:.3f} "
                      f"({time.monotonic() - start:.1f} s)", file=sys.stderr, flush=True)
            acc_rows.append(f"| {arch} | {float(np.mean(base == data.y[held])):.3f} | {s} | "
                            + " | ".join(accs) + " |")
            recall_rows.append(f"| {arch} | {s} | " + " | ".join(recalls) + " |")
    names = [f"{m} {a}" + (f" ({k} stage{'s' if k > 1 else ''})" if m == "cbs" else "")
             for m, a, k in VARIANTS]
    print("| network | dense acc | sparsity | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    print("\n".join(acc_rows))
    print()
    print("largest per-class recall drop / intensification ratio")
    print()
    print("| network | sparsity | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    print("\n".join(recall_rows))


if __name__ == "__main__":
    main()

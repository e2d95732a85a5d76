"""Write sample_models/mnist_digit0_eps0.05.vnnlib: the input box of the README's worked example.

The box is the L-infinity ball of radius 0.05 around the first digit (a 0) of the 5000 MNIST
digits that sample_models/train.py reads, clipped to the pixel range [0, 1]; the output
constraint is, as in VNN-LIB, the counterexample: some other class scores at least as high as
0 (exactprune reads only the inputs).
Run: python sample_models/make_spec.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EPS = 0.05
OUT = HERE / f"mnist_digit0_eps{EPS}.vnnlib"


def _train():
    spec = importlib.util.spec_from_file_location("sample_models_train", HERE / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def spec_text(x: np.ndarray, label: int, eps: float, n_out: int = 10) -> str:
    lo, hi = np.clip(x - eps, 0.0, 1.0), np.clip(x + eps, 0.0, 1.0)
    lines = [f"; MNIST digit 0 of mnist_5k.csv.gz (label {label}), L-inf radius {eps}, in [0, 1]"]
    lines += [f"(declare-const X_{i} Real)" for i in range(x.size)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    for i in range(x.size):
        lines.append(f"(assert (>= X_{i} {lo[i]:.8g}))")
        lines.append(f"(assert (<= X_{i} {hi[i]:.8g}))")
    others = " ".join(f"(and (>= Y_{j} Y_{label}))" for j in range(n_out) if j != label)
    lines.append(f"(assert (or {others}))")
    return "\n".join(lines) + "\n"


def main() -> None:
    x, y = _train().read_mnist()
    OUT.write_text(spec_text(x[0].astype(np.float64), int(y[0]), EPS), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""exactprune's bounds stage against alpha-CROWN's, neuron by neuron.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bounds_vs_peer.py [build/alpha_crown_peer.json]

Reads the JSON of bench/alpha_crown_peer.py (run in its side environment with auto_LiRPA) and,
for every pair in it, computes exactprune's bounds alone (symbolic, then optimised slopes; no
witnesses, no solver) on the same model and box. Prints per pair: neurons, stable by exactprune
(and its time), stable by the best alpha-CROWN variant, stable by the union of every variant,
and how many neurons some alpha-CROWN variant proves stable that exactprune's bounds do not.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from exactprune.bounds import symbolic_bounds
from exactprune.bounds.optimised import optimised_bounds
from exactprune.domain import load_vnnlib
from exactprune.onnx_io import load_model

ROOT = Path(__file__).resolve().parents[1]


def ours(model: str, spec: str):
    source = load_model(ROOT / model)
    net = source.network
    box = source.stored_domain if spec == "stored" else load_vnnlib(ROOT / spec, net.n_inputs)
    t = time.monotonic()
    bounds = optimised_bounds(net, box, symbolic_bounds(net, box))
    sets = {i: set(np.flatnonzero((bounds[i][0] >= 0) | (bounds[i][1] <= 0)).tolist())
            for i in net.two_phase if i < len(net.layers) - 1}
    return sets, time.monotonic() - t


def main() -> None:
    data = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else
                           ROOT / "build" / "alpha_crown_peer.json").read_text())
    print("| model | spec | neurons | exactprune bounds | s | best alpha-CROWN | union of "
          "alpha-CROWN variants | proven by alpha-CROWN only |")
    print("|---|---|---|---|---|---|---|---|")
    for pair in data["pairs"]:
        mine, seconds = ours(pair["model"], pair["spec"])
        union: dict[int, set] = {}
        best = 0
        for name, method in pair["methods"].items():
            best = max(best, method["stable"]) if name != "crown" else best
            for layer in method["layers"]:
                union.setdefault(layer["index"], set()).update(
                    layer["stably_active"], layer["stably_inactive"])
        missing = sum(len(s - mine.get(i, set())) for i, s in union.items())
        print(f"| {Path(pair['model']).stem} | {Path(pair['spec']).stem} | {pair['neurons']} | "
              f"{sum(map(len, mine.values()))} | {seconds:.1f} | {best} | "
              f"{sum(map(len, union.values()))} | {missing} |", flush=True)


if __name__ == "__main__":
    main()

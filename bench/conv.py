"""Compress the three convolutional development models on their VNN-LIB boxes and print the
table of docs/conv.md: neurons, channels, parameters and multiply-adds before and after, unknown
neurons, the verification, wall time and peak RSS (GNU time).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/conv.py [--workers 2]

Needs ../shared/models (see docs/DEVELOPING.md) and /usr/bin/time; writes build/conv/.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "models"
MODELS = [("oval21_cifar_base_kw", "oval21_cifar_base_kw"),
          ("verivital_avgpool", "verivital_avgpool_prop_0_0.02"),
          ("marabou_cifar10_small", "marabou_small_1189_eps0.012")]


def run(model: str, spec: str, workers: int, out: Path) -> dict:
    report = out / f"{model}.json"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "exactprune", "compress",
           str(SHARED / f"{model}.onnx"), str(out / f"{model}.onnx"), "--vnnlib",
           str(SHARED / f"{spec}.vnnlib"), "--workers", str(workers), "--json", str(report),
           "--force"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr)
    data = json.loads(report.read_text()) if report.exists() else {}
    data["rss_mb"] = int(rss.group(1)) / 1024 if rss else float("nan")
    data["wall"] = wall.group(1) if wall else "?"
    data["exit"] = done.returncode
    return data


def channels(layers, key: str) -> str:
    return "+".join(str(layer[key]) for layer in layers if layer["channels_before"] is not None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out = REPO / "build" / "conv"
    out.mkdir(parents=True, exist_ok=True)
    print("| model | neurons | channels (conv layers) | parameters | MACs | unknown | verified "
          "(max dev) | wall | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, spec in MODELS:
        d = run(model, spec, args.workers, out)
        if d["exit"] != 0 or "layers" not in d:
            print(f"| {model} | exit {d['exit']} | | | | | | {d['wall']} | {d['rss_mb']:.0f} MB |")
            continue
        unknown = sum(d["unknown_by_reason"].values()) if d["unknown_by_reason"] else 0
        print(f"| {model} | {d['neurons_before']} -> {d['neurons_after']} | "
              f"{channels(d['layers'], 'channels_before')} -> "
              f"{channels(d['layers'], 'channels_after')} | {d['params_before']:,} -> "
              f"{d['params_after']:,} | {d['macs_before']:,} -> {d['macs_after']:,} | {unknown} | "
              f"{'yes' if d['verified'] else 'NO'} ({d['max_abs']:.2g}) | {d['wall']} | "
              f"{d['rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()

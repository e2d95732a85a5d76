"""What the tool decides, as a snapshot to compare across code changes (e.g. a refactoring that
must change no result).

    .venv/bin/python bench/snapshot.py --out after.json [--before before.json] [--time-limit S]

For every pair of ../shared/models (model with its VNN-LIB spec) and every sample model (on its
stored domain) it runs the command line, so that any version of exactprune can be snapshotted
(PYTHONPATH=<checkout> picks the code): `stability --json -` (each neuron's class: active,
inactive, unstable, unknown) and `compress --json -` (parameters after, verified), or the error
line when the model is refused. Prints a markdown table; with --before, whether each row's
classification and parameter count are identical to the earlier snapshot's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
CLASSES = ("stably_active", "stably_inactive", "unstable", "unknown")


def cases() -> list[tuple[str, list[str]]]:
    """(label, [model, domain flags...]) for every pair present."""
    out = []
    for spec in sorted(SHARED.glob("*.vnnlib")):
        models = [m for m in SHARED.glob("*.onnx") if spec.stem.startswith(m.stem.split("_")[0])]
        for model in models:
            out.append((f"{model.stem} / {spec.stem}", [str(model), "--vnnlib", str(spec)]))
    for model in sorted((ROOT / "sample_models").glob("*.onnx")):
        out.append((f"{model.name} / stored", [str(model)]))
    return out


def run(args: list[str]) -> tuple[dict | None, str, float]:
    """(the JSON on stdout or None, the last stderr line, seconds) of `exactprune ARGS`."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "exactprune", *args], capture_output=True,
                          text=True)
    elapsed = time.monotonic() - start
    error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    try:
        return json.loads(proc.stdout), error, elapsed
    except json.JSONDecodeError:
        return None, error or f"exit {proc.returncode}", elapsed


def snapshot(label: str, target: list[str], time_limit: float) -> dict:
    limit = ["--time-limit", str(time_limit)]
    stab, error, t_stab = run(["stability", *target, *limit, "--json", "-"])
    row = {"label": label, "error": error if stab is None else "", "stability_s": t_stab}
    if stab is not None:
        row["classes"] = [{key: layer[key] for key in CLASSES} for layer in stab["layers"]]
        row["complete"] = stab["complete"]
    with tempfile.TemporaryDirectory() as tmp:
        comp, error, t_comp = run(["compress", target[0], str(Path(tmp) / "out.onnx"),
                                   *target[1:], *limit, "--json", "-"])
    row["compress_s"] = t_comp
    if comp is not None:
        row.update(params_after=comp["params_after"], verified=comp["verified"],
                   compress_complete=comp["complete"])
    elif not row["error"]:
        row["error"] = error
    return row


def counts(row: dict) -> str:
    if "classes" not in row:
        return "-"
    total = {key: sum(len(layer[key]) for layer in row["classes"]) for key in CLASSES}
    return " / ".join(str(total[key]) for key in CLASSES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write this snapshot (JSON)")
    parser.add_argument("--before", help="an earlier snapshot to compare with")
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--only", default="", help="only the cases whose label contains this")
    args = parser.parse_args()
    before = {}
    if args.before:
        before = {row["label"]: row for row in json.loads(Path(args.before).read_text())}
    rows = []
    head = ["model / domain", "active / inactive / unstable / unknown", "params after",
            "stability s", "compress s"]
    if before:
        head += ["same classes", "same params"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, target in cases():
        if args.only not in label:
            continue
        row = snapshot(label, target, args.time_limit)
        rows.append(row)
        cells = [label, counts(row) if not row["error"] else f"refused: {row['error'][:60]}",
                 str(row.get("params_after", "-")), f"{row['stability_s']:.1f}",
                 f"{row['compress_s']:.1f}"]
        if before:
            old = before.get(label, {})
            cells += ["yes" if old.get("classes") == row.get("classes")
                      and old.get("error", "") == row["error"] else "NO",
                      "yes" if old.get("params_after") == row.get("params_after") else "NO"]
        print("| " + " | ".join(cells) + " |", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()

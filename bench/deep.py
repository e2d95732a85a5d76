"""Deep networks (the deep-networks issue): unknown neurons at fixed budgets, pipeline against the
per-neuron baselines, in the same run.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/deep.py \\
        [--budgets 60,300,600] [--methods auto,per-neuron-capped] [--tight-limit S] \\
        [--only TEXT] [--workers N] [--json FILE]

Cases: the networks and eps-ball specs of bench/deep_models.py (build/deep/, made by that script)
and ../shared/models/cora_mnist_set.onnx with cora_mnist_img1.vnnlib, when present. For each
case and method, one analysis per budget (seconds, smallest first) until one completes; larger
budgets then have the same answer and are not run. Columns: unknown neurons at each budget
("-": not run, complete earlier), the time to 0 unknown, and when each stage of the last run
ended (from the progress reports: "stage@seconds"). With --tight-limit S, the per-neuron-tight
baseline runs once with that limit and the ratio of its time to the pipeline's time to 0 unknown
is printed (the speed-up target counts rows where the baseline needs more than 10 s).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from exactprune.domain import load_vnnlib  # noqa: E402
from exactprune.onnx_io import load_model  # noqa: E402
from exactprune.stability import analyse_stability  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEEP = ROOT / "build" / "deep"
SHARED = ROOT.parent / "shared" / "models"


def cases():
    """(label, network, box) of every deep case present."""
    pairs = [(m, s) for m in sorted(DEEP.glob("*.onnx")) for s in sorted(DEEP.glob("*.vnnlib"))]
    pairs.append((SHARED / "cora_mnist_set.onnx", SHARED / "cora_mnist_img1.vnnlib"))
    for model, spec in pairs:
        if model.exists() and spec.exists():
            net = load_model(model).network
            yield f"{model.stem} / {spec.stem}", net, load_vnnlib(spec, net.n_inputs)


def timed(net, box, method: str, limit: float, workers: int) -> dict:
    ends: dict[str, float] = {}

    def progress(info: dict) -> None:
        ends[info["stage"]] = info["elapsed_s"]

    t = time.monotonic()
    result = analyse_stability(net, box, time_limit=limit, method=method, workers=workers,
                               progress=progress)
    return {"unknown": result.counts()["unknown"], "complete": result.complete,
            "time_s": time.monotonic() - t, "stage_ends": ends}


def budgets_run(net, box, method: str, budgets: list[float], workers: int) -> dict:
    runs = {}
    for budget in budgets:
        runs[budget] = timed(net, box, method, budget, workers)
        if runs[budget]["complete"]:
            break
    last = runs[max(runs)]
    return {"runs": runs, "to_zero_s": last["time_s"] if last["complete"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="60,300,600")
    parser.add_argument("--methods", default="auto,per-neuron-capped")
    parser.add_argument("--tight-limit", type=float, default=0.0,
                        help="also run per-neuron-tight with this limit (0: not)")
    parser.add_argument("--only", default="")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", default="", help="write every measurement here")
    args = parser.parse_args()
    budgets = sorted(float(b) for b in args.budgets.split(","))
    methods = [m for m in args.methods.split(",") if m]
    head = ["model / spec", "neurons", "method"] + [f"unknown @{b:g} s" for b in budgets] + \
        ["to 0 unknown s", "stages ended (s)"]
    if args.tight_limit:
        head += ["per-neuron-tight s", "ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    out, ratios = {}, []
    for label, net, box in cases():
        if args.only not in label:
            continue
        analyse_stability(net, box, time_limit=5, method="bounds")  # warm-up
        n = sum(net.layers[i].n_out for i in net.two_phase)
        tight = timed(net, box, "per-neuron-tight", args.tight_limit, args.workers) \
            if args.tight_limit else None
        out[label] = {"neurons": n, "tight": tight}
        for method in methods:
            got = budgets_run(net, box, method, budgets, args.workers)
            out[label][method] = got
            cells = [str(got["runs"][b]["unknown"]) if b in got["runs"] else "-" for b in budgets]
            stages = got["runs"][max(got["runs"])]["stage_ends"]
            row = [label, str(n), method] + cells + [
                f"{got['to_zero_s']:.1f}" if got["to_zero_s"] is not None else "not within budget",
                ", ".join(f"{k}@{v:.1f}" for k, v in stages.items() if k != "done")]
            if tight is not None:
                note = "" if tight["complete"] else f" ({tight['unknown']} unknown)"
                ratio = tight["time_s"] / got["to_zero_s"] if got["to_zero_s"] else None
                if ratio is not None and method == "auto" and tight["complete"] and \
                        tight["time_s"] > 10:
                    ratios.append(ratio)
                row += [f"{tight['time_s']:.1f}{note}", f"{ratio:.1f}x" if ratio else ""]
            print("| " + " | ".join(row) + " |", flush=True)
    if ratios:
        print(f"\nmedian speed-up of auto over per-neuron-tight where it needs > 10 s: "
              f"{statistics.median(ratios):.1f}x over {len(ratios)} rows")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()

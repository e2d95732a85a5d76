"""Fuzz benchmark: the generator and checkers of tests/test_fuzz.py over many more networks.

    OMP_NUM_THREADS=1 .venv/bin/python bench/fuzz.py [--networks N] [--seed S] [--time-limit S]
        [--save-failures DIR]

Networks are the seeds S, S+1, ..., S+N-1 of test_fuzz.make_case (each a random network, box and
two ONNX encodings of it). Per network: the stability claims are checked on float64 points of the
box, compress runs on the second encoding and its output is compared in onnxruntime (original vs
compressed, fresh points) and in float64 (original vs reduced network). Prints a markdown table
of the totals, the distribution of the ratio "compressed model's deviation from the original's
float64 forward pass / the original model's own float32 error" (both floored at 2^-24 of the
output scale), which rules fired, which evidence the stable claims had, and every
failing case with its seed (reproduce with --networks 1 --seed SEED; --save-failures writes
its two ONNX encodings and the box).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz  # noqa: E402


def run(seed: int, time_limit: float) -> dict:
    """run_case, with an exception of the code under test recorded as a failure."""
    try:
        return test_fuzz.run_case(seed, time_limit=time_limit)
    except Exception as exc:  # noqa: BLE001 - every crash is a finding
        try:
            case = test_fuzz.make_case(seed).describe()
        except Exception:  # noqa: BLE001
            case = f"seed {seed}: (the generator failed)"
        return {"seed": seed, "case": case, "time_s": 0.0,
                "violations": [f"exception {type(exc).__name__}: {exc}"],
                "traceback": traceback.format_exc()}


def save(seed: int, where: Path) -> None:
    case = test_fuzz.make_case(seed)
    where.mkdir(parents=True, exist_ok=True)
    for k, enc in enumerate(case.encodings):
        onnx.save(test_fuzz.build_model(case, enc), str(where / f"seed{seed}_enc{k}.onnx"))
    (where / f"seed{seed}_box.json").write_text(json.dumps(case.box.to_json()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=500, help="number of networks (seeds)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--time-limit", type=float, default=20.0,
                        help="seconds per stability analysis and per compress run")
    parser.add_argument("--save-failures", type=Path, default=None, metavar="DIR",
                        help="write the ONNX encodings and the box of failing cases here")
    args = parser.parse_args()

    start = time.monotonic()
    records = []
    for seed in range(args.seed, args.seed + args.networks):
        rec = run(seed, args.time_limit)
        records.append(rec)
        if rec["violations"]:
            print(f"FAIL {rec['case']}", file=sys.stderr, flush=True)
            if args.save_failures is not None:
                save(seed, args.save_failures)
        if len(records) % 50 == 0:
            print(f"{len(records)} networks, {time.monotonic() - start:.0f} s", file=sys.stderr,
                  flush=True)
    total = test_fuzz.summarise(records)
    worst_rel = max((r for r in records if "max_rel" in r), key=lambda r: r["max_rel"],
                    default=None)
    wall = time.monotonic() - start

    head = ["networks", "encodings", "claims active / inactive / unstable (unknown)",
            "violations", "compress runs", "verified", "max rel. deviation",
            "f32-error ratio median / max", "ratio > 10", "time s"]
    row = [str(total["networks"]), str(total["encodings"]),
           f"{total['active']} / {total['inactive']} / {total['unstable']} ({total['unknown']})",
           str(total["violations"]), str(total["compress"]), str(total["verified"]),
           f"{total['max_rel']:.3g} (seed {worst_rel['seed']})" if worst_rel else "-",
           f"{total['ratio_median']:.3g} / {total['ratio_max']:.3g}",
           str(total["ratio_over_10"]), f"{wall:.1f}"]
    print(f"seeds {args.seed}..{args.seed + args.networks - 1}, time limit {args.time_limit:g} s\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    print("| " + " | ".join(row) + " |")

    ratios = np.array([r["ratio"] for r in records if "ratio" in r])
    if ratios.size:
        qs = [0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
        print("\nratio of the compressed model's float64 error to the original's float32 error\n")
        print("| " + " | ".join(f"q{int(q * 100)}" for q in qs) + " | > 1 | > 2 | > 10 |")
        print("|" + "---|" * (len(qs) + 3))
        print("| " + " | ".join(f"{np.quantile(ratios, q):.3g}" for q in qs)
              + f" | {int((ratios > 1).sum())} | {int((ratios > 2).sum())}"
              f" | {int((ratios > 10).sum())} |")
        worst = sorted((r for r in records if "ratio" in r), key=lambda r: -r["ratio"])[:5]
        print("\nlargest ratios: " + "; ".join(
            f"seed {r['seed']} {r['ratio']:.3g} ({r['err32_comp']:.2g} vs {r['err32_orig']:.2g})"
            for r in worst))

    print("\n| rule | networks where it fired |\n|---|---|")
    for rule, n in total["rules"].items():
        print(f"| {rule} | {n} |")
    print("\n| evidence of stable claims | claims |\n|---|---|")
    for how, n in total["evidence"].items():
        print(f"| {how or '(none)'} | {n} |")
    incomplete = [r["seed"] for r in records if r.get("complete") is False]
    print(f"\nanalyses stopped by the time limit: {len(incomplete)}"
          + (f" (seeds {incomplete[:20]})" if incomplete else ""))

    print(f"\nfailing cases: {len(total['failing'])}")
    for rec in total["failing"]:
        print(f"\n- {rec['case']}")
        for v in rec["violations"]:
            print(f"  - {v}")
        if "traceback" in rec:
            print("    " + rec["traceback"].strip().splitlines()[-3])
        print(f"  reproduce: .venv/bin/python bench/fuzz.py --networks 1 --seed {rec['seed']}")


if __name__ == "__main__":
    main()
